/**
 * Owns composefs EROFS image generation: the public `writeErofs` (format version
 * selection as C mkcomposefs does it, composefs.md §5.2, §5.8) and the second pass
 * of the V0/V1 writer, which copies a computed layout into one preallocated Buffer
 * (composefs.md §5.3.9). V2 lives in writer-v2.ts. Byte-exact with C mkcomposefs
 * (V0, V1) and composefs-rs (V2).
 */
import { FormatError } from '../../util/errors.js';
import { fsverityHex, type VerityAlgorithm } from '../fsverity.js';
import type { Dir } from '../tree.js';
import { validateTree } from '../validate.js';
import {
  BLOCK_SIZE, COMPOSEFS_FLAG_HAS_ACL, DIRENT_SIZE, FEATURE_COMPAT_MTIME, FEATURE_COMPAT_XATTR_FILTER, INODE_COMPACT_SIZE,
  INODE_EXTENDED_SIZE, LAYOUT_CHUNK_BASED, LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN, SUPERBLOCK_OFFSET, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK,
  S_IFMT, S_IFREG, SLOT_SIZE, XATTR_IBODY_HEADER_SIZE, fileTypeOfMode, inodeFormat, writeComposefsHeader, writeCompactInode, writeDirent,
  writeExtendedInode, writeLatin1, writeSuperblock, writeXattrEntry, xattrIcount, type InodeHeader,
} from './format.js';
import { layoutEpochOne, type Layout } from './layout.js';
import { buildEpochOneTree, type EpochOneTree, type WNode } from './nodes.js';
import { writeErofsV2 } from './writer-v2.js';

export interface WriteErofsOptions {
  /** Lowest composefs format version to write (default 0, as C mkcomposefs). */
  minVersion?: number;
  /** Highest version C may bump to when the tree has a whiteout (default 1). V2 is only written when the minimum is 2. */
  maxVersion?: number;
  /** Exactly this version (overrides min/max): 0 and 1 = C mkcomposefs, 2 = composefs-rs legacy. */
  version?: 0 | 1 | 2;
}

/** True if the tree holds a user whiteout (a char device 0/0), which makes C bump V0 to V1. */
export function hasWhiteout(root: Dir): boolean {
  for (const child of root.entries.values()) {
    if (child.kind === 'dir') {
      if (hasWhiteout(child)) return true;
    } else if (child.data.type === 'chr' && child.data.rdev === 0) return true;
  }
  return false;
}

/** The composefs format version C mkcomposefs would use for `root` under `opts`. */
export function resolveVersion(root: Dir, opts: WriteErofsOptions = {}): 0 | 1 | 2 {
  const min = opts.version ?? opts.minVersion ?? 0;
  const max = Math.max(opts.version ?? opts.maxVersion ?? 1, min);
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max > 2) {
    throw new FormatError(`unsupported composefs format version range ${min}..${max} (0, 1 or 2)`);
  }
  if (min === 2) return 2;
  if (min === 0 && max >= 1 && hasWhiteout(root)) return 1;
  return min as 0 | 1;
}

/**
 * Writes `root` as a composefs EROFS image. Default: C mkcomposefs's
 * `--min-version=0 --max-version=1` (V0, bumped to V1 when the tree holds a
 * whiteout). The tree is validated first and never modified.
 * @throws FormatError if the tree is not writable or the versions are unsupported.
 */
export function writeErofs(root: Dir, opts: WriteErofsOptions = {}): Buffer {
  const version = resolveVersion(root, opts);
  validateTree(root);
  if (version === 2) return writeErofsV2(root);
  const tree = buildEpochOneTree(root, version);
  const layout = layoutEpochOne(tree);
  return emitEpochOne(tree, layout, version);
}

/** The image ID: the fs-verity digest (hex) of a whole image. */
export function erofsImageId(image: Uint8Array, alg: VerityAlgorithm = 'sha256'): string {
  return fsverityHex(image, alg);
}

function emitEpochOne(tree: EpochOneTree, layout: Layout, version: number): Buffer {
  const buf = Buffer.alloc(layout.totalSize);
  writeComposefsHeader(buf, 0, tree.hasAcl ? COMPOSEFS_FLAG_HAS_ACL : 0, version);
  writeSuperblock(buf, SUPERBLOCK_OFFSET, {
    featureCompat: FEATURE_COMPAT_MTIME | FEATURE_COMPAT_XATTR_FILTER,
    rootNid: tree.nodes[0]!.pos / SLOT_SIZE,
    inos: BigInt(tree.nodes.length),
    buildTime: BigInt(tree.minMtimeSec),
    buildTimeNsec: tree.minMtimeNsec,
    blocks: layout.totalSize / BLOCK_SIZE,
    metaBlkaddr: 0,
    xattrBlkaddr: Math.floor(layout.inodesEnd / BLOCK_SIZE),
    featureIncompat: 0,
  });
  for (const n of tree.nodes) writeInode(buf, n, layout);
  let off = layout.inodesEnd;
  for (let i = 0; i < layout.sharedKeys.length; i++) {
    const k = layout.sharedKeys[i]!;
    off += writeXattrEntry(buf, off, k.index, k.suffix, layout.sharedValues[i]!);
  }
  for (const n of tree.nodes) if (n.nBlocks > 0) writeDataBlocks(buf, n);
  return buf;
}

function writeInode(buf: Buffer, n: WNode, layout: Layout): void {
  const type = n.mode & S_IFMT;
  let dataLayout = n.tail > 0 ? LAYOUT_FLAT_INLINE : LAYOUT_FLAT_PLAIN;
  let size: number | bigint = 0;
  let u = 0;
  if (type === S_IFDIR) size = n.nBlocks * BLOCK_SIZE + n.tail;
  else if (type === S_IFREG) size = n.size < 0x20000000000000n ? Number(n.size) : n.size;
  else if (type === S_IFLNK) size = n.nBlocks === 0 ? n.tail : n.target!.length;
  if (type === S_IFCHR || type === S_IFBLK) u = n.rdev % 0x100000000;
  else if (n.nBlocks > 0) u = n.blkaddr;
  if (type === S_IFREG && n.chunkCount > 0) {
    dataLayout = LAYOUT_CHUNK_BASED;
    u = ((u & 0xffff0000) | (n.chunkBits - 12)) >>> 0;
  }
  const h: InodeHeader = {
    format: inodeFormat(dataLayout, !n.compact),
    xattrIcount: xattrIcount(n.xattrSize),
    mode: n.mode,
    nlink: n.nlink,
    size,
    u,
    ino: n.ino,
    uid: n.uid,
    gid: n.gid,
    mtimeSec: n.mtimeSec,
    mtimeNsec: n.mtimeNsec,
  };
  let off = n.pos;
  if (n.compact) {
    writeCompactInode(buf, off, h);
    off += INODE_COMPACT_SIZE;
  } else {
    writeExtendedInode(buf, off, h);
    off += INODE_EXTENDED_SIZE;
  }
  if (n.xattrSize > 0) {
    const x = n.x;
    const shared = layout.sharedOffsets;
    const { keyOf, keys } = layout;
    const sharedBase = layout.inodesEnd % BLOCK_SIZE;
    let filter = 0;
    for (let j = 0, g = n.xbase; j < x.length; j += 2, g++) filter |= 1 << keys[keyOf[g]!]!.filterBit;
    buf.writeUInt32LE(~filter >>> 0, off);
    buf[off + 4] = n.nShared;
    let o = off + XATTR_IBODY_HEADER_SIZE;
    for (let j = 0, s = n.xbase; j < x.length; j += 2, s++) {
      if (shared[s]! < 0) continue;
      buf.writeUInt32LE((sharedBase + shared[s]!) / 4, o);
      o += 4;
    }
    for (let j = 0, g = n.xbase; j < x.length; j += 2, g++) {
      if (shared[g]! >= 0) continue;
      const k = keys[keyOf[g]!]!;
      o += writeXattrEntry(buf, o, k.index, k.suffix, x[j + 1]!);
    }
    off += n.xattrSize;
  }
  if (n.tail === 0) return;
  if (type === S_IFDIR) {
    const names = n.names!;
    let first = 0;
    let used = 0;
    for (let i = 0; i < names.length; i++) {
      const len = DIRENT_SIZE + names[i]!.length;
      if (used + len > BLOCK_SIZE) {
        first = i;
        used = 0;
      }
      used += len;
    }
    writeDirChunk(buf, off, n, first, names.length);
  } else if (type === S_IFLNK) n.target!.copy(buf, off);
  else if (n.content !== null) n.content.copy(buf, off, n.content.length - n.tail);
  else buf.fill(0xff, off, off + 4 * n.chunkCount);
}

function writeDirChunk(buf: Buffer, off: number, dir: WNode, from: number, to: number): void {
  const names = dir.names!;
  const kids = dir.kids!;
  let nameoff = (to - from) * DIRENT_SIZE;
  let d = off;
  for (let i = from; i < to; i++) {
    const kid = kids[i]!;
    writeDirent(buf, d, kid.pos / SLOT_SIZE, nameoff, fileTypeOfMode(kid.mode));
    d += DIRENT_SIZE;
    nameoff += writeLatin1(buf, off + nameoff, names[i]!);
  }
}

function writeDataBlocks(buf: Buffer, n: WNode): void {
  const type = n.mode & S_IFMT;
  let off = n.blkaddr * BLOCK_SIZE;
  if (type === S_IFDIR) {
    const names = n.names!;
    let first = 0;
    let used = 0;
    let written = 0;
    for (let i = 0; i < names.length; i++) {
      const len = DIRENT_SIZE + names[i]!.length;
      if (used + len > BLOCK_SIZE) {
        writeDirChunk(buf, off, n, first, i);
        off += BLOCK_SIZE;
        written++;
        first = i;
        used = 0;
      }
      used += len;
    }
    if (written < n.nBlocks) writeDirChunk(buf, off, n, first, names.length);
  } else if (type === S_IFLNK) n.target!.copy(buf, off, 0, Math.min(n.target!.length, BLOCK_SIZE));
  else if (n.content !== null) n.content.copy(buf, off, 0, Math.min(n.content.length, BLOCK_SIZE));
  else buf.fill(0xff, off, off + BLOCK_SIZE);
}
