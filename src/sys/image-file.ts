/**
 * Owns byte-level access to the install target given on the command line (a
 * block device or a disk image file; callers pass real paths, install/disk.ts
 * resolves device paths through the Root and uses image files as typed): what
 * kind of thing it is and how big, creating a sparse
 * image, and copying a filesystem image into it at a byte offset, reading
 * only its data extents and without filling holes.
 */
import * as fs from 'node:fs/promises';
import { TsbootcError, withContext } from '../util/errors.js';
import { nextDataExtent } from './libc.js';
import { isNotFound } from './root.js';

export type TargetKind = 'missing' | 'file' | 'block' | 'other';

export interface TargetStat {
  kind: TargetKind;
  /** Bytes for a file; 0 otherwise (ask lsblk for a block device's size). */
  size: number;
}

export async function statTarget(p: string): Promise<TargetStat> {
  try {
    const st = await fs.stat(p);
    if (st.isFile()) return { kind: 'file', size: st.size };
    if (st.isBlockDevice()) return { kind: 'block', size: 0 };
    return { kind: 'other', size: 0 };
  } catch (err) {
    if (isNotFound(err)) return { kind: 'missing', size: 0 };
    throw new TsbootcError(`Checking ${p}`, { cause: err });
  }
}

/** Creates a new sparse file of `size` bytes; fails if it exists. */
export async function createSparseFile(p: string, size: number): Promise<void> {
  await withContext(`Creating disk image ${p}`, async () => {
    const fh = await fs.open(p, 'wx', 0o644);
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
  });
}

/** Creates or resizes a sparse file to exactly `size` bytes (scratch filesystem images). */
export async function truncateFile(p: string, size: number): Promise<void> {
  await withContext(`Sizing ${p}`, async () => {
    const fh = await fs.open(p, 'a');
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
  });
}

const CHUNK = 1 << 20;

const ZEROS = Buffer.alloc(CHUNK);

/** Whether the first `n` bytes of `buf` are zero (native compare, not a JS loop). */
function isZero(buf: Buffer, n: number): boolean {
  return buf.subarray(0, n).equals(ZEROS.subarray(0, n));
}

/**
 * Copies all of `src` into `dest` starting at byte `offset`, reading only the
 * data extents of `src` (SEEK_DATA/SEEK_HOLE) and skipping chunks that are all
 * zeros, so the destination must already read as zeros there (a fresh sparse
 * image does) and stays sparse. Returns the bytes written.
 */
export async function copyIntoFile(src: string, dest: string, offset: number): Promise<number> {
  return withContext(`Copying ${src} into ${dest} at offset ${offset}`, async () => {
    const [inp, out] = [await fs.open(src, 'r'), await fs.open(dest, 'r+')];
    let written = 0;
    try {
      const buf = Buffer.alloc(CHUNK);
      for (let ext = nextDataExtent(inp.fd, 0, src); ext !== undefined; ext = nextDataExtent(inp.fd, ext[1], src)) {
        for (let pos = ext[0]; pos < ext[1]; pos += CHUNK) {
          const { bytesRead } = await inp.read(buf, 0, Math.min(CHUNK, ext[1] - pos), pos);
          if (bytesRead === 0) break;
          if (!isZero(buf, bytesRead)) {
            await out.write(buf, 0, bytesRead, offset + pos);
            written += bytesRead;
          }
        }
      }
      await out.sync();
    } finally {
      await inp.close();
      await out.close();
    }
    return written;
  });
}
