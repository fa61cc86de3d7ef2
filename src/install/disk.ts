/**
 * Owns the disk layer of `install to-disk`: checking the target, writing the
 * GPT (sfdisk with the plan from partition.ts), and making the filesystems
 * (root `mkfs.<fs> -L root` with a chosen UUID, ext4 with verity; ESP
 * `mkfs.fat -n EFI-SYSTEM`), on a block device or, with --via-loopback, on an
 * image file: through a loop device as root, or by byte offsets into the file
 * without privileges (disk-image.ts). Everything above, the repository and
 * the deployment, belongs to the caller.
 *
 * Device paths (/dev/…), /proc and /sys go through the Root; an image file
 * is used as the path the user gave (tools and node:fs open it directly).
 */
import { listBlockDevice, partitionPath, readPartitionTable, type BlockDevice } from '../sys/blockdev.js';
import type { Host } from '../sys/host.js';
import { createSparseFile, statTarget } from '../sys/image-file.js';
import { ensurePartitionNodes, withLoopDevice } from '../sys/loop.js';
import { formatErrorChain, UsageError, withContext } from '../util/errors.js';
import type { Filesystem } from './config.js';
import { checkDeviceUnused, checkEmpty, checkFileUnused, checkSize, TargetRefusedError } from './disk-checks.js';
import { prepareImageFile } from './disk-image.js';
import { partitionNumbers, resolveIds, result, ROOT_LABEL, SFDISK_ARGV, validateOptions, type PrepareDiskOptions, type PreparedDisk } from './disk-layout.js';
import { formatEsp, type EspTarget } from './esp.js';
import { mkfsArgv, planPartitions } from './partition.js';

export type { DiskIds, PrepareDiskOptions, PreparedDisk, RootLocation } from './disk-layout.js';

/**
 * Partitions and formats the target, then runs `fn` with the result; loop
 * devices are detached afterwards. Refuses (before writing anything) a target
 * that is in use, too small, or not empty without `wipe`.
 */
export async function withPreparedDisk<T>(host: Host, o: PrepareDiskOptions, fn: (d: PreparedDisk) => Promise<T>): Promise<T> {
  const { fs, needMiB } = validateOptions(o);
  // A block device is a host path (/dev/…) and goes through the Root; an image file is used as given.
  const st = await statTarget(o.viaLoopback ? o.device : host.root.resolve(o.device));
  if (st.kind === 'missing' && !(o.viaLoopback && o.createSizeBytes !== undefined)) throw new TargetRefusedError(`${o.device} does not exist`);
  const method = o.viaLoopback ? (o.imageMethod ?? (host.isRoot ? 'loop' : 'offsets')) : 'device';
  if (o.rootSource !== undefined && method !== 'offsets') {
    throw new UsageError(`install to-disk: a root source directory is only used when writing an image by offsets (${o.device})`);
  }
  if (!o.viaLoopback) {
    if (st.kind === 'file') throw new TargetRefusedError(`${o.device} is a regular file; pass --via-loopback to install into a disk image`);
    return fn(await prepareBlockDevice(host, o, fs, needMiB, 'device'));
  }
  if (st.kind !== 'file' && st.kind !== 'missing') throw new TargetRefusedError(`${o.device} is not a regular file (--via-loopback installs into a disk image)`);
  host.log.debug({ kind: 'step', message: `preparing disk image ${o.device} with ${method === 'loop' ? 'a loop device' : 'byte offsets (no privileges)'}` });
  if (method === 'offsets') return fn(await prepareImageFile(host, o, fs, needMiB));
  if (st.kind === 'missing') {
    checkSize(o.device, o.createSizeBytes ?? 0, needMiB);
    await createSparseFile(o.device, o.createSizeBytes ?? 0);
  } else {
    await checkFileUnused(host, o.device);
    checkSize(o.device, st.size, needMiB);
    await checkEmpty(host, o.device, undefined, o.wipe);
  }
  return withLoopDevice(host, o.device, async (loop) => fn(await prepareBlockDevice(host, { ...o, device: loop }, fs, needMiB, 'loop')), o.onLoopAttached);
}

/**
 * The unscoped form for targets that need no loop device (a block device, or
 * an image file written by offsets); a loop-device image needs withPreparedDisk.
 */
export async function prepareDisk(host: Host, o: PrepareDiskOptions): Promise<PreparedDisk> {
  if (o.viaLoopback && (o.imageMethod ?? (host.isRoot ? 'loop' : 'offsets')) === 'loop') {
    throw new UsageError(`install to-disk: ${o.device} needs a loop device for as long as it is used; call withPreparedDisk`);
  }
  return withPreparedDisk(host, o, async (d) => d);
}

/** Partitions and formats a block device (a disk, or a loop device already checked as a file). */
async function prepareBlockDevice(host: Host, o: PrepareDiskOptions, fs: Filesystem, needMiB: number, method: 'device' | 'loop'): Promise<PreparedDisk> {
  let dev: BlockDevice;
  try {
    dev = await listBlockDevice(host, o.device);
  } catch (err) {
    throw new TargetRefusedError(`${o.device} is not a block device`, formatErrorChain(err));
  }
  await checkDeviceUnused(host, dev);
  checkSize(o.device, dev.size, needMiB);
  if (method === 'device') await checkEmpty(host, o.device, dev, o.wipe);
  const ids = resolveIds(o.ids);
  return withContext(`Preparing ${o.device}`, async () => {
    if (o.wipe) await wipeDevice(host, dev);
    const plan = planPartitions({ arch: o.arch, labelId: ids.labelId, blockSetup: o.blockSetup, ...(o.rootSizeMiB !== undefined ? { rootSizeMiB: o.rootSizeMiB } : {}) });
    await host.run.run(SFDISK_ARGV(o.device), { input: plan.script });
    const partnos = partitionNumbers(plan);
    await ensurePartitionNodes(host, o.device, partnos);
    const table = await readPartitionTable(host, o.device);
    const rootDevice = partitionPath(o.device, plan.rootPartno);
    const esp: EspTarget | undefined = plan.espPartno !== undefined ? { device: partitionPath(o.device, plan.espPartno) } : undefined;
    if (esp !== undefined) await formatEsp(host, esp, ids.espVolumeId);
    await host.run.run(mkfsArgv(fs, rootDevice, ROOT_LABEL, ids.rootUuid, o.wipe));
    return result(o.device, fs, method, { device: rootDevice }, esp, ids, plan, table);
  });
}

/** bootc's wipe: `wipefs -a` on every partition (children first), then on the disk. */
async function wipeDevice(host: Host, dev: BlockDevice): Promise<void> {
  const parts = dev.children.filter((c) => c.type === 'part').reverse();
  for (const p of parts) await host.run.run(['wipefs', '-a', p.path]);
  await host.run.run(['wipefs', '-a', dev.path]);
}

