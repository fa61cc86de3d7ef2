/**
 * Owns tree validation: the checks that make a tree writable as an EROFS image
 * (names, no shared or cyclic directories, symlink targets, xattr sizes, inline
 * content and chunk limits, stat ranges). The writers call it first; errors name
 * the offending path.
 */
import { FormatError } from '../util/errors.js';
import { checkName, printable, type Dir, type Inode } from './tree.js';
import { chunkCount } from './dumpfile.js';

const PATH_MAX = 4096;
const INLINE_CONTENT_MAX = 5000;
const MAX_CHUNKS = 1024n;
const U32 = 0xffffffff;

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= U32;
}

function checkInode(path: string, inode: Inode): void {
  const s = inode.stat;
  const fail = (msg: string): never => {
    throw new FormatError(`invalid tree at ${printable(path)}: ${msg}`);
  };
  if (!Number.isInteger(s.mode) || s.mode < 0 || s.mode > 0o7777) fail(`mode ${s.mode} out of range`);
  if (!isU32(s.uid) || !isU32(s.gid)) fail('uid/gid out of range');
  if (!Number.isSafeInteger(s.mtimeSec) || !isU32(s.mtimeNsec)) fail('mtime out of range');
  let xsize = 12;
  for (const [k, v] of s.xattrs) {
    if (k.length === 0 || k.length > 255) fail(`xattr key ${printable(k.slice(0, 40))} must be 1..255 bytes`);
    if (v.length > 0xffff) fail(`xattr ${printable(k)} value longer than 65535 bytes`);
    xsize += (4 + k.length + v.length + 3) & ~3;
  }
  if (xsize > 0x3ffff) fail('xattrs too large for one inode');
  if (inode.kind === 'dir') return;
  const d = inode.data;
  if (d.type === 'symlink') {
    if (d.target.length === 0) fail('empty symlink target');
    if (d.target.length >= PATH_MAX) fail(`symlink target of ${d.target.length} bytes is too long`);
  } else if (d.type === 'reg') {
    if (d.size < 0n || d.size > 0xffffffffffffffffn) fail('size out of range');
    if (d.content !== null) {
      if (BigInt(d.content.length) !== d.size) fail(`inline content of ${d.content.length} bytes does not match size ${d.size}`);
      if (d.content.length > INLINE_CONTENT_MAX) fail(`inline content of ${d.content.length} bytes exceeds ${INLINE_CONTENT_MAX}`);
    } else if (chunkCount(d.size) > MAX_CHUNKS) fail(`file size ${d.size} is too big`);
    if (d.payload !== null && d.payload.length >= PATH_MAX) fail('payload too long');
    if (d.digest !== null && d.digest.length !== 32 && d.digest.length !== 64) fail(`digest of ${d.digest.length} bytes`);
  } else if (d.type === 'chr' || d.type === 'blk') {
    if (!Number.isSafeInteger(d.rdev) || d.rdev < 0) fail('rdev out of range');
  }
  if (inode.nlink !== undefined && !isU32(inode.nlink)) fail('nlink out of range');
}

/** Throws a FormatError naming the first problem that would make the tree unwritable. */
export function validateTree(root: Dir): void {
  const dirs = new Set<Dir>([root]);
  const seenLeaves = new Set<Inode>();
  checkInode('/', root);
  const stack: Array<[Dir, string]> = [[root, '']];
  while (stack.length > 0) {
    const [dir, prefix] = stack.pop()!;
    for (const [k, child] of dir.entries) {
      const p = prefix + '/' + k;
      checkName(k);
      if (child.kind === 'dir') {
        if (dirs.has(child)) throw new FormatError(`invalid tree at ${printable(p)}: directory appears twice (hardlinked directory or cycle)`);
        dirs.add(child);
        checkInode(p, child);
        stack.push([child, p]);
      } else if (!seenLeaves.has(child)) {
        seenLeaves.add(child);
        checkInode(p, child);
      }
    }
  }
}
