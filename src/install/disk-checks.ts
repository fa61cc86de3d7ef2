/**
 * Owns the refusals of `install to-disk` before anything is written: an
 * unknown filesystem, a target that is missing or of the wrong kind, mounted
 * or otherwise in use (mount table, holders, swap, loop attachment), too small
 * for the partition plan, or not empty without --wipe. Each refusal is one
 * line naming the device or file.
 */
import { flattenDevices, listSignatures, readMountinfo, readSwaps, type BlockDevice } from '../sys/blockdev.js';
import type { Host } from '../sys/host.js';
import { findLoopDevicesFor } from '../sys/loop.js';
import { TsbootcError, UsageError } from '../util/errors.js';
import type { BlockSetup, Filesystem } from './config.js';
import { BOOT_PART_SIZE_MIB, CFS_ESP_SIZE_MIB } from './partition.js';

export const ROOT_FILESYSTEMS: readonly Filesystem[] = ['ext4', 'xfs', 'btrfs'];
/** Smallest root partition we create: above mkfs.xfs's 300 MiB floor, with room for a deployment's state. */
export const ROOT_MIN_MIB = 512;
/** The GPT header, its backup and alignment. */
export const GPT_OVERHEAD_MIB = 2;

const PREFIX = 'install to-disk';

/** A target that must not be written to; exit status 1, one line. */
export class TargetRefusedError extends TsbootcError {
  constructor(message: string, hint?: string) {
    super(`${PREFIX}: ${message}`, hint === undefined ? { code: 'ERR_PRECONDITION' } : { code: 'ERR_PRECONDITION', hint });
  }
}
Object.defineProperty(TargetRefusedError.prototype, 'name', { value: 'TargetRefusedError', enumerable: false });

export function parseRootFilesystem(fs: string, target: string): Filesystem {
  if ((ROOT_FILESYSTEMS as readonly string[]).includes(fs)) return fs as Filesystem;
  throw new UsageError(`${PREFIX}: unknown filesystem '${fs}' for ${target} (expected ext4, xfs or btrfs)`);
}

/** Minimum disk size for the plan: boot partitions, the ESP, the root (given size or minimum), GPT. */
export function requiredSizeMiB(o: { arch: string; blockSetup: BlockSetup; rootSizeMiB?: number | undefined }): number {
  const lead = o.arch === 'x86_64' ? 1 : o.arch === 'powerpc64' ? 4 : 0;
  const esp = o.arch === 's390x' ? 0 : CFS_ESP_SIZE_MIB;
  const boot = o.blockSetup === 'tpm2-luks' ? BOOT_PART_SIZE_MIB : 0;
  return lead + esp + boot + (o.rootSizeMiB ?? ROOT_MIN_MIB) + GPT_OVERHEAD_MIB;
}

export function checkSize(target: string, sizeBytes: number, needMiB: number): void {
  if (sizeBytes < needMiB * 1024 * 1024) {
    throw new TargetRefusedError(`${target} is too small: ${Math.floor(sizeBytes / (1024 * 1024))} MiB, need at least ${needMiB} MiB`);
  }
}

/** Refuses a block device when it or a partition of it is mounted, held, or used as swap. */
export async function checkDeviceUnused(host: Host, dev: BlockDevice): Promise<void> {
  const all = flattenDevices(dev);
  const mounts = await readMountinfo(host.root);
  const swaps = await readSwaps(host.root);
  for (const d of all) {
    const m = mounts.find((e) => e.majMin === d.majMin || e.source === d.path);
    const mp = m?.mountPoint ?? d.mountpoints[0];
    if (mp !== undefined) throw new TargetRefusedError(`${dev.path} is in use: ${d.path} is mounted on ${mp}`);
    if (swaps.includes(d.path)) throw new TargetRefusedError(`${dev.path} is in use: ${d.path} is an active swap device`);
    const holders = await host.root.listDir(`/sys/class/block/${d.name}/holders`);
    if (holders.length > 0) throw new TargetRefusedError(`${dev.path} is in use: ${d.path} is held by ${holders.join(', ')}`);
  }
  const nested = all.find((d) => d !== dev && d.type !== 'part');
  if (nested !== undefined) throw new TargetRefusedError(`${dev.path} is in use: ${nested.path} (${nested.type}) is built on it`);
}

/** Refuses an image file that is attached to a loop device (mounted with -o loop, or set up by hand). */
export async function checkFileUnused(host: Host, file: string): Promise<void> {
  const loops = await findLoopDevicesFor(host, file);
  if (loops.length > 0) throw new TargetRefusedError(`${file} is in use: attached to ${loops.join(', ')}`, `detach it with losetup -d ${loops.join(' ')}`);
}

/** Refuses a target with a partition table, partitions or a filesystem signature, unless wiping. */
export async function checkEmpty(host: Host, target: string, dev: BlockDevice | undefined, wipe: boolean): Promise<void> {
  if (wipe) return;
  const found = [...new Set((await listSignatures(host, target)).map((s) => s.type))];
  const parts = dev?.children.filter((c) => c.type === 'part').length ?? 0;
  if (parts > 0) found.push(`${parts} partition${parts === 1 ? '' : 's'}`);
  if (found.length > 0) {
    throw new TargetRefusedError(`${target} is not empty (found ${found.join(', ')}); pass --wipe to erase it`);
  }
}
