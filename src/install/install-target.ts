/**
 * Owns the target filesystem of an install: what is mounted at the root path
 * of `install to-filesystem` (device, type, UUID from mountinfo and `blkid
 * -p`), the ESP colocated with it (bootc's find_first_colocated_esp: the first
 * partition of the root's disk whose GPT type is the ESP's, read with sfdisk
 * since there is no udev), and the last steps (bootc.md §5.3 step 8): `fstrim`,
 * remount read-only and a freeze/thaw so everything is on disk; `install
 * finalize ROOT` does them later for to-filesystem --skip-finalize. (`install
 * ensure-completion` has nothing to complete on the composefs backend.)
 */
import * as path from 'node:path';
import { probeBlkid, readMountinfo, readPartitionTable } from '../sys/blockdev.js';
import type { Host } from '../sys/host.js';
import { Root } from '../sys/root.js';
import { TsbootcError, withContext } from '../util/errors.js';
import * as C from '../deploy/constants.js';
import type { EspTarget } from './esp.js';

export interface TargetFilesystem {
  device: string;
  fstype: string;
  uuid: string;
}

/** The filesystem mounted exactly at `rootPath`. */
export async function probeFilesystem(host: Host, rootPath: string, verb = 'to-filesystem'): Promise<TargetFilesystem> {
  return withContext(`Inspecting the target filesystem ${rootPath}`, async () => {
    const mounts = await readMountinfo(host.root);
    const m = [...mounts].reverse().find((e) => path.resolve(e.mountPoint) === path.resolve(rootPath));
    if (m === undefined) throw new TsbootcError(`install ${verb}: ${rootPath} is not a mount point; mount the target root filesystem there`, { code: 'ERR_PRECONDITION' });
    if (!m.source.startsWith('/dev/')) throw new TsbootcError(`install ${verb}: ${rootPath} is mounted from ${m.source} (${m.fstype}), not a block device`, { code: 'ERR_PRECONDITION' });
    const probe = await probeBlkid(host, m.source);
    const uuid = probe['UUID'];
    if (uuid === undefined) throw new TsbootcError(`install ${verb}: the filesystem on ${m.source} has no UUID`, { code: 'ERR_PRECONDITION' });
    return { device: m.source, fstype: probe['TYPE'] ?? m.fstype, uuid };
  });
}

/** The parent disk of a partition (`lsblk -no PKNAME`). */
async function parentDisk(host: Host, device: string): Promise<string | undefined> {
  const r = await host.run.run(['lsblk', '-ndo', 'PKNAME', device], { allowFailure: true });
  const name = r.stdout.trim();
  return r.exitCode === 0 && name !== '' ? `/dev/${name}` : undefined;
}

/** The first ESP on the disk holding `device`. */
export async function findColocatedEsp(host: Host, device: string, rootPath: string): Promise<EspTarget> {
  return withContext(`Finding the ESP for ${rootPath}`, async () => {
    const disk = await parentDisk(host, device);
    if (disk === undefined) throw new TsbootcError(`install to-filesystem: ${device} (mounted on ${rootPath}) is not a partition, so there is no ESP next to it`, { code: 'ERR_PRECONDITION' });
    const table = await readPartitionTable(host, disk);
    const esp = table.partitions.find((p) => p.type === C.ESP_PARTTYPE);
    if (esp === undefined) throw new TsbootcError(`install to-filesystem: ${disk} has no EFI System Partition for systemd-boot`, { code: 'ERR_PRECONDITION' });
    return { device: esp.node };
  });
}

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
