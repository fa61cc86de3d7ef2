/**
 * Owns the last steps of an install and the small `install` verbs around
 * them (bootc.md §5.3 step 8): `fstrim`, remount read-only and a
 * freeze/thaw so everything is on disk before the target is handed over;
 * `install finalize ROOT` (what to-filesystem --skip-finalize left out, after
 * checking ROOT holds a tsbootc/bootc composefs install); and `install
 * ensure-completion`, which has nothing to complete on the composefs backend.
 */
import type { Host } from '../sys/host.js';
import { Root } from '../sys/root.js';
import { TsbootcError, withContext } from '../util/errors.js';
import * as C from '../deploy/constants.js';

/** fstrim, remount ro, fsfreeze/thaw (bootc skips the freeze for vfat). */
export async function finalizeFilesystem(host: Host, mountPoint: string, fstype: string): Promise<void> {
  await withContext(`Finalizing the filesystem at ${mountPoint}`, async () => {
    const trim = await host.run.run(['fstrim', '--quiet-unsupported', mountPoint], { allowFailure: true });
    if (trim.exitCode !== 0) host.log.debug({ kind: 'message', message: `fstrim ${mountPoint} failed (${trim.stderr.trim()}); continuing` });
    await host.run.run(['mount', '-o', 'remount,ro', mountPoint]);
    if (fstype !== 'vfat') {
      await host.run.run(['fsfreeze', '-f', mountPoint]);
      await host.run.run(['fsfreeze', '-u', mountPoint]);
    }
  });
}

/** The deployments (state dirs with an origin) under a physical root. */
export async function listInstalledDeployments(root: Root): Promise<string[]> {
  const out: string[] = [];
  for (const id of await root.listDir(C.STATE_DEPLOY_DIR)) if (await root.exists(C.originPathOf(id))) out.push(id);
  return out;
}

/** `install finalize ROOT`. */
export async function installFinalize(host: Host, rootPath: string, fstype: string): Promise<void> {
  const root = new Root(rootPath);
  if (!(await root.isDir(C.COMPOSEFS_DIR)) || (await listInstalledDeployments(root)).length === 0) {
    throw new TsbootcError(`install finalize: ${rootPath} holds no composefs install (no ${C.COMPOSEFS_DIR}/ or no deployment in ${C.STATE_DEPLOY_DIR}/)`, { code: 'ERR_PRECONDITION' });
  }
  await finalizeFilesystem(host, root.prefix, fstype);
}
