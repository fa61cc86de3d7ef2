/**
 * Owns finding out about an existing target of `install to-filesystem`: the
 * filesystem mounted at the root path (device, type, UUID from mountinfo and
 * `blkid -p`), and the ESP colocated with it (bootc's
 * find_first_colocated_esp: the first partition of the root's disk whose GPT
 * type is the ESP's, read with sfdisk since there is no udev).
 */
import * as path from 'node:path';
import { probeBlkid, readMountinfo, readPartitionTable } from '../sys/blockdev.js';
import type { Host } from '../sys/host.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { ESP_PARTTYPE } from '../deploy/constants.js';
import type { EspTarget } from './esp.js';

export interface TargetFilesystem {
  device: string;
  fstype: string;
  uuid: string;
}

/** The filesystem mounted exactly at `rootPath`. */
export async function probeFilesystem(host: Host, rootPath: string): Promise<TargetFilesystem> {
  return withContext(`Inspecting the target filesystem ${rootPath}`, async () => {
    const mounts = await readMountinfo(host.root);
    const m = [...mounts].reverse().find((e) => path.resolve(e.mountPoint) === path.resolve(rootPath));
    if (m === undefined) throw new TsbootcError(`install to-filesystem: ${rootPath} is not a mount point; mount the target root filesystem there`, { code: 'ERR_PRECONDITION' });
    if (!m.source.startsWith('/dev/')) throw new TsbootcError(`install to-filesystem: ${rootPath} is mounted from ${m.source} (${m.fstype}), not a block device`, { code: 'ERR_PRECONDITION' });
    const probe = await probeBlkid(host, m.source);
    const uuid = probe['UUID'];
    if (uuid === undefined) throw new TsbootcError(`install to-filesystem: the filesystem on ${m.source} has no UUID`, { code: 'ERR_PRECONDITION' });
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
    const esp = table.partitions.find((p) => p.type === ESP_PARTTYPE);
    if (esp === undefined) throw new TsbootcError(`install to-filesystem: ${disk} has no EFI System Partition for systemd-boot`, { code: 'ERR_PRECONDITION' });
    return { device: esp.node };
  });
}
