/**
 * Owns the test doubles for the repository's ports, for unit tests that may
 * not import src/sys: a zstd codec that writes raw-block frames (what
 * libzstd emits for small incompressible input) and reads raw/RLE blocks,
 * and fake syscalls whose "fs-verity" is a digest table keyed by inode.
 * Tests only.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fsverityDigest } from '../fsverity.js';
import { VerityUnsupportedError } from './errors.js';
import type { LockOp, RepoSyscalls, ZstdCodec } from './ports.js';

const MAGIC = Buffer.from('28b52ffd', 'hex');
const MAX_BLOCK = 128 * 1024;

function blockHeader(last: boolean, type: number, size: number): Buffer {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]);
}

/** Raw-block zstd: `28b52ffd 2000 010000` for empty input, else FHD 0x00, window 0x58, raw blocks. */
export function rawZstdCodec(): ZstdCodec {
  return {
    compress(data) {
      if (data.length === 0) return Buffer.from('28b52ffd2000010000', 'hex');
      const parts: Buffer[] = [MAGIC, Buffer.from([0x00, 0x58])];
      for (let off = 0; off < data.length; off += MAX_BLOCK) {
        const chunk = data.subarray(off, Math.min(off + MAX_BLOCK, data.length));
        parts.push(blockHeader(off + MAX_BLOCK >= data.length, 0, chunk.length), Buffer.from(chunk));
      }
      return Buffer.concat(parts);
    },
    decompress(frame) {
      const b = Buffer.from(frame);
      const out: Buffer[] = [];
      let p = 0;
      while (p < b.length) {
        if (!b.subarray(p, p + 4).equals(MAGIC)) throw new Error(`test zstd: bad magic at ${p}`);
        p += 4;
        const fhd = b[p++] ?? 0;
        const single = (fhd & 0x20) !== 0;
        const fcsFlag = fhd >> 6;
        const dictFlag = fhd & 3;
        const checksum = (fhd & 4) !== 0;
        if (!single) p++;
        p += [0, 1, 2, 4][dictFlag] ?? 0;
        p += fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag] ?? 0;
        for (;;) {
          const h = (b[p] ?? 0) | ((b[p + 1] ?? 0) << 8) | ((b[p + 2] ?? 0) << 16);
          p += 3;
          const last = (h & 1) === 1;
          const type = (h >> 1) & 3;
          const size = h >> 3;
          if (type === 0) {
            out.push(b.subarray(p, p + size));
            p += size;
          } else if (type === 1) {
            out.push(Buffer.alloc(size, b[p] ?? 0));
            p += 1;
          } else throw new Error('test zstd: compressed blocks are not supported by the test codec');
          if (last) break;
        }
        if (checksum) p += 4;
      }
      return Buffer.concat(out);
    },
  };
}

export interface FakeSyscalls extends RepoSyscalls {
  /** Every call, in order (`flock shared`, `enable-verity`, `syncfs`, …). */
  calls: string[];
}

/**
 * Syscalls for tests. With `verity`, enabling records the file's digest by
 * inode and measuring returns it; without, enabling throws
 * VerityUnsupportedError (EOPNOTSUPP) and nothing is measured. flock is a no-op.
 */
export function fakeSyscalls(opts: { verity?: boolean } = {}): FakeSyscalls {
  const table = new Map<string, Buffer>();
  const key = (fd: number) => {
    const st = fs.fstatSync(fd);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  };
  const calls: string[] = [];
  return {
    calls,
    flock: async (_fd: number, op: LockOp) => {
      calls.push(`flock ${op}`);
    },
    tryFlockSync: (_fd: number, op: LockOp) => {
      calls.push(`try-flock ${op}`);
      return true;
    },
    enableVerity: (fd, alg) => {
      calls.push(`enable-verity ${alg}`);
      if (opts.verity !== true) throw new VerityUnsupportedError(`fd ${fd}`, 'EOPNOTSUPP');
      const st = fs.fstatSync(fd);
      const buf = Buffer.alloc(st.size);
      fs.readSync(fd, buf, 0, st.size, 0);
      table.set(key(fd), fsverityDigest(buf, alg));
    },
    measureVerity: (fd) => (opts.verity === true ? table.get(key(fd)) : undefined),
    syncfs: () => {
      calls.push('syncfs');
    },
  };
}

export async function tempDir(prefix = 'tsbootc-cfs-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * The tree under `root` as sorted lines: `d path mode`, `f path size`,
 * `l path -> target` (directories' modes as octal).
 */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const names = fs.readdirSync(path.join(root, rel)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isSymbolicLink()) out.push(`l ${r} -> ${fs.readlinkSync(path.join(root, r))}`);
      else if (st.isDirectory()) {
        out.push(`d ${r}`);
        walk(r);
      } else out.push(`f ${r} ${st.size}`);
    }
  };
  walk('');
  return out;
}
