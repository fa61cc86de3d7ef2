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
  BLOCK_SIZE,
  COMPOSEFS_FLAG_HAS_ACL,
  DIRENT_SIZE,
  FEATURE_COMPAT_MTIME,
  FEATURE_COMPAT_XATTR_FILTER,
  INODE_COMPACT_SIZE,
  INODE_EXTENDED_SIZE,
  LAYOUT_CHUNK_BASED,
  LAYOUT_FLAT_INLINE,
  LAYOUT_FLAT_PLAIN,
  SUPERBLOCK_OFFSET,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SLOT_SIZE,
  XATTR_IBODY_HEADER_SIZE,
  fileTypeOfMode,
  inodeFormat,
  writeComposefsHeader,
  writeCompactInode,
  writeDirent,
  writeExtendedInode,
  writeSuperblock,
  writeXattrEntry,
  xattrFilterBit,
  xattrIcount,
  xattrPrefix,
  type InodeHeader,
} from './format.js';
import { layoutEpochOne, type Layout, type PlacedInode } from './layout.js';
import { buildEpochOneTree, hasWhiteout, type DirEntry } from './nodes.js';
import { writeErofsV2 } from './writer-v2.js';

export interface WriteErofsOptions {
  /** Lowest composefs format version to write (default 0, as C mkcomposefs). */
  minVersion?: number;
  /** Highest version C may bump to when the tree has a whiteout (default 1). */
  maxVersion?: number;
  /** Exactly this version (overrides min/max): 0 and 1 = C mkcomposefs, 2 = composefs-rs legacy. */
  version?: 0 | 1 | 2;
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
  return emitEpochOne(layout, version, tree.hasAcl, tree.minMtimeSec, tree.minMtimeNsec);
}

/** The image ID: the fs-verity digest (hex) of a whole image. */
export function erofsImageId(image: Uint8Array, alg: VerityAlgorithm = 'sha256'): string {
  return fsverityHex(image, alg);
}

function emitEpochOne(layout: Layout, version: number, hasAcl: boolean, minSec: number, minNsec: number): Buffer {
  const buf = Buffer.alloc(layout.totalSize);
  writeComposefsHeader(buf, 0, hasAcl ? COMPOSEFS_FLAG_HAS_ACL : 0, version);
  writeSuperblock(buf, SUPERBLOCK_OFFSET, {
    featureCompat: FEATURE_COMPAT_MTIME | FEATURE_COMPAT_XATTR_FILTER,
    rootNid: layout.inodes[0]!.node.pos / SLOT_SIZE,
    inos: BigInt(layout.inodes.length),
    buildTime: BigInt(minSec),
    buildTimeNsec: minNsec,
    blocks: layout.totalSize / BLOCK_SIZE,
    metaBlkaddr: 0,
    xattrBlkaddr: Math.floor(layout.inodesEnd / BLOCK_SIZE),
    featureIncompat: 0,
  });
  const sharedBase = layout.inodesEnd % BLOCK_SIZE;
  const filterBits = new Map<string, number>();
  for (const p of layout.inodes) writeInode(buf, p, sharedBase, filterBits);
  let off = layout.inodesEnd;
  for (let i = 0; i < layout.sharedKeys.length; i++) off += writeXattr(buf, off, layout.sharedKeys[i]!, layout.sharedValues[i]!);
  for (const p of layout.inodes) if (p.nBlocks > 0) writeDataBlocks(buf, p);
  return buf;
}

function writeXattr(buf: Buffer, off: number, key: string, value: string): number {
  const { index, prefixLen } = xattrPrefix(key);
  return writeXattrEntry(buf, off, index, key.slice(prefixLen), value);
}

/** The bit a key sets in the inode's xattr name filter (cached: few distinct keys, many inodes). */
function filterBit(key: string, cache: Map<string, number>): number {
  let bit = cache.get(key);
  if (bit === undefined) {
    const { index, prefixLen } = xattrPrefix(key);
    bit = xattrFilterBit(key.slice(prefixLen), index);
    cache.set(key, bit);
  }
  return bit;
}

function writeInode(buf: Buffer, p: PlacedInode, sharedBase: number, filterBits: Map<string, number>): void {
  const n = p.node;
  const type = n.mode & S_IFMT;
  let layout = p.tail > 0 ? LAYOUT_FLAT_INLINE : LAYOUT_FLAT_PLAIN;
  let size = 0n;
  let u = 0;
  if (type === S_IFDIR) size = BigInt(p.nBlocks * BLOCK_SIZE + p.tail);
  else if (type === S_IFREG) size = n.size;
  else if (type === S_IFLNK) size = p.nBlocks === 0 ? BigInt(p.tail) : n.size;
  if (type === S_IFCHR || type === S_IFBLK) u = n.rdev % 0x100000000;
  else if (p.nBlocks > 0) u = p.blkaddr;
  if (type === S_IFREG && p.chunkCount > 0) {
    layout = LAYOUT_CHUNK_BASED;
    u = ((u & 0xffff0000) | (p.chunkBits - 12)) >>> 0;
  }
  const h: InodeHeader = {
    format: inodeFormat(layout, !p.compact),
    xattrIcount: xattrIcount(p.xattrSize),
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
  if (p.compact) {
    writeCompactInode(buf, off, h);
    off += INODE_COMPACT_SIZE;
  } else {
    writeExtendedInode(buf, off, h);
    off += INODE_EXTENDED_SIZE;
  }
  if (p.shared !== null) {
    const { xk, xv } = n;
    const shared = p.shared;
    let filter = 0;
    for (const k of xk) filter |= 1 << filterBit(k, filterBits);
    buf.writeUInt32LE(~filter >>> 0, off);
    buf[off + 4] = p.nShared;
    let o = off + XATTR_IBODY_HEADER_SIZE;
    for (let j = 0; j < xk.length; j++) {
      if (shared[j]! < 0) continue;
      buf.writeUInt32LE((sharedBase + shared[j]!) / 4, o);
      o += 4;
    }
    for (let j = 0; j < xk.length; j++) if (shared[j]! < 0) o += writeXattr(buf, o, xk[j]!, xv[j]!);
    off += p.xattrSize;
  }
  if (p.tail === 0) return;
  if (type === S_IFDIR) {
    const entries = n.entries!;
    let first = 0;
    let used = 0;
    for (let i = 0; i < entries.length; i++) {
      const len = DIRENT_SIZE + entries[i]!.name.length;
      if (used + len > BLOCK_SIZE) {
        first = i;
        used = 0;
      }
      used += len;
    }
    writeDirChunk(buf, off, entries, first, entries.length);
  } else if (type === S_IFLNK) n.target!.copy(buf, off);
  else if (n.content !== null) n.content.copy(buf, off, n.content.length - p.tail);
  else buf.fill(0xff, off, off + 4 * p.chunkCount);
}

function writeDirChunk(buf: Buffer, off: number, entries: DirEntry[], from: number, to: number): void {
  let nameoff = (to - from) * DIRENT_SIZE;
  let d = off;
  for (let i = from; i < to; i++) {
    const e = entries[i]!;
    writeDirent(buf, d, e.node.pos / SLOT_SIZE, nameoff, fileTypeOfMode(e.node.mode));
    d += DIRENT_SIZE;
    nameoff += buf.write(e.name, off + nameoff, 'latin1');
  }
}

function writeDataBlocks(buf: Buffer, p: PlacedInode): void {
  const n = p.node;
  const type = n.mode & S_IFMT;
  let off = p.blkaddr * BLOCK_SIZE;
  if (type === S_IFDIR) {
    const entries = n.entries!;
    let first = 0;
    let used = 0;
    let written = 0;
    for (let i = 0; i < entries.length; i++) {
      const len = DIRENT_SIZE + entries[i]!.name.length;
      if (used + len > BLOCK_SIZE) {
        writeDirChunk(buf, off, entries, first, i);
        off += BLOCK_SIZE;
        written++;
        first = i;
        used = 0;
      }
      used += len;
    }
    if (written < p.nBlocks) writeDirChunk(buf, off, entries, first, entries.length);
  } else if (type === S_IFLNK) n.target!.copy(buf, off, 0, Math.min(n.target!.length, BLOCK_SIZE));
  else if (n.content !== null) n.content.copy(buf, off, 0, Math.min(n.content.length, BLOCK_SIZE));
  else buf.fill(0xff, off, off + BLOCK_SIZE);
}
