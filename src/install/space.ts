/**
 * Owns the disk-space preflight of an install (bootc.md §5.3 step 1; bootc
 * compares the layer sizes with the free space of composefs/objects). tsbootc
 * estimates from the image as checked in the scratch repository: every
 * repository file (objects, splitstreams, EROFS images) rounded up to 4 KiB
 * blocks, the files of the image's /etc and /var (copied into the state dir),
 * the kernel and initramfs when they go onto the root (GRUB), and a fixed
 * allowance for directories and the filesystem's own growth. The estimate is
 * compared, before anything is written, with the free space of the mounted
 * target (to-filesystem, to-existing-root) or with what the new root
 * partition will hold once formatted (to-disk: its size times the share a
 * fresh filesystem leaves for files, measured on this host at 512 MiB).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Dir } from '../composefs/tree.js';
import { lookupImagePath } from '../deploy/image-content.js';
import { TsbootcError, withContext } from '../util/errors.js';
import type { Filesystem } from './config.js';
import type { SourceImage } from './install-source.js';

const BLOCK = 4096;
/** Directories, the repository's metadata, the ostree link, lost+found, journal growth. */
export const SPACE_ALLOWANCE = 16 * 1024 * 1024;
/** The share of a new partition a fresh filesystem leaves for files (512 MiB: ext4 95 %, xfs 82 %, btrfs 84 %), minus a margin. */
export const USABLE_SHARE: Readonly<Record<Filesystem, number>> = { ext4: 0.92, xfs: 0.78, btrfs: 0.8 };

const blocks = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const st = await fs.lstat(path.join(dir, n));
    if (st.isDirectory()) total += BLOCK + (await dirBytes(path.join(dir, n)));
    else total += st.isFile() ? blocks(st.size) : 0;
  }
  return total;
}

function treeBytes(tree: Dir, p: string): number {
  const i = lookupImagePath(tree, p);
  if (i === undefined || i.kind !== 'dir') return 0;
  let total = 0;
  const walk = (d: Dir) => {
    for (const k of d.sortedKeys()) {
      const c = d.getKey(k)!;
      if (c.kind === 'dir') {
        total += BLOCK;
        walk(c);
      } else if (c.data.type === 'reg') total += blocks(Number(c.data.size));
    }
  };
  walk(i);
  return total;
}

export interface SpaceEstimate {
  repository: number;
  state: number;
  kernel: number;
  total: number;
}

/** What the install writes onto the root filesystem. */
export async function estimateInstallBytes(src: SourceImage, kernelOnRoot: boolean): Promise<SpaceEstimate> {
  return withContext(`Estimating the space ${src.ref} needs`, async () => {
    const repository = await dirBytes(src.scratchRepo.path);
    const state = treeBytes(src.content.tree, '/etc') + treeBytes(src.content.tree, '/var');
    const kernel = kernelOnRoot && src.boot.kind === 'type1' ? blocks(Number(src.boot.vmlinuz.data.type === 'reg' ? src.boot.vmlinuz.data.size : 0n)) + blocks(Number(src.boot.initrd.data.type === 'reg' ? src.boot.initrd.data.size : 0n)) : 0;
    return { repository, state, kernel, total: repository + state + kernel + SPACE_ALLOWANCE };
  });
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/** The one-line refusal when the estimate does not fit. */
export function spaceError(verb: string, where: string, need: SpaceEstimate, available: number, what: string, hint: string): TsbootcError {
  return new TsbootcError(
    `install ${verb}: not enough space on ${where}: the image needs about ${need.total} bytes (${mib(need.total)}: repository ${need.repository}, /etc and /var ${need.state}, kernel ${need.kernel}, allowance ${SPACE_ALLOWANCE}), ${what} ${available} bytes (${mib(available)}); ${hint}`,
    { code: 'ERR_PRECONDITION' },
  );
}

/** Bytes a new root partition of `sizeBytes` will hold for files. */
export function usableBytes(fsType: Filesystem, sizeBytes: number): number {
  return Math.floor(sizeBytes * USABLE_SHARE[fsType]);
}

/** Free bytes of the filesystem mounted at `dir` (statfs f_bavail: without ext4's reserved blocks, so conservative). */
export async function freeBytes(dir: string): Promise<number> {
  const st = await withContext(`Reading the free space of ${dir}`, () => fs.statfs(dir));
  return st.bavail * st.bsize;
}

/** Bytes used by the files below `dir` (4 KiB blocks). */
export async function usedBytes(dir: string): Promise<number> {
  return dirBytes(dir);
}
