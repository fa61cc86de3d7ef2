/**
 * Owns tree validation: the checks that make a tree writable as an EROFS image
 * (names, no shared or cyclic directories, symlink targets, xattr sizes, inline
 * content and chunk limits, stat ranges). The writers call it first; errors name
 * the offending path.
 */
import { FormatError } from '../util/errors.js';
import { checkName, printable, type Dir, type Inode } from './tree.js';
import { chunkCount } from './dumpfile-fields.js';

const PATH_MAX = 4096;
const INLINE_CONTENT_MAX = 5000;
const MAX_CHUNKS = 1024n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U32 = 0xffffffff;

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= U32;
}

/** Throws the FormatError for `path` (built only on failure: the walk never builds paths). */
function fail(path: () => string, msg: string): never {
  throw new FormatError(`invalid tree at ${printable(path())}: ${msg}`);
}

/** The problem that makes `inode` unwritable, or undefined. */
function problem(inode: Inode): string | undefined {
  const s = inode.stat;
  if (!Number.isInteger(s.mode) || s.mode < 0 || s.mode > 0o7777) return `mode ${s.mode} out of range`;
  if (!isU32(s.uid) || !isU32(s.gid)) return 'uid/gid out of range';
  if (!Number.isSafeInteger(s.mtimeSec) || !isU32(s.mtimeNsec)) return 'mtime out of range';
  if (s.xattrs.size > 0) {
    let xsize = 12;
    for (const [k, v] of s.xattrs) {
      if (k.length === 0 || k.length > 255) return `xattr key ${printable(k.slice(0, 40))} must be 1..255 bytes`;
      if (v.length > 0xffff) return `xattr ${printable(k)} value longer than 65535 bytes`;
      xsize += (4 + k.length + v.length + 3) & ~3;
    }
    if (xsize > 0x3ffff) return 'xattrs too large for one inode';
  }
  if (inode.kind === 'dir') return undefined;
  const d = inode.data;
  if (d.type === 'symlink') {
    if (d.target.length === 0) return 'empty symlink target';
    if (d.target.length >= PATH_MAX) return `symlink target of ${d.target.length} bytes is too long`;
  } else if (d.type === 'reg') {
    if (d.size < 0n || d.size > 0xffffffffffffffffn) return 'size out of range';
    if (d.content !== null) {
      if (BigInt(d.content.length) !== d.size) return `inline content of ${d.content.length} bytes does not match size ${d.size}`;
      if (d.content.length > INLINE_CONTENT_MAX) return `inline content of ${d.content.length} bytes exceeds ${INLINE_CONTENT_MAX}`;
      // Below 2^53 bytes a file never has more than 1024 chunks (2^43-byte chunks at most).
    } else if (d.size > SAFE && chunkCount(d.size) > MAX_CHUNKS) return `file size ${d.size} is too big`;
    if (d.payload !== null && d.payload.length >= PATH_MAX) return 'payload too long';
    if (d.digest !== null && d.digest.length !== 32 && d.digest.length !== 64) return `digest of ${d.digest.length} bytes`;
  } else if (d.type === 'chr' || d.type === 'blk') {
    if (!Number.isSafeInteger(d.rdev) || d.rdev < 0) return 'rdev out of range';
  }
  if (inode.nlink !== undefined && !isU32(inode.nlink)) return 'nlink out of range';
  return undefined;
}

/** Throws a FormatError naming the first problem that would make the tree unwritable. */
export function validateTree(root: Dir): void {
  const dirs = new Set<Dir>([root]);
  const rootProblem = problem(root);
  if (rootProblem !== undefined) fail(() => '/', rootProblem);
  const stack: Dir[] = [root];
  const prefixes: string[] = [''];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const prefix = prefixes.pop()!;
    for (const k of dir.entries.keys()) {
      const child = dir.entries.get(k)!;
      checkName(k);
      if (child.kind === 'dir') {
        if (dirs.has(child)) fail(() => prefix + '/' + k, 'directory appears twice (hardlinked directory or cycle)');
        dirs.add(child);
        const p = prefix + '/' + k;
        const bad = problem(child);
        if (bad !== undefined) fail(() => p, bad);
        stack.push(child);
        prefixes.push(p);
      } else {
        // A hardlinked leaf is checked at each of its entries: cheaper than a Set of
        // every leaf, and the first failing entry in walk order is the same.
        const bad = problem(child);
        if (bad !== undefined) fail(() => prefix + '/' + k, bad);
      }
    }
  }
}
