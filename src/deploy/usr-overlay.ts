/**
 * Owns the transient `/usr` overlay: `usr-overlay [--read-only]` (bootc.md
 * §1.1, bootc `composefs_usr_overlay`) and the `usrOverlay` field of status
 * (§4.2 step 8). `/usr` counts as overlaid when mountinfo shows a mount at
 * the host path `/usr`, or, under `--root`, at the Root's real `/usr`. The
 * upper and work dirs live on a tmpfs made under `<root>/run/tsbootc/`, so
 * with `--root` no mount happens outside that root.
 */
import { randomBytes } from 'node:crypto';
import type { Host } from '../sys/host.js';
import type { Root } from '../sys/root.js';
import { libcMounts, mountTransientOverlay, type MountPort } from '../sys/mount-port.js';
import { TsbootcError, withContext } from '../util/errors.js';
import type { FilesystemOverlay } from './host-spec.js';
import { mountAt, parseMountinfo, type MountInfo } from './detect.js';
import * as C from './constants.js';

export const USR = '/usr';
/** Parent (host path) of the scratch dirs the overlay's tmpfs is mounted on. */
export const RUN_TSBOOTC = '/run/tsbootc';

export type AccessMode = FilesystemOverlay['accessMode'];

/** The mount visible at host path `hostPath`, as written or as the Root's real path. */
export function mountAtHostPath(root: Root, mounts: readonly MountInfo[], hostPath: string): MountInfo | undefined {
  return mountAt(mounts, hostPath) ?? (root.isHostRoot ? undefined : mountAt(mounts, root.resolve(hostPath)));
}

/** `usrOverlay` of status: any mount on /usr is a transient overlay; `ro` in the mount or superblock options ⇒ readOnly. */
export function usrOverlayOf(root: Root, mounts: readonly MountInfo[]): FilesystemOverlay | null {
  const m = mountAtHostPath(root, mounts, USR);
  if (m === undefined) return null;
  const ro = m.mountOptions.includes('ro') || m.superOptions.includes('ro');
  return { accessMode: ro ? 'readOnly' : 'readWrite', persistence: 'transient' };
}

export async function readMounts(root: Root): Promise<MountInfo[]> {
  const text = await root.tryReadText(C.PROC_MOUNTINFO);
  return text === undefined ? [] : parseMountinfo(text);
}

export interface UsrOverlayOpts {
  readOnly: boolean;
}

export type UsrOverlayResult = { kind: 'already-mounted'; overlay: FilesystemOverlay } | { kind: 'mounted'; accessMode: AccessMode };

/** bootc's `Display` of the access mode. */
export function accessModeText(m: AccessMode): string {
  return m === 'readOnly' ? 'read-only' : 'read/write';
}

/** The lines bootc prints (state.rs). */
export function usrOverlayMessages(r: UsrOverlayResult): string[] {
  if (r.kind === 'already-mounted') return ['An overlayfs is already mounted on /usr'];
  return [`A ${accessModeText(r.accessMode)} overlayfs is now mounted on /usr`, 'All changes there will be discarded on reboot.'];
}

export async function mountUsrOverlay(host: Host, opts: UsrOverlayOpts, port: MountPort = libcMounts): Promise<UsrOverlayResult> {
  const existing = usrOverlayOf(host.root, await readMounts(host.root));
  if (existing !== null) return { kind: 'already-mounted', overlay: existing };
  const usr = host.root.resolve(USR);
  return withContext(`Mounting a transient overlay on ${usr}`, async () => {
    if (!(await host.root.isDir(USR))) throw new TsbootcError(`${usr} is not a directory`);
    const scratch = `${RUN_TSBOOTC}/usr-overlay.${randomBytes(6).toString('hex')}`;
    await host.root.mkdirp(scratch, 0o700);
    await mountTransientOverlay(port, usr, host.root.resolve(scratch), opts.readOnly);
    const accessMode: AccessMode = opts.readOnly ? 'readOnly' : 'readWrite';
    return { kind: 'mounted', accessMode };
  });
}
