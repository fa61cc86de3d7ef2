/**
 * Owns turning a real directory into a composefs tree, the way C mkcomposefs's
 * `lcfs_build` + `compute_digest` do (tools/mkcomposefs.c, lcfs-writer.c):
 * lstat metadata with full-nanosecond mtimes, symlink targets and names as raw
 * bytes, xattrs through an injected {@link XattrSource} (this module may not reach
 * the system-call layer), regular files of 1..64 bytes inline and larger ones
 * external with their fs-verity digest as object id (composefs.md §5.3.1), and
 * optionally a `--digest-store` object directory filled atomically.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { TsbootcError } from '../util/errors.js';
import type { VerityAlgorithm } from './fsverity.js';
import { fsverityDigestFdSync, newReadBuffer, VerityPool } from './fsverity-file.js';
import { Dir, Leaf, makeStat, objectPath, type LeafData, type RegularData, type Stat } from './tree.js';

/** Extended attributes of a path (not following a final symlink); names are latin1 byte strings. */
export interface XattrSource {
  list(path: Buffer): string[];
  get(path: Buffer, name: string): Buffer;
}

export interface ScanOptions {
  /** Where xattrs come from; without one no xattrs are read. */
  xattrs?: XattrSource;
  /** 'all' (C default), 'user' (--user-xattrs: only user.*) or 'none' (--skip-xattrs). */
  xattrFilter?: 'all' | 'user' | 'none';
  /** --use-epoch: every mtime is 0.0. */
  useEpoch?: boolean;
  /** --skip-devices: leave out character and block devices. */
  skipDevices?: boolean;
  /**
   * 'share' (default): entries with the same (dev, ino) become one shared Leaf, a
   * hardlink in the image. 'copy': each entry is its own inode with nlink 1, which
   * is what C mkcomposefs does with a directory source (it never looks at st_ino).
   */
  hardlinks?: 'share' | 'copy';
  /** The object id algorithm (C mkcomposefs: sha256, the only one it supports). */
  algorithm?: VerityAlgorithm;
  /** Copy every external file to DIR/xx/yyyy… (tmp + rename; existing objects are kept). */
  digestStore?: string;
  /** Hashing threads for large files (default: the CPU count). */
  threads?: number;
}

/** Regular files up to this size are stored inline (LCFS_RECOMMENDED_INLINE_CONTENT_MAX). */
export const INLINE_MAX = 64;

const S_IFMT = 0o170000;
const SLASH = Buffer.from('/');

/** Renders a byte path for messages (UTF-8 where valid, invalid bytes replaced). */
function show(p: Buffer): string {
  return p.toString('utf8');
}

/** Throws "<what> <path>" with `err` as the cause (printed as `…: <cause>`). */
function fail(p: Buffer, what: string, err: unknown): never {
  throw new TsbootcError(`${what} ${show(p)}`, { cause: err instanceof Error ? err : new Error(String(err)) });
}

/** External files at least this large are hashed by the worker pool while the scan goes on. */
const POOL_MIN_SIZE = 256 << 10;
/** Entries between yields to the event loop, so worker replies are taken in during a long scan. */
const YIELD_EVERY = 64;

interface ScanState {
  opts: ScanOptions;
  alg: VerityAlgorithm;
  buf: Buffer;
  inline: Buffer;
  pool: VerityPool;
  links: Map<string, Leaf>;
  storeDirs: Set<string>;
  /** Digests still being computed by the pool. */
  pending: Array<Promise<void>>;
  sinceYield: number;
}

/**
 * Scans the directory at `path` into a tree. Children are read with their raw
 * byte names; the tree keeps them in composefs (bytewise) order.
 * @throws TsbootcError naming the path that could not be read.
 */
export async function scanDirectory(path: string | Buffer, opts: ScanOptions = {}): Promise<Dir> {
  const root = typeof path === 'string' ? Buffer.from(path) : path;
  const st: ScanState = {
    opts,
    alg: opts.algorithm ?? 'sha256',
    buf: newReadBuffer(),
    inline: Buffer.allocUnsafe(INLINE_MAX),
    pool: new VerityPool(opts.threads),
    links: new Map(),
    storeDirs: new Set(),
    pending: [],
    sinceYield: 0,
  };
  try {
    const s = lstat(root);
    if ((Number(s.mode) & S_IFMT) !== 0o040000) throw new TsbootcError(`scanning ${show(root)}: not a directory`);
    const dir = new Dir(statOf(st, root, s));
    await scanChildren(st, root, dir);
    await Promise.all(st.pending);
    return dir;
  } finally {
    await st.pool.close();
  }
}

function lstat(p: Buffer): fs.BigIntStats {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (err) {
    fail(p, 'reading metadata of', err);
  }
}

async function scanChildren(st: ScanState, dirPath: Buffer, dir: Dir): Promise<void> {
  let names: Buffer[];
  try {
    names = fs.readdirSync(dirPath, { encoding: 'buffer' });
  } catch (err) {
    fail(dirPath, 'reading directory', err);
  }
  for (const name of names) {
    if (++st.sinceYield >= YIELD_EVERY && st.pending.length > 0) {
      st.sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const p = Buffer.concat([dirPath, SLASH, name]);
    const s = lstat(p);
    const type = Number(s.mode) & S_IFMT;
    if (type === 0o040000) {
      const sub = new Dir(statOf(st, p, s));
      dir.set(name, sub);
      await scanChildren(st, p, sub);
      continue;
    }
    if (st.opts.skipDevices === true && (type === 0o020000 || type === 0o060000)) continue;
    const key = s.nlink > 1n && st.opts.hardlinks !== 'copy' ? `${s.dev}:${s.ino}` : undefined;
    const known = key !== undefined ? st.links.get(key) : undefined;
    if (known !== undefined) {
      dir.set(name, known);
      continue;
    }
    const leaf = new Leaf(statOf(st, p, s), leafData(st, p, s, type));
    if (key !== undefined) st.links.set(key, leaf);
    dir.set(name, leaf);
  }
}

function statOf(st: ScanState, p: Buffer, s: fs.BigIntStats): Stat {
  const stat = makeStat({ mode: Number(s.mode), uid: Number(s.uid), gid: Number(s.gid) });
  if (st.opts.useEpoch !== true) {
    let sec = s.mtimeNs / 1_000_000_000n;
    let nsec = s.mtimeNs % 1_000_000_000n;
    if (nsec < 0n) {
      nsec += 1_000_000_000n;
      sec -= 1n;
    }
    stat.mtimeSec = Number(sec);
    stat.mtimeNsec = Number(nsec);
  }
  const filter = st.opts.xattrFilter ?? 'all';
  const src = st.opts.xattrs;
  if (src !== undefined && filter !== 'none') {
    let names: string[];
    try {
      names = src.list(p);
    } catch (err) {
      fail(p, 'listing xattrs of', err);
    }
    for (const n of names) {
      if (filter === 'user' && !n.startsWith('user.')) continue;
      try {
        stat.xattrs.set(n, src.get(p, n));
      } catch (err) {
        fail(p, `reading xattr ${n} of`, err);
      }
    }
  }
  return stat;
}

function leafData(st: ScanState, p: Buffer, s: fs.BigIntStats, type: number): LeafData {
  switch (type) {
    case 0o100000:
      return regular(st, p, Number(s.size));
    case 0o120000:
      return { type: 'symlink', target: readlink(p) };
    case 0o020000:
      return { type: 'chr', rdev: Number(s.rdev) };
    case 0o060000:
      return { type: 'blk', rdev: Number(s.rdev) };
    case 0o010000:
      return { type: 'fifo' };
    case 0o140000:
      return { type: 'sock' };
    default:
      throw new TsbootcError(`scanning ${show(p)}: unknown file type ${type.toString(8)}`);
  }
}

function readlink(p: Buffer): Buffer {
  try {
    return fs.readlinkSync(p, { encoding: 'buffer' });
  } catch (err) {
    fail(p, 'reading symlink', err);
  }
}

/**
 * The data of a regular file: inline up to 64 bytes; otherwise external, with
 * the digest computed here (small files) or by the pool, in which case the
 * returned object is completed when the digest arrives (see ScanState.pending).
 */
function regular(st: ScanState, p: Buffer, size: number): RegularData {
  if (size === 0) return { type: 'reg', size: 0n, content: null, payload: null, digest: null };
  if (size <= INLINE_MAX) return { type: 'reg', size: BigInt(size), content: readInline(st, p, size), payload: null, digest: null };
  const data: RegularData = { type: 'reg', size: BigInt(size), content: null, payload: null, digest: null };
  const done = (digest: Buffer): void => {
    const payload = objectPath(digest);
    data.digest = digest;
    data.payload = Buffer.from(payload, 'latin1');
    if (st.opts.digestStore !== undefined) storeObject(st, p, st.opts.digestStore, payload);
  };
  if (size >= POOL_MIN_SIZE && st.pool.threads > 1) {
    const job = st.pool.submit(p, size, st.alg).then(done, (err: unknown) => fail(p, 'hashing', err));
    job.catch(() => undefined); // rejections are reported by the Promise.all at the end of the scan
    st.pending.push(job);
    return data;
  }
  let digest: Buffer;
  try {
    const fd = fs.openSync(p, 'r');
    try {
      digest = fsverityDigestFdSync(fd, size, st.alg, st.buf, show(p));
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    fail(p, 'hashing', err);
  }
  done(digest);
  return data;
}

function readInline(st: ScanState, p: Buffer, size: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(p, 'r');
  } catch (err) {
    fail(p, 'opening', err);
  }
  try {
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, st.inline, got, size - got, got);
      if (n === 0) throw new Error(`file shrank while reading (${got} of ${size} bytes)`);
      got += n;
    }
  } catch (err) {
    fail(p, 'reading', err);
  } finally {
    fs.closeSync(fd);
  }
  return Buffer.from(st.inline.subarray(0, size));
}

/**
 * Copies `src` to STORE/xx/yyyy… unless it exists: a temp file in STORE, mode
 * 0644, fsync, rename (C's copy_file_with_dirs_if_needed).
 */
function storeObject(st: ScanState, src: Buffer, store: string, payload: string): void {
  const dest = `${store}/${payload}`;
  const sub = `${store}/${payload.slice(0, 2)}`;
  try {
    if (!st.storeDirs.has(sub)) {
      fs.mkdirSync(sub, { recursive: true, mode: 0o755 });
      st.storeDirs.add(sub);
    }
    if (fs.existsSync(dest)) return;
    const tmp = `${store}/.tmp${randomBytes(6).toString('hex')}`;
    try {
      fs.copyFileSync(src, tmp, fs.constants.COPYFILE_FICLONE);
      fs.chmodSync(tmp, 0o644);
      const fd = fs.openSync(tmp, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, dest);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  } catch (err) {
    fail(src, `storing object ${dest} for`, err);
  }
}
