/**
 * Owns building a bootable disk image without privileges: no loop device and
 * no mount. sfdisk partitions the file itself; the ESP is formatted in place
 * (`mkfs.fat --offset`) and later written with mtools at its offset; the root
 * filesystem is made in place with `mkfs.ext4 -E offset=` (optionally
 * populated with `-d DIR`), or, for xfs and btrfs, which cannot write at an
 * offset, in a scratch file next to the image that is then copied in at the
 * partition's offset, skipping zero chunks so the image stays sparse.
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { readPartitionTable } from '../sys/blockdev.js';
import type { Host } from '../sys/host.js';
import { copyIntoFile, createSparseFile, statTarget, truncateFile } from '../sys/image-file.js';
import { TsbootcError, UsageError, withContext } from '../util/errors.js';
import type { Filesystem } from './config.js';
import { checkEmpty, checkFileUnused, checkSize, TargetRefusedError } from './disk-checks.js';
import { resolveIds, result, ROOT_LABEL, SFDISK_ARGV, type PrepareDiskOptions, type PreparedDisk } from './disk-layout.js';
import { formatEsp, type EspTarget } from './esp.js';
import { mkfsArgv, planPartitions } from './partition.js';

/** ext4 block size in images; mkfs.ext4 would pick it for any root we allow, and fs-verity needs it (environment.md §8). */
export const EXT4_BLOCK_SIZE = 4096;

/** A byte range of the image file. */
export interface FileRange {
  file: string;
  offset: number;
  sizeBytes: number;
}

/** mkfs.ext4 writing straight into the image at the root partition's offset. */
export function ext4InPlaceArgv(r: FileRange, uuid: string, rootSource: string | undefined): string[] {
  const argv = mkfsArgv('ext4', r.file, ROOT_LABEL, uuid, false).slice(0, -1);
  argv.push('-F', '-b', String(EXT4_BLOCK_SIZE), '-E', `offset=${r.offset}`);
  if (rootSource !== undefined) argv.push('-d', rootSource);
  argv.push(r.file, String(Math.floor(r.sizeBytes / EXT4_BLOCK_SIZE)));
  return argv;
}

/** mkfs for a scratch file that holds exactly the root partition's bytes. */
export function scratchMkfsArgv(fs: Filesystem, scratch: string, uuid: string, rootSource: string | undefined): string[] {
  const argv = mkfsArgv(fs, scratch, ROOT_LABEL, uuid, true).slice(0, -1);
  if (fs === 'ext4') argv.push('-F', '-b', String(EXT4_BLOCK_SIZE));
  if (rootSource !== undefined) {
    if (fs === 'xfs') throw new UsageError('install to-disk: xfs cannot be populated from a directory without mounting; use ext4 or btrfs');
    argv.push(fs === 'ext4' ? '-d' : '--rootdir', rootSource);
  }
  argv.push(scratch);
  return argv;
}

/** Checks, partitions and formats an image file by byte offsets. */
export async function prepareImageFile(host: Host, o: PrepareDiskOptions, fs: Filesystem, needMiB: number): Promise<PreparedDisk> {
  const file = o.device;
  const st = await statTarget(file);
  if (st.kind === 'missing') {
    if (o.createSizeBytes === undefined) throw new TargetRefusedError(`${file} does not exist`);
    checkSize(file, o.createSizeBytes, needMiB);
  } else {
    await checkFileUnused(host, file);
    checkSize(file, st.size, needMiB);
    await checkEmpty(host, file, undefined, o.wipe);
  }
  const ids = resolveIds(o.ids);
  return withContext(`Preparing disk image ${file}`, async () => {
    if (st.kind === 'missing') await createSparseFile(file, o.createSizeBytes ?? 0);
    else if (o.wipe) await host.run.run(['wipefs', '-a', file]);
    const plan = planPartitions({ arch: o.arch, labelId: ids.labelId, blockSetup: o.blockSetup, ...(o.rootSizeMiB !== undefined ? { rootSizeMiB: o.rootSizeMiB } : {}) });
    await host.run.run(SFDISK_ARGV(file), { input: plan.script });
    const table = await readPartitionTable(host, file);
    const range = (n: number | undefined): FileRange | undefined => {
      const p = table.partitions.find((e) => e.number === n);
      return p === undefined ? undefined : { file, offset: p.startBytes, sizeBytes: p.sizeBytes };
    };
    const esp: EspTarget | undefined = range(plan.espPartno);
    if (esp !== undefined) await formatEsp(host, esp, ids.espVolumeId);
    const root = range(plan.rootPartno);
    if (root === undefined) throw new TsbootcError(`the partition table of ${file} has no partition ${plan.rootPartno} after sfdisk`);
    const how = await writeRootFilesystem(host, fs, root, ids.rootUuid, o);
    host.log.debug({ kind: 'step', message: `root ${fs} written into ${file} at offset ${root.offset} (${how})` });
    return result(file, fs, 'offsets', root, esp, ids, plan, table);
  });
}

async function writeRootFilesystem(host: Host, fs: Filesystem, root: FileRange, uuid: string, o: PrepareDiskOptions): Promise<string> {
  if (fs === 'ext4' && o.rootWrite !== 'scratch-file') {
    await host.run.run(ext4InPlaceArgv(root, uuid, o.rootSource));
    return 'in place';
  }
  const scratch = path.join(path.dirname(root.file), `.${path.basename(root.file)}.root-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await truncateFile(scratch, root.sizeBytes);
    await host.run.run(scratchMkfsArgv(fs, scratch, uuid, o.rootSource));
    const n = await copyIntoFile(scratch, root.file, root.offset);
    return `scratch file, ${n} bytes copied`;
  } finally {
    await rm(scratch, { force: true });
  }
}

