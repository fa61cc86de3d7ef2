/**
 * Owns the composefs filesystem tree model (composefs.md §5.1, §5.3.1): directories
 * with byte-sorted entries, leaves (regular/symlink/device/fifo/socket) that may be
 * shared by several entries (hardlinks), stat and xattrs, path helpers for builders
 * (the dumpfile parser, the directory scanner, the OCI layer merge) and validation,
 * so the EROFS writer only ever sees valid trees.
 *
 * Names, xattr keys and path components are raw bytes. Internally a directory keys
 * its entries by the "byte string" of the name (one JS char per byte, latin1), which
 * is lossless and sorts exactly like the bytes; the public methods take Uint8Array.
 */
import { FormatError } from '../util/errors.js';

/** Extended attributes: key as a byte string (latin1), value as bytes. */
export type Xattrs = Map<string, Buffer>;

export interface Stat {
  /** Permission bits (0o7777); type bits, if given, are ignored. */
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  xattrs: Xattrs;
}

/**
 * A regular file in the C view (§5.3.1): `content` set → inline; otherwise with
 * size > 0 it is external: `payload` is the backing path ("xx/yyyy…", may be null),
 * `digest` the fs-verity object id (may be null).
 */
export interface RegularData {
  type: 'reg';
  size: bigint;
  content: Buffer | null;
  payload: Buffer | null;
  digest: Buffer | null;
}
export type LeafData =
  | RegularData
  | { type: 'symlink'; target: Buffer }
  | { type: 'chr' | 'blk'; rdev: number }
  | { type: 'fifo' }
  | { type: 'sock' };

export type LeafType = LeafData['type'];

/** A non-directory inode. The same Leaf object in several directories is a hardlink. */
export class Leaf {
  readonly kind = 'leaf' as const;
  /** nlink as recorded by the source (dumpfile); undefined → the reference count. */
  nlink: number | undefined = undefined;
  /**
   * The entry that owns a hardlinked leaf: C mkcomposefs's "real" node, i.e. the
   * dumpfile line that is not an `@` hardlink. The V0/V1 EROFS writer numbers the
   * inode there. undefined (or stale) → the first occurrence in DFS order, as
   * composefs-rs decides (composefs.md §5.3.1).
   */
  home: { dir: Dir; key: string } | undefined = undefined;
  constructor(
    public stat: Stat,
    public data: LeafData,
  ) {}
}

export class Dir {
  readonly kind = 'dir' as const;
  /** Entries keyed by the name's byte string. Use the methods; insertion order is irrelevant. */
  readonly entries = new Map<string, Inode>();
  private sortedCache: string[] | undefined;
  constructor(public stat: Stat) {}

  get(name: Uint8Array): Inode | undefined {
    return this.entries.get(byteKey(name));
  }
  /** Adds or replaces an entry (validates the name). */
  set(name: Uint8Array, inode: Inode): void {
    this.setKey(byteKey(name), inode);
  }
  delete(name: Uint8Array): boolean {
    return this.deleteKey(byteKey(name));
  }
  clear(): void {
    this.entries.clear();
    this.sortedCache = undefined;
  }
  getKey(key: string): Inode | undefined {
    return this.entries.get(key);
  }
  setKey(key: string, inode: Inode): void {
    checkName(key);
    if (!this.entries.has(key)) this.sortedCache = undefined;
    this.entries.set(key, inode);
  }
  deleteKey(key: string): boolean {
    const had = this.entries.delete(key);
    if (had) this.sortedCache = undefined;
    return had;
  }
  get size(): number {
    return this.entries.size;
  }
  /** Entry names (byte strings) in byte order. The array is shared; do not modify it. */
  sortedKeys(): readonly string[] {
    if (this.sortedCache === undefined) {
      const keys = [...this.entries.keys()];
      // Builders mostly insert in order (dumpfiles are sorted): check before sorting.
      let sorted = true;
      for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
      if (!sorted) keys.sort(compareKeys);
      this.sortedCache = keys;
    }
    return this.sortedCache;
  }
  /** [name, inode] pairs in byte order of the name. */
  sortedEntries(): Array<[Buffer, Inode]> {
    return this.sortedKeys().map((k) => [Buffer.from(k, 'latin1'), this.entries.get(k)!]);
  }
}

export type Inode = Dir | Leaf;

/** Byte-order comparison of two byte strings (JS code-unit order equals byte order here). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function byteKey(name: Uint8Array | string): string {
  if (typeof name === 'string') return Buffer.from(name, 'utf8').toString('latin1');
  return Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString('latin1');
}

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** Throws unless `key` is a valid entry name: 1..255 bytes, no '/', no NUL, not . or .. */
export function checkName(key: string): void {
  if (key.length === 0) throw new FormatError('invalid empty file name');
  if (key.length > 255) throw new FormatError(`file name longer than 255 bytes: ${printable(key.slice(0, 40))}…`);
  if (key === '.' || key === '..') throw new FormatError(`invalid file name ${key}`);
  if (key.includes('/') || key.includes('\0')) throw new FormatError(`invalid file name ${printable(key)} (contains / or NUL)`);
}

/** A byte string rendered for messages (non-printable bytes as \xHH). */
export function printable(key: string): string {
  return key.replace(/[^\x21-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// ---------------------------------------------------------------- constructors

export function makeStat(s: Partial<Stat> = {}): Stat {
  return {
    mode: (s.mode ?? 0) & 0o7777,
    uid: s.uid ?? 0,
    gid: s.gid ?? 0,
    mtimeSec: s.mtimeSec ?? 0,
    mtimeNsec: s.mtimeNsec ?? 0,
    xattrs: s.xattrs ?? new Map(),
  };
}

export function newDir(stat: Partial<Stat> = {}): Dir {
  return new Dir(makeStat(stat));
}
export function inlineFile(stat: Partial<Stat>, content: Uint8Array): Leaf {
  const c = Buffer.from(content);
  return new Leaf(makeStat(stat), { type: 'reg', size: BigInt(c.length), content: c.length > 0 ? c : null, payload: null, digest: null });
}
/** An external file: `id` is the object's fs-verity digest; the payload is its `xx/rest` path. */
export function externalFile(stat: Partial<Stat>, id: Uint8Array, size: bigint | number): Leaf {
  const digest = Buffer.from(id);
  return new Leaf(makeStat(stat), { type: 'reg', size: BigInt(size), content: null, payload: Buffer.from(objectPath(digest), 'latin1'), digest });
}
export function symlink(stat: Partial<Stat>, target: Uint8Array | string): Leaf {
  return new Leaf(makeStat(stat), { type: 'symlink', target: typeof target === 'string' ? Buffer.from(target) : Buffer.from(target) });
}
export function device(type: 'chr' | 'blk', stat: Partial<Stat>, rdev: number): Leaf {
  return new Leaf(makeStat(stat), { type, rdev });
}
export function fifo(stat: Partial<Stat>): Leaf {
  return new Leaf(makeStat(stat), { type: 'fifo' });
}
export function socket(stat: Partial<Stat>): Leaf {
  return new Leaf(makeStat(stat), { type: 'sock' });
}
/** An overlay whiteout: a character device 0/0. */
export function whiteout(stat: Partial<Stat>): Leaf {
  return device('chr', stat, 0);
}

/** The object-store path of a digest: "xx/rest-of-hex". */
export function objectPath(digest: Uint8Array): string {
  const hex = Buffer.from(digest).toString('hex');
  return `${hex.slice(0, 2)}/${hex.slice(2)}`;
}

export function isWhiteout(inode: Inode): boolean {
  return inode.kind === 'leaf' && inode.data.type === 'chr' && inode.data.rdev === 0;
}

/** The S_IFMT bits of an inode. */
export function typeBits(inode: Inode): number {
  if (inode.kind === 'dir') return 0o040000;
  return TYPE_BITS[inode.data.type];
}
export const TYPE_BITS: Readonly<Record<LeafType, number>> = { reg: 0o100000, symlink: 0o120000, chr: 0o020000, blk: 0o060000, fifo: 0o010000, sock: 0o140000 };

export function setXattr(stat: Stat, key: Uint8Array | string, value: Uint8Array | string): void {
  stat.xattrs.set(byteKey(key), Buffer.from(typeof value === 'string' ? Buffer.from(value) : value));
}

// ---------------------------------------------------------------- paths

/**
 * Splits a path into name keys like Rust's Path::components(): leading/trailing and
 * repeated '/' and '.' components dropped; '..' is an error. "" or "/" → [].
 */
export function splitPath(path: Uint8Array | string): string[] {
  const s = typeof path === 'string' ? byteKey(path) : byteKey(path);
  const out: string[] = [];
  for (const c of s.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new FormatError(`invalid path ${printable(s)}: contains ..`);
    checkName(c);
    out.push(c);
  }
  return out;
}

/** The inode at `path`, or undefined. Hardlinks are plain shared leaves, so no following is needed. */
export function lookup(root: Dir, path: Uint8Array | string): Inode | undefined {
  let cur: Inode = root;
  for (const c of splitPath(path)) {
    if (cur.kind !== 'dir') return undefined;
    const next: Inode | undefined = cur.getKey(c);
    if (next === undefined) return undefined;
    cur = next;
  }
  return cur;
}

/** The parent directory of `path` and the final name; throws if the parent is missing or not a directory. */
export function lookupParent(root: Dir, path: Uint8Array | string): { dir: Dir; name: string } {
  const parts = splitPath(path);
  const name = parts.pop();
  if (name === undefined) throw new FormatError('the root has no parent');
  let cur: Dir = root;
  for (const c of parts) {
    const next = cur.getKey(c);
    if (next === undefined) throw new FormatError(`parent directory missing for ${printable(parts.join('/'))}/${printable(name)}`);
    if (next.kind !== 'dir') throw new FormatError(`parent of ${printable(name)} is not a directory: ${printable(c)}`);
    cur = next;
  }
  return { dir: cur, name };
}

/** Adds or replaces the inode at `path`; the parent must exist. */
export function insertAt(root: Dir, path: Uint8Array | string, inode: Inode): void {
  const { dir, name } = lookupParent(root, path);
  dir.setKey(name, inode);
}

/** Removes the entry at `path` if present; returns whether it existed. */
export function removeAt(root: Dir, path: Uint8Array | string): boolean {
  const { dir, name } = lookupParent(root, path);
  return dir.deleteKey(name);
}

// ---------------------------------------------------------------- walking

export interface WalkVisitor {
  /** Called for every entry in DFS pre-order, children in byte order. `first` is false for repeat visits of a hardlinked leaf. */
  (path: string, inode: Inode, parent: Dir | undefined, first: boolean): void;
}

/** DFS pre-order walk from the root (path "/" for the root; paths are byte strings). */
export function walk(root: Dir, visit: WalkVisitor): void {
  const seen = new Set<Leaf>();
  const rec = (dir: Dir, prefix: string): void => {
    for (const k of dir.sortedKeys()) {
      const child = dir.entries.get(k)!;
      const p = prefix + '/' + k;
      if (child.kind === 'dir') {
        visit(p, child, dir, true);
        rec(child, p);
      } else {
        const first = !seen.has(child);
        if (first) seen.add(child);
        visit(p, child, dir, first);
      }
    }
  };
  visit('/', root, undefined, true);
  rec(root, '');
}

/** Reference counts of every leaf (the nlink a tree implies). */
export function linkCounts(root: Dir): Map<Leaf, number> {
  const counts = new Map<Leaf, number>();
  const rec = (dir: Dir): void => {
    for (const child of dir.entries.values()) {
      if (child.kind === 'dir') rec(child);
      else counts.set(child, (counts.get(child) ?? 0) + 1);
    }
  };
  rec(root);
  return counts;
}

/** Drops the xattrs `keep` rejects on every inode. */
export function filterXattrs(root: Dir, keep: (key: string) => boolean): void {
  walk(root, (_p, inode, _parent, first) => {
    if (!first) return;
    for (const k of [...inode.stat.xattrs.keys()]) if (!keep(k)) inode.stat.xattrs.delete(k);
  });
}
