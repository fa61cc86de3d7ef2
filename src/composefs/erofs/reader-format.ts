/**
 * Owns the on-disk constants the EROFS reader needs (composefs.md §5.3.5, §5.3.9)
 * and the bounds-checked view of an image buffer: every read names what it was
 * reading and where, so a hostile image fails with a FormatError, never a
 * RangeError or an out-of-bounds read. Also parses the composefs header and the
 * EROFS superblock.
 *
 * The on-disk constants come from the writer's format.ts; this module re-exports
 * the ones the reader uses under the reader's names.
 */
import { FormatError } from '../../util/errors.js';
import { BLOCK_BITS, BLOCK_SIZE, COMPOSEFS_HEADER_VERSION, COMPOSEFS_MAGIC, EROFS_SUPER_MAGIC, SUPERBLOCK_OFFSET } from './format.js';

export {
  COMPOSEFS_MAGIC,
  COMPOSEFS_HEADER_VERSION,
  EROFS_SUPER_MAGIC,
  INODE_COMPACT_SIZE,
  INODE_EXTENDED_SIZE,
  DIRENT_SIZE,
  LAYOUT_FLAT_PLAIN,
  LAYOUT_FLAT_INLINE,
  LAYOUT_CHUNK_BASED,
  S_IFMT,
  S_IFDIR,
  S_IFREG,
  S_IFLNK,
  S_IFCHR,
  S_IFBLK,
  S_IFIFO,
  S_IFSOCK,
  SUPERBLOCK_OFFSET as EROFS_SUPER_OFFSET,
  BLOCK_BITS as EROFS_BLKSIZ_BITS,
  BLOCK_SIZE as EROFS_BLKSIZ,
  XATTR_IBODY_HEADER_SIZE as XATTR_HEADER_SIZE,
  XATTR_ENTRY_HEADER_SIZE as XATTR_ENTRY_SIZE,
} from './format.js';
/** An inode slot is 32 bytes: nid × 32 is the inode's offset from meta_blkaddr. */
export const EROFS_ISLOT_BITS = 5;
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** Xattr name prefixes by EROFS name index; index 0 stores the whole key as the suffix. */
export const XATTR_PREFIXES: Readonly<Record<number, string>> = {
  0: '',
  1: 'user.',
  2: 'system.posix_acl_access',
  3: 'system.posix_acl_default',
  4: 'trusted.',
  5: 'lustre.',
  6: 'security.',
};

export const OVERLAY_PREFIX = 'trusted.overlay.';
export const OVERLAY_ESCAPED_PREFIX = 'trusted.overlay.overlay.';
export const XATTR_METACOPY = 'trusted.overlay.metacopy';
export const XATTR_REDIRECT = 'trusted.overlay.redirect';
export const XATTR_ESCAPED_WHITEOUT = 'trusted.overlay.overlay.whiteout';
export const XATTR_ESCAPED_WHITEOUTS = 'trusted.overlay.overlay.whiteouts';
export const XATTR_ESCAPED_OPAQUE = 'trusted.overlay.overlay.opaque';
export const XATTR_USER_WHITEOUT = 'user.overlay.whiteout';
export const XATTR_USER_WHITEOUTS = 'user.overlay.whiteouts';
export const XATTR_USER_OPAQUE = 'user.overlay.opaque';

/** A bounds-checked little-endian view of an image. */
export class ImageView {
  constructor(readonly buf: Buffer) {}

  get length(): number {
    return this.buf.length;
  }

  /** Throws unless [off, off+len) lies inside the image. */
  check(off: number, len: number, what: string): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.buf.length) {
      throw new FormatError(`EROFS image: ${what} at offset ${off} (${len} bytes) is past the end of the ${this.buf.length}-byte image`);
    }
  }
  u8(off: number, what: string): number {
    this.check(off, 1, what);
    return this.buf.readUInt8(off);
  }
  u16(off: number, what: string): number {
    this.check(off, 2, what);
    return this.buf.readUInt16LE(off);
  }
  u32(off: number, what: string): number {
    this.check(off, 4, what);
    return this.buf.readUInt32LE(off);
  }
  u64(off: number, what: string): bigint {
    this.check(off, 8, what);
    return this.buf.readBigUInt64LE(off);
  }
  /** A copy-free slice; throws if it does not fit. */
  slice(off: number, len: number, what: string): Buffer {
    this.check(off, len, what);
    return this.buf.subarray(off, off + len);
  }
}

export interface Superblock {
  /** The composefs header's composefs_version (0, 1: epoch 1 with stubs; 2: legacy). */
  composefsVersion: number;
  /** The composefs header flags (bit 0: has ACLs). */
  flags: number;
  rootNid: number;
  inos: bigint;
  buildTime: bigint;
  buildTimeNsec: number;
  blocks: number;
  metaBlkaddr: number;
  xattrBlkaddr: number;
  featureCompat: number;
  featureIncompat: number;
}

/** Checks the composefs header and the EROFS superblock and returns their fields. */
export function parseSuperblock(view: ImageView): Superblock {
  if (view.length < BLOCK_SIZE) throw new FormatError(`EROFS image: ${view.length} bytes is too small (at least ${BLOCK_SIZE} expected)`);
  const magic = view.u32(0, 'composefs header magic');
  if (magic !== COMPOSEFS_MAGIC) throw new FormatError(`EROFS image: bad composefs magic 0x${magic.toString(16)} at offset 0 (expected 0x${COMPOSEFS_MAGIC.toString(16)})`);
  const version = view.u32(4, 'composefs header version');
  if (version !== COMPOSEFS_HEADER_VERSION) throw new FormatError(`EROFS image: unsupported composefs header version ${version} at offset 4`);
  const flags = view.u32(8, 'composefs header flags');
  const composefsVersion = view.u32(12, 'composefs_version');
  const sb = SUPERBLOCK_OFFSET;
  const emagic = view.u32(sb, 'EROFS superblock magic');
  if (emagic !== EROFS_SUPER_MAGIC) throw new FormatError(`EROFS image: bad EROFS magic 0x${emagic.toString(16)} at offset ${sb} (expected 0x${EROFS_SUPER_MAGIC.toString(16)})`);
  const blkszbits = view.u8(sb + 12, 'blkszbits');
  if (blkszbits !== BLOCK_BITS) throw new FormatError(`EROFS image: unsupported block size bits ${blkszbits} at offset ${sb + 12} (only 12 is supported)`);
  const out: Superblock = {
    composefsVersion,
    flags,
    featureCompat: view.u32(sb + 8, 'feature_compat'),
    rootNid: view.u16(sb + 14, 'root_nid'),
    inos: view.u64(sb + 16, 'inos'),
    buildTime: view.u64(sb + 24, 'build_time'),
    buildTimeNsec: view.u32(sb + 32, 'build_time_nsec'),
    blocks: view.u32(sb + 36, 'blocks'),
    metaBlkaddr: view.u32(sb + 40, 'meta_blkaddr'),
    xattrBlkaddr: view.u32(sb + 44, 'xattr_blkaddr'),
    featureIncompat: view.u32(sb + 80, 'feature_incompat'),
  };
  if (out.metaBlkaddr * BLOCK_SIZE >= view.length) throw new FormatError(`EROFS image: meta_blkaddr ${out.metaBlkaddr} at offset ${sb + 40} is past the end of the image`);
  if (out.xattrBlkaddr * BLOCK_SIZE >= view.length) throw new FormatError(`EROFS image: xattr_blkaddr ${out.xattrBlkaddr} at offset ${sb + 44} is past the end of the image`);
  return out;
}
