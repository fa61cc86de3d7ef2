/**
 * Owns reading a composefs EROFS image (V0, V1 or V2) back into the tree model
 * (composefs.md §5.5) and listing the objects an image references (for GC).
 *
 * What the reader undoes from the writer's rewrite pass (§5.3.2):
 * - V0/V1: the 256 root whiteout stubs (raw char devices 0/0) are dropped; an
 *   escaped whiteout (a regular file with `trusted.overlay.overlay.whiteout`)
 *   becomes a char device 0/0 again, and the markers the writer put on it and on
 *   its parent (`*.overlay.whiteout(s)`, and for V1 the `opaque`="x" pair) are
 *   dropped. The markers are only dropped from a directory that really holds an
 *   escaped whiteout, so a user's own xattrs of those names elsewhere survive.
 * - V2: there are no stubs and no whiteout escaping; a char device 0/0 is kept.
 * - All versions: `trusted.overlay.overlay.X` is unescaped to `trusted.overlay.X`;
 *   every other `trusted.overlay.*` xattr (root `opaque`=y, metacopy, redirect) is
 *   internal and dropped. A regular file's metacopy digest and redirect path
 *   become its `digest` and `payload` (the redirect minus its leading "/").
 * - A leaf keeps the nlink stored in the image; hardlinks (one nid in several
 *   directories) become one shared Leaf object.
 */
import { FormatError } from '../../util/errors.js';
import { Dir, Leaf, checkName, makeStat, printable, type LeafData, type Stat } from '../tree.js';
import { decodeImage, type DecodedImage } from './image-walk.js';
import {
  LAYOUT_CHUNK_BASED,
  OVERLAY_ESCAPED_PREFIX,
  OVERLAY_PREFIX,
  PATH_MAX,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
  XATTR_ESCAPED_OPAQUE,
  XATTR_ESCAPED_WHITEOUT,
  XATTR_ESCAPED_WHITEOUTS,
  XATTR_METACOPY,
  XATTR_REDIRECT,
  XATTR_USER_OPAQUE,
  XATTR_USER_WHITEOUT,
  XATTR_USER_WHITEOUTS,
} from './reader-format.js';
import { fileTypeOf, flatContent, type RawInode, type RawXattr } from './reader-inode.js';

/** The digest of a valid overlay metacopy value: [0, len, 0, alg] + digest (alg 1 = sha256, 2 = sha512). */
export function metacopyDigest(value: Buffer): Buffer | null {
  if (value.length !== 36 && value.length !== 68) return null;
  const alg = value.length === 36 ? 1 : 2;
  if (value[0] !== 0 || value[1] !== value.length || value[2] !== 0 || value[3] !== alg) return null;
  return Buffer.from(value.subarray(4));
}

/** The object id (lowercase hex) named by a redirect value "/xx/rest", or null if it is not an object path. */
export function redirectObjectId(value: Buffer): string | null {
  const s = value.toString('latin1').replace(/^\//, '');
  const m = /^([0-9a-fA-F]{2})\/([0-9a-fA-F]{62}|[0-9a-fA-F]{126})$/.exec(s);
  return m === null ? null : (m[1]! + m[2]!).toLowerCase();
}

function isEscapedWhiteout(ino: RawInode): boolean {
  return fileTypeOf(ino) === S_IFREG && ino.xattrs.some((x) => x.key === XATTR_ESCAPED_WHITEOUT);
}

function lastXattr(xattrs: readonly RawXattr[], key: string): RawXattr | undefined {
  for (let i = xattrs.length - 1; i >= 0; i--) if (xattrs[i]!.key === key) return xattrs[i];
  return undefined;
}

interface Ctx {
  img: DecodedImage;
  epoch1: boolean;
}

function toStat(ino: RawInode, drop: ReadonlySet<string>): Stat {
  if (ino.mtimeSec > BigInt(Number.MAX_SAFE_INTEGER) || ino.mtimeSec < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FormatError(`EROFS image: mtime ${ino.mtimeSec} out of range (nid ${ino.nid}, offset ${ino.offset})`);
  }
  const stat = makeStat({ mode: ino.mode & 0o7777, uid: ino.uid, gid: ino.gid, mtimeSec: Number(ino.mtimeSec), mtimeNsec: ino.mtimeNsec });
  for (const x of ino.xattrs) {
    let key = x.key;
    if (drop.has(key)) continue;
    if (key.startsWith(OVERLAY_ESCAPED_PREFIX)) key = OVERLAY_PREFIX + key.slice(OVERLAY_ESCAPED_PREFIX.length);
    else if (key.startsWith(OVERLAY_PREFIX)) continue;
    stat.xattrs.set(key, Buffer.from(x.value));
  }
  return stat;
}

function leafData(ctx: Ctx, ino: RawInode): LeafData {
  const t = fileTypeOf(ino);
  const fail = (msg: string): never => {
    throw new FormatError(`EROFS image: ${msg} (nid ${ino.nid}, offset ${ino.offset})`);
  };
  switch (t) {
    case S_IFREG: {
      const redirect = lastXattr(ino.xattrs, XATTR_REDIRECT);
      const metacopy = lastXattr(ino.xattrs, XATTR_METACOPY);
      let payload: Buffer | null = null;
      if (redirect !== undefined) {
        const v = redirect.value;
        payload = Buffer.from(v.length > 0 && v[0] === 0x2f ? v.subarray(1) : v);
      }
      const digest = metacopy === undefined ? null : metacopyDigest(metacopy.value);
      let content: Buffer | null = null;
      if (ino.layout !== LAYOUT_CHUNK_BASED && ino.size > 0n) content = flatContent(ctx.img.view, ino, 'regular file');
      return { type: 'reg', size: ino.size, content, payload, digest };
    }
    case S_IFLNK: {
      if (ino.size >= BigInt(PATH_MAX)) fail(`symlink target of ${ino.size} bytes is too long`);
      return { type: 'symlink', target: flatContent(ctx.img.view, ino, 'symlink') };
    }
    case S_IFCHR:
    case S_IFBLK:
      return { type: t === S_IFCHR ? 'chr' : 'blk', rdev: ino.rawU };
    case S_IFIFO:
      return { type: 'fifo' };
    case S_IFSOCK:
      return { type: 'sock' };
    default:
      return fail(`unknown file type in mode 0${ino.mode.toString(8)}`);
  }
}

const WHITEOUT_DROP = new Set([XATTR_ESCAPED_WHITEOUT, XATTR_USER_WHITEOUT]);
const NO_DROP = new Set<string>();

/** The xattrs the writer added to a directory because it holds an escaped whiteout. */
function dirMarkers(ctx: Ctx, ino: RawInode): ReadonlySet<string> {
  const entries = ctx.img.dirs.get(ino.nid) ?? [];
  if (!entries.some((e) => isEscapedWhiteout(ctx.img.inodes.get(e.nid)!))) return NO_DROP;
  const drop = new Set([XATTR_ESCAPED_WHITEOUTS, XATTR_USER_WHITEOUTS]);
  if (ctx.img.sb.composefsVersion >= 1) {
    const isX = (k: string): boolean => lastXattr(ino.xattrs, k)?.value.toString('latin1') === 'x';
    if (isX(XATTR_ESCAPED_OPAQUE)) drop.add(XATTR_ESCAPED_OPAQUE);
    if (isX(XATTR_USER_OPAQUE)) drop.add(XATTR_USER_OPAQUE);
  }
  return drop;
}

function buildLeaf(ctx: Ctx, ino: RawInode): Leaf {
  if (ctx.epoch1 && isEscapedWhiteout(ino)) {
    const leaf = new Leaf(toStat(ino, WHITEOUT_DROP), { type: 'chr', rdev: 0 });
    leaf.nlink = ino.nlink;
    return leaf;
  }
  const leaf = new Leaf(toStat(ino, NO_DROP), leafData(ctx, ino));
  leaf.nlink = ino.nlink;
  return leaf;
}

/**
 * Reads a composefs EROFS image into a tree.
 * @throws FormatError naming the problem and its nid/offset for a malformed or hostile image.
 */
export function readErofs(image: Buffer): Dir {
  const img = decodeImage(image);
  const version = img.sb.composefsVersion;
  if (version > 2) throw new FormatError(`EROFS image: unsupported composefs_version ${version} at offset 12`);
  const ctx: Ctx = { img, epoch1: version < 2 };
  const rootIno = img.inodes.get(img.rootNid)!;
  const root = new Dir(toStat(rootIno, ctx.epoch1 ? dirMarkers(ctx, rootIno) : NO_DROP));
  const leaves = new Map<number, Leaf>();
  const dirNodes = new Map<number, Dir>([[img.rootNid, root]]);
  const stack: Array<[Dir, RawInode]> = [[root, rootIno]];
  while (stack.length > 0) {
    const [dir, dino] = stack.pop()!;
    for (const e of img.dirs.get(dino.nid)!) {
      const ino = img.inodes.get(e.nid)!;
      const t = fileTypeOf(ino);
      if (ctx.epoch1 && t === S_IFCHR && ino.rawU === 0) {
        if (ino.nlink > 1) throw new FormatError(`EROFS image: whiteout stub ${printable(e.name)} has nlink ${ino.nlink} (nid ${ino.nid}, offset ${ino.offset})`);
        continue;
      }
      try {
        checkName(e.name);
      } catch (err) {
        throw new FormatError(`EROFS image: bad entry name in the directory at nid ${dino.nid}: ${(err as Error).message}`);
      }
      if (t === S_IFDIR) {
        const child = new Dir(toStat(ino, ctx.epoch1 ? dirMarkers(ctx, ino) : NO_DROP));
        dir.setKey(e.name, child);
        dirNodes.set(e.nid, child);
        stack.push([child, ino]);
        continue;
      }
      let leaf = leaves.get(e.nid);
      if (leaf === undefined) {
        leaf = buildLeaf(ctx, ino);
        leaves.set(e.nid, leaf);
      }
      dir.setKey(e.name, leaf);
    }
  }
  if (ctx.epoch1) restoreHomes(img, dirNodes, leaves);
  return root;
}

/**
 * Marks which entry of each hardlinked leaf C numbered (Leaf.home), so the
 * writer numbers it at the same place again. V0/V1 number inodes in BFS order
 * and give a directory's real children consecutive numbers in name order, so
 * walking the directories in inode order and matching each entry's stored ino
 * against the next expected number finds the real entries. An image that does
 * not follow this (not written by mkcomposefs) just keeps the default: the first
 * occurrence in DFS order.
 */
function restoreHomes(img: DecodedImage, dirNodes: ReadonlyMap<number, Dir>, leaves: ReadonlyMap<number, Leaf>): void {
  const counts = new Map<number, number>();
  for (const entries of img.dirs.values()) for (const e of entries) counts.set(e.nid, (counts.get(e.nid) ?? 0) + 1);
  if (![...counts.values()].some((n) => n > 1)) return;
  const dirs = [...img.dirs.keys()].map((nid) => img.inodes.get(nid)!).sort((a, b) => a.ino - b.ino);
  if (dirs[0]?.nid !== img.rootNid || dirs[0].ino !== 0) return;
  const homes = new Map<Leaf, { dir: Dir; key: string }>();
  let expected = 1;
  for (const d of dirs) {
    for (const e of img.dirs.get(d.nid)!) {
      if (img.inodes.get(e.nid)!.ino !== expected) continue;
      expected++;
      const leaf = leaves.get(e.nid);
      if (leaf !== undefined && (counts.get(e.nid) ?? 0) > 1 && !homes.has(leaf)) homes.set(leaf, { dir: dirNodes.get(d.nid)!, key: e.name });
    }
  }
  for (const [leaf, home] of homes) leaf.home = home;
}

/**
 * Every object a composefs image references, as lowercase hex object ids
 * (64 hex digits for sha256, 128 for sha512; no "xx/" split). An id comes from a
 * valid `trusted.overlay.metacopy` digest or from a `trusted.overlay.redirect`
 * that is an object path "/xx/rest"; both are collected when both are present,
 * so a GC that keeps this set never drops a file the image can open.
 * @throws FormatError for a malformed image.
 */
export function collectObjects(image: Buffer): Set<string> {
  const img = decodeImage(image);
  const out = new Set<string>();
  for (const ino of img.inodes.values()) {
    for (const x of ino.xattrs) {
      if (x.key === XATTR_METACOPY) {
        const d = metacopyDigest(x.value);
        if (d !== null) out.add(d.toString('hex'));
      } else if (x.key === XATTR_REDIRECT) {
        const id = redirectObjectId(x.value);
        if (id !== null) out.add(id);
      }
    }
  }
  return out;
}
