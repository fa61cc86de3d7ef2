/**
 * Owns decoding one EROFS inode of a composefs image: the compact or extended
 * header, its xattrs (inline and shared, with full key names), its directory
 * entries, and its flat data (inline content, symlink target). Every offset is
 * checked against the image, and every error names the nid and the offset.
 */
import { FormatError } from '../../util/errors.js';
import {
  DIRENT_SIZE,
  EROFS_BLKSIZ,
  EROFS_ISLOT_BITS,
  INODE_COMPACT_SIZE,
  INODE_EXTENDED_SIZE,
  LAYOUT_CHUNK_BASED,
  LAYOUT_FLAT_INLINE,
  LAYOUT_FLAT_PLAIN,
  NAME_MAX,
  S_IFBLK,
  S_IFCHR,
  S_IFMT,
  XATTR_ENTRY_SIZE,
  XATTR_HEADER_SIZE,
  XATTR_PREFIXES,
  type ImageView,
  type Superblock,
} from './reader-format.js';

export interface RawXattr {
  /** Full key (prefix + suffix) as a byte string (latin1). */
  key: string;
  value: Buffer;
  /** Absolute image offset of the value (C's redirect quirk reads past it). */
  valueOffset: number;
}

export interface RawInode {
  nid: number;
  /** Byte offset of the inode header in the image. */
  offset: number;
  extended: boolean;
  layout: number;
  /** st_mode with the type bits. */
  mode: number;
  nlink: number;
  size: bigint;
  uid: number;
  gid: number;
  /** Signed seconds (compact inodes take the superblock build time). */
  mtimeSec: bigint;
  mtimeNsec: number;
  /** The raw i_u field: block address, rdev or chunk format. */
  rawU: number;
  /** The stored inode number (the BFS index in V0/V1, the nid in V2). */
  ino: number;
  /** Xattrs in C's read order: inline entries first, then shared ones. */
  xattrs: RawXattr[];
  /** Offset of the inline tail (after the header and the xattrs). */
  inlineOffset: number;
}

export interface RawDirent {
  /** Name as a byte string (latin1). */
  name: string;
  nid: number;
  fileType: number;
}

function fail(nid: number, off: number, msg: string): never {
  throw new FormatError(`EROFS image: ${msg} (nid ${nid}, offset ${off})`);
}

function roundUp4(n: number): number {
  return (n + 3) & ~3;
}

function readXattrEntry(view: ImageView, p: number, limit: number, nid: number, what: string): { x: RawXattr; next: number } {
  const nameLen = view.u8(p, `${what} name length (nid ${nid})`);
  const index = view.u8(p + 1, `${what} name index (nid ${nid})`);
  const valueSize = view.u16(p + 2, `${what} value size (nid ${nid})`);
  const end = p + XATTR_ENTRY_SIZE + nameLen + valueSize;
  if (end > limit) fail(nid, p, `${what} of ${nameLen}+${valueSize} bytes overruns its area ending at ${limit}`);
  const prefix = XATTR_PREFIXES[index];
  if (prefix === undefined) fail(nid, p, `${what} has unknown name index ${index}`);
  const suffix = view.slice(p + XATTR_ENTRY_SIZE, nameLen, `${what} name (nid ${nid})`);
  const key = prefix + suffix.toString('latin1');
  if (key.length === 0) fail(nid, p, `${what} has an empty name`);
  const valueOffset = p + XATTR_ENTRY_SIZE + nameLen;
  return { x: { key, value: view.slice(valueOffset, valueSize, `${what} value (nid ${nid})`), valueOffset }, next: p + roundUp4(end - p) };
}

/** Decodes the inode at `nid` (header and xattrs; data is read on demand). */
export function readInode(view: ImageView, sb: Superblock, nid: number): RawInode {
  const offset = sb.metaBlkaddr * EROFS_BLKSIZ + nid * (1 << EROFS_ISLOT_BITS);
  if (!Number.isSafeInteger(offset) || offset >= view.length) fail(nid, offset, 'inode is past the end of the image');
  const format = view.u16(offset, `inode format (nid ${nid})`);
  const extended = (format & 1) === 1;
  const layout = (format >> 1) & 0x7;
  if ((format & ~0xf) !== 0) fail(nid, offset, `unsupported inode format 0x${format.toString(16)}`);
  if (layout !== LAYOUT_FLAT_PLAIN && layout !== LAYOUT_FLAT_INLINE && layout !== LAYOUT_CHUNK_BASED) fail(nid, offset, `unsupported data layout ${layout}`);
  const isize = extended ? INODE_EXTENDED_SIZE : INODE_COMPACT_SIZE;
  view.check(offset, isize, `inode header (nid ${nid})`);
  const b = view.buf;
  const icount = b.readUInt16LE(offset + 2);
  const mode = b.readUInt16LE(offset + 4);
  let ino: RawInode;
  if (extended) {
    ino = {
      nid,
      offset,
      extended,
      layout,
      mode,
      size: b.readBigUInt64LE(offset + 8),
      rawU: b.readUInt32LE(offset + 16),
      ino: b.readUInt32LE(offset + 20),
      uid: b.readUInt32LE(offset + 24),
      gid: b.readUInt32LE(offset + 28),
      mtimeSec: b.readBigInt64LE(offset + 32),
      mtimeNsec: b.readUInt32LE(offset + 40),
      nlink: b.readUInt32LE(offset + 44),
      xattrs: [],
      inlineOffset: 0,
    };
  } else {
    ino = {
      nid,
      offset,
      extended,
      layout,
      mode,
      nlink: b.readUInt16LE(offset + 6),
      size: BigInt(b.readUInt32LE(offset + 8)),
      rawU: b.readUInt32LE(offset + 16),
      ino: b.readUInt32LE(offset + 20),
      uid: b.readUInt16LE(offset + 24),
      gid: b.readUInt16LE(offset + 26),
      mtimeSec: BigInt.asIntN(64, sb.buildTime),
      mtimeNsec: sb.buildTimeNsec,
      xattrs: [],
      inlineOffset: 0,
    };
  }
  const xsize = icount === 0 ? 0 : XATTR_HEADER_SIZE + (icount - 1) * 4;
  const xstart = offset + isize;
  view.check(xstart, xsize, `xattr area of ${xsize} bytes (nid ${nid})`);
  ino.inlineOffset = xstart + xsize;
  if (xsize > 0) {
    const shared = b.readUInt8(xstart + 4);
    const xend = xstart + xsize;
    let p = xstart + XATTR_HEADER_SIZE + shared * 4;
    if (p > xend) fail(nid, xstart, `${shared} shared xattr references do not fit in a ${xsize}-byte xattr area`);
    while (p + XATTR_ENTRY_SIZE <= xend) {
      const { x, next } = readXattrEntry(view, p, xend, nid, 'inline xattr');
      ino.xattrs.push(x);
      p = next;
    }
    const base = sb.xattrBlkaddr * EROFS_BLKSIZ;
    for (let i = 0; i < shared; i++) {
      const id = b.readUInt32LE(xstart + XATTR_HEADER_SIZE + i * 4);
      const at = base + id * 4;
      ino.xattrs.push(readXattrEntry(view, at, view.length, nid, `shared xattr ${id}`).x);
    }
  }
  return ino;
}

export function fileTypeOf(ino: RawInode): number {
  return ino.mode & S_IFMT;
}

export function isDevice(ino: RawInode): boolean {
  const t = fileTypeOf(ino);
  return t === S_IFCHR || t === S_IFBLK;
}

/**
 * The flat data of an inode as the out-of-line block range and the inline tail.
 * Only FLAT_PLAIN and FLAT_INLINE carry data; `size` must fit in the image.
 */
export function flatData(view: ImageView, ino: RawInode, what: string): { blocks: Buffer; tail: Buffer } {
  if (ino.layout === LAYOUT_CHUNK_BASED) fail(ino.nid, ino.offset, `${what} is chunk-based, expected flat data`);
  if (ino.size > BigInt(view.length)) fail(ino.nid, ino.offset, `${what} size ${ino.size} is larger than the image`);
  const size = Number(ino.size);
  const tailSize = ino.layout === LAYOUT_FLAT_INLINE ? size % EROFS_BLKSIZ : 0;
  const blockBytes = size - tailSize;
  const blocks = blockBytes === 0 ? Buffer.alloc(0) : view.slice(ino.rawU * EROFS_BLKSIZ, blockBytes, `${what} data blocks at block ${ino.rawU} (nid ${ino.nid})`);
  const tail = view.slice(ino.inlineOffset, tailSize, `${what} inline tail (nid ${ino.nid})`);
  return { blocks, tail };
}

/** The full flat content of a regular file or symlink (blocks then tail). */
export function flatContent(view: ImageView, ino: RawInode, what: string): Buffer {
  const { blocks, tail } = flatData(view, ino, what);
  return blocks.length === 0 ? Buffer.from(tail) : Buffer.concat([blocks, tail]);
}

function readDirChunk(chunk: Buffer, chunkOffset: number, nid: number, out: RawDirent[]): void {
  if (chunk.length === 0) return;
  if (chunk.length < DIRENT_SIZE) fail(nid, chunkOffset, `directory block of ${chunk.length} bytes is too short for a dirent`);
  const first = chunk.readUInt16LE(8);
  if (first % DIRENT_SIZE !== 0 || first === 0 || first > chunk.length) fail(nid, chunkOffset, `bad first dirent name offset ${first} in a ${chunk.length}-byte directory block`);
  const n = first / DIRENT_SIZE;
  for (let i = 0; i < n; i++) {
    const at = i * DIRENT_SIZE;
    const nid64 = chunk.readBigUInt64LE(at);
    const nameOff = chunk.readUInt16LE(at + 8);
    let end: number;
    if (i + 1 < n) end = chunk.readUInt16LE(at + DIRENT_SIZE + 8);
    else {
      const z = chunk.indexOf(0, nameOff);
      end = z < 0 ? chunk.length : z;
    }
    if (nameOff < first || end < nameOff || end > chunk.length) fail(nid, chunkOffset + at, `dirent ${i} has a bad name range ${nameOff}..${end} in a ${chunk.length}-byte block`);
    const len = end - nameOff;
    if (len === 0 || len > NAME_MAX) fail(nid, chunkOffset + at, `dirent ${i} has a name of ${len} bytes`);
    if (nid64 > BigInt(Number.MAX_SAFE_INTEGER)) fail(nid, chunkOffset + at, `dirent ${i} has an absurd nid ${nid64}`);
    out.push({ name: chunk.toString('latin1', nameOff, end), nid: Number(nid64), fileType: chunk.readUInt8(at + 10) });
  }
}

/** The directory entries of a directory inode, in on-disk order, including . and .. */
export function readDirents(view: ImageView, ino: RawInode): RawDirent[] {
  const { blocks, tail } = flatData(view, ino, 'directory');
  const out: RawDirent[] = [];
  const base = ino.rawU * EROFS_BLKSIZ;
  for (let off = 0; off < blocks.length; off += EROFS_BLKSIZ) {
    readDirChunk(blocks.subarray(off, Math.min(off + EROFS_BLKSIZ, blocks.length)), base + off, ino.nid, out);
  }
  readDirChunk(tail, ino.inlineOffset, ino.nid, out);
  return out;
}
