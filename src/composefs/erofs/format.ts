/**
 * Owns the on-disk vocabulary of composefs EROFS images (composefs.md §5.3.9, §5.4):
 * the composefs header, the EROFS superblock, compact/extended inodes, xattr
 * entries and dirents, with their sizes, offsets, magic numbers and flag values,
 * the xattr name-prefix table, the XXH32-based xattr name filter, and little-endian
 * encoders that write each structure into a caller-provided Buffer.
 *
 * The writer and the reader share these definitions; nothing here allocates per byte.
 */
import { xxh32 } from './xxh32.js';

export const BLOCK_BITS = 12;
export const BLOCK_SIZE = 4096;
/** Inodes start on 32-byte slots; a nid is a byte offset / 32 (meta_blkaddr is 0). */
export const SLOT_SIZE = 32;

// ---------------------------------------------------------------- composefs header

export const COMPOSEFS_MAGIC = 0xd078629a;
/** The header's own `version` field (not the composefs format version). */
export const COMPOSEFS_HEADER_VERSION = 1;
export const COMPOSEFS_HEADER_SIZE = 32;
/** Header flag: some inode carries a POSIX ACL xattr. */
export const COMPOSEFS_FLAG_HAS_ACL = 1;

// ---------------------------------------------------------------- superblock

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 128;
export const EROFS_SUPER_MAGIC = 0xe0f5e1e2;
export const FEATURE_COMPAT_SB_CHKSUM = 1;
export const FEATURE_COMPAT_MTIME = 2;
export const FEATURE_COMPAT_XATTR_FILTER = 4;
/** Where the first inode may start: right after the superblock. */
export const INODES_START = SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE;

export interface Superblock {
  featureCompat: number;
  rootNid: number;
  inos: bigint;
  buildTime: bigint;
  buildTimeNsec: number;
  blocks: number;
  metaBlkaddr: number;
  xattrBlkaddr: number;
  featureIncompat: number;
}

/** Writes the composefs header (32 bytes) at `off`. */
export function writeComposefsHeader(buf: Buffer, off: number, flags: number, composefsVersion: number): void {
  buf.writeUInt32LE(COMPOSEFS_MAGIC, off);
  buf.writeUInt32LE(COMPOSEFS_HEADER_VERSION, off + 4);
  buf.writeUInt32LE(flags >>> 0, off + 8);
  buf.writeUInt32LE(composefsVersion >>> 0, off + 12);
}

/** Writes the EROFS superblock (128 bytes) at `off`; unlisted fields stay zero. */
export function writeSuperblock(buf: Buffer, off: number, sb: Superblock): void {
  buf.writeUInt32LE(EROFS_SUPER_MAGIC, off);
  buf.writeUInt32LE(0, off + 4); // checksum
  buf.writeUInt32LE(sb.featureCompat >>> 0, off + 8);
  buf.writeUInt8(BLOCK_BITS, off + 12);
  buf.writeUInt8(0, off + 13); // sb_extslots
  buf.writeUInt16LE(sb.rootNid, off + 14);
  buf.writeBigUInt64LE(sb.inos, off + 16);
  buf.writeBigUInt64LE(BigInt.asUintN(64, sb.buildTime), off + 24);
  buf.writeUInt32LE(sb.buildTimeNsec >>> 0, off + 32);
  buf.writeUInt32LE(sb.blocks >>> 0, off + 36);
  buf.writeUInt32LE(sb.metaBlkaddr >>> 0, off + 40);
  buf.writeUInt32LE(sb.xattrBlkaddr >>> 0, off + 44);
  // 48 uuid[16], 64 volume_name[16]
  buf.writeUInt32LE(sb.featureIncompat >>> 0, off + 80);
}

// ---------------------------------------------------------------- inodes

export const INODE_COMPACT_SIZE = 32;
export const INODE_EXTENDED_SIZE = 64;

export const LAYOUT_FLAT_PLAIN = 0;
export const LAYOUT_FLAT_INLINE = 2;
export const LAYOUT_CHUNK_BASED = 4;
/** Chunk format bits: the low 5 bits of i_u hold chunkbits - BLOCK_BITS. */
export const CHUNK_FORMAT_BLKBITS_MASK = 0x1f;
/** A chunk index entry meaning "no data" (a hole). */
export const NULL_ADDR = 0xffffffff;

/** The i_format field: layout in bits 1..3, bit 0 set for the extended form. */
export function inodeFormat(layout: number, extended: boolean): number {
  return (layout << 1) | (extended ? 1 : 0);
}

export interface InodeHeader {
  format: number;
  xattrIcount: number;
  /** Type and permission bits. */
  mode: number;
  nlink: number;
  /** A number below 2^53 on the fast path; a bigint for larger sizes. */
  size: number | bigint;
  /** Block address, rdev or chunk format, already combined. */
  u: number;
  ino: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
}

/** Writes a 32-byte compact inode; the caller has checked that every field fits. */
export function writeCompactInode(buf: Buffer, off: number, h: InodeHeader): void {
  buf.writeUInt16LE(h.format, off);
  buf.writeUInt16LE(h.xattrIcount, off + 2);
  buf.writeUInt16LE(h.mode & 0xffff, off + 4);
  buf.writeUInt16LE(h.nlink & 0xffff, off + 6);
  buf.writeUInt32LE(typeof h.size === 'number' ? h.size % 0x100000000 : Number(h.size & 0xffffffffn), off + 8);
  buf.writeUInt32LE(h.u >>> 0, off + 16);
  buf.writeUInt32LE(h.ino >>> 0, off + 20);
  buf.writeUInt16LE(h.uid & 0xffff, off + 24);
  buf.writeUInt16LE(h.gid & 0xffff, off + 26);
}

/** Writes a u64 (two's complement for a negative number) without allocating for safe integers. */
export function writeU64(buf: Buffer, off: number, v: number | bigint): void {
  if (typeof v === 'number' && v >= 0) {
    buf.writeUInt32LE(v % 0x100000000, off);
    buf.writeUInt32LE(Math.floor(v / 0x100000000), off + 4);
  } else buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), off);
}

/** Writes a 64-byte extended inode. */
export function writeExtendedInode(buf: Buffer, off: number, h: InodeHeader): void {
  buf.writeUInt16LE(h.format, off);
  buf.writeUInt16LE(h.xattrIcount, off + 2);
  buf.writeUInt16LE(h.mode & 0xffff, off + 4);
  writeU64(buf, off + 8, h.size);
  buf.writeUInt32LE(h.u >>> 0, off + 16);
  buf.writeUInt32LE(h.ino >>> 0, off + 20);
  buf.writeUInt32LE(h.uid >>> 0, off + 24);
  buf.writeUInt32LE(h.gid >>> 0, off + 28);
  writeU64(buf, off + 32, h.mtimeSec);
  buf.writeUInt32LE(h.mtimeNsec >>> 0, off + 40);
  buf.writeUInt32LE(h.nlink >>> 0, off + 44);
}

// ---------------------------------------------------------------- xattrs

/** The in-inode xattr body header: u32 name filter, u8 shared count, 7 reserved bytes. */
export const XATTR_IBODY_HEADER_SIZE = 12;
/** An xattr entry header: u8 name_len, u8 name_index, u16 value_size. */
export const XATTR_ENTRY_HEADER_SIZE = 4;
/** C mkcomposefs stops referencing shared xattrs after this many per inode (EROFS_XATTR_LONG_PREFIX). */
export const MAX_SHARED_REFS_V1 = 128;
export const XATTR_FILTER_SEED = 0x25bbe08f;

export const XATTR_INDEX_NONE = 0;
export const XATTR_INDEX_USER = 1;
export const XATTR_INDEX_POSIX_ACL_ACCESS = 2;
export const XATTR_INDEX_POSIX_ACL_DEFAULT = 3;
export const XATTR_INDEX_TRUSTED = 4;
export const XATTR_INDEX_LUSTRE = 5;
export const XATTR_INDEX_SECURITY = 6;

const PREFIXES_EPOCH1: ReadonlyArray<readonly [string, number]> = [
  ['user.', XATTR_INDEX_USER],
  ['system.posix_acl_access', XATTR_INDEX_POSIX_ACL_ACCESS],
  ['system.posix_acl_default', XATTR_INDEX_POSIX_ACL_DEFAULT],
  ['trusted.', XATTR_INDEX_TRUSTED],
  ['security.', XATTR_INDEX_SECURITY],
];
const PREFIXES_EPOCH2: ReadonlyArray<readonly [string, number]> = [...PREFIXES_EPOCH1.slice(0, 4), ['lustre.', XATTR_INDEX_LUSTRE], ['security.', XATTR_INDEX_SECURITY]];

/**
 * The prefix index of an xattr key (a latin1 byte string) and the length of the
 * prefix it strips. Epoch 1 (V0/V1) has no `lustre.`; epoch 2 (V2) does.
 */
export function xattrPrefix(key: string, epoch2 = false): { index: number; prefixLen: number } {
  for (const [p, index] of epoch2 ? PREFIXES_EPOCH2 : PREFIXES_EPOCH1) {
    if (key.startsWith(p)) return { index, prefixLen: p.length };
  }
  return { index: XATTR_INDEX_NONE, prefixLen: 0 };
}

/** Bytes taken by one xattr entry (header, suffix, value), padded to 4. */
export function xattrEntrySize(suffixLen: number, valueLen: number): number {
  return (XATTR_ENTRY_HEADER_SIZE + suffixLen + valueLen + 3) & ~3;
}

/** Writes one xattr entry at `off` and returns its padded size; `suffix` (and a string `value`) are latin1 byte strings. */
export function writeXattrEntry(buf: Buffer, off: number, index: number, suffix: string, value: Buffer | string): number {
  buf[off] = suffix.length;
  buf[off + 1] = index;
  buf.writeUInt16LE(value.length, off + 2);
  writeLatin1(buf, off + 4, suffix);
  if (typeof value === 'string') writeLatin1(buf, off + 4 + suffix.length, value);
  else value.copy(buf, off + 4 + suffix.length);
  return xattrEntrySize(suffix.length, value.length);
}

/** The xattr body size of an inode (0 without xattrs). */
export function xattrBodySize(nShared: number, localSize: number): number {
  if (nShared === 0 && localSize === 0) return 0;
  return (XATTR_IBODY_HEADER_SIZE + 4 * nShared + localSize + 3) & ~3;
}

/** i_xattr_icount for an xattr body of `size` bytes. */
export function xattrIcount(size: number): number {
  return size === 0 ? 0 : (size - XATTR_IBODY_HEADER_SIZE) / 4 + 1;
}

/** The filter bit (0..31) of an xattr name: its suffix hashed with the seed plus its prefix index. */
export function xattrFilterBit(suffix: string, index: number): number {
  return xxh32(suffix, (XATTR_FILTER_SEED + index) >>> 0) & 31;
}

// ---------------------------------------------------------------- directories

export const DIRENT_SIZE = 12;

export const FT_UNKNOWN = 0;
export const FT_REG_FILE = 1;
export const FT_DIR = 2;
export const FT_CHRDEV = 3;
export const FT_BLKDEV = 4;
export const FT_FIFO = 5;
export const FT_SOCK = 6;
export const FT_SYMLINK = 7;

/** Writes one dirent (u64 nid, u16 nameoff, u8 file_type, u8 0) at `off`. */
export function writeDirent(buf: Buffer, off: number, nid: number, nameoff: number, fileType: number): void {
  // Plain byte stores: a real image has ~100k dirents (the caller keeps `off` in bounds).
  const lo = nid >>> 0;
  const hi = Math.floor(nid / 0x100000000);
  buf[off] = lo;
  buf[off + 1] = lo >>> 8;
  buf[off + 2] = lo >>> 16;
  buf[off + 3] = lo >>> 24;
  buf[off + 4] = hi;
  buf[off + 5] = hi >>> 8;
  buf[off + 6] = hi >>> 16;
  buf[off + 7] = hi >>> 24;
  buf[off + 8] = nameoff;
  buf[off + 9] = nameoff >>> 8;
  buf[off + 10] = fileType;
}

/**
 * Writes a latin1 byte string at `off`: short ones byte by byte (names, xattr
 * keys and values: cheaper than a native call each), long ones with buf.write.
 * Returns the number of bytes written.
 */
export function writeLatin1(buf: Buffer, off: number, s: string): number {
  const n = s.length;
  if (n > 48) return buf.write(s, off, 'latin1');
  for (let i = 0; i < n; i++) buf[off + i] = s.charCodeAt(i);
  return n;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

/** The dirent file type of an inode mode. */
export function fileTypeOfMode(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return FT_REG_FILE;
    case S_IFDIR:
      return FT_DIR;
    case S_IFCHR:
      return FT_CHRDEV;
    case S_IFBLK:
      return FT_BLKDEV;
    case S_IFIFO:
      return FT_FIFO;
    case S_IFSOCK:
      return FT_SOCK;
    case S_IFLNK:
      return FT_SYMLINK;
    default:
      return FT_UNKNOWN;
  }
}

export const FS_VERITY_HASH_ALG_SHA256 = 1;
export const FS_VERITY_HASH_ALG_SHA512 = 2;

/** The overlayfs metacopy xattr value for a digest: [0, 4+len, 0, alg] + digest. */
export function metacopyValue(digest: Buffer): Buffer {
  const v = Buffer.alloc(4 + digest.length);
  v[1] = 4 + digest.length;
  v[3] = digest.length === 64 ? FS_VERITY_HASH_ALG_SHA512 : FS_VERITY_HASH_ALG_SHA256;
  digest.copy(v, 4);
  return v;
}
