/**
 * Owns the C `composefs-info` views of an image (ls, dump, objects,
 * missing-objects), byte-identical to the C tool. They deliberately follow C's
 * reader (`lcfs_load_node_from_image`), not the tree reader, where the two
 * differ:
 * - every raw char device 0/0 is skipped, in any format version;
 * - xattrs print in C's load order (inline entries, then shared ones, a
 *   repeated key moving the last entry into its slot), and the V1 parent
 *   markers `trusted.overlay.opaque`="x" / `user.overlay.opaque`="x" stay;
 * - directories print their inode size and every leaf its stored nlink;
 * - a hardlink line carries the target's fields after `@MODE`;
 * - a metacopy counts as a digest when it is 36 bytes, whatever its header;
 * - C's redirect decoding reads up to two bytes past the value (it increments
 *   the length where it should decrement it) and stops at a NUL, so a short
 *   payload can pick up trailing bytes (`foo` reads back as `foo\x01\x01`).
 *   This quirk is mirrored here only; `readErofs` returns the real payload.
 */
import { FormatError } from '../../util/errors.js';
import { decodeImage, type DecodedImage } from './image-walk.js';
import {
  LAYOUT_CHUNK_BASED,
  OVERLAY_ESCAPED_PREFIX,
  OVERLAY_PREFIX,
  PATH_MAX,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  XATTR_ESCAPED_WHITEOUT,
  XATTR_ESCAPED_WHITEOUTS,
  XATTR_METACOPY,
  XATTR_REDIRECT,
  XATTR_USER_WHITEOUT,
  XATTR_USER_WHITEOUTS,
} from './reader-format.js';
import { flatContent, type RawDirent, type RawInode, type RawXattr } from './reader-inode.js';

/** C's inline content limit (LCFS_INLINE_CONTENT_MAX). */
const INLINE_CONTENT_MAX = 5000;

/** A node as C's reader builds it; strings are byte strings (latin1). */
interface CNode {
  name: string;
  path: string;
  /** The canonical node of a hardlink (C `link_to`); a link node has no fields of its own. */
  linkTo: CNode | null;
  mode: number;
  size: bigint;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  mtimeSec: bigint;
  mtimeNsec: number;
  payload: string | null;
  content: Buffer | null;
  digest: Buffer | null;
  xattrs: Array<[string, Buffer]>;
  children: CNode[];
}

function cString(s: string): string {
  const z = s.indexOf('\0');
  return z < 0 ? s : s.slice(0, z);
}

/** C's redirect decoding, including its off-by-two read past the value. */
function quirkPayload(img: DecodedImage, x: RawXattr): string {
  let start = x.valueOffset;
  let len = x.value.length;
  if (len > 1 && x.value[0] === 0x2f) {
    start++;
    len++;
  }
  const end = Math.min(start + len, img.view.length);
  return cString(img.view.buf.toString('latin1', start, end));
}

function applyXattr(img: DecodedImage, node: CNode, x: RawXattr): void {
  const type = node.mode & S_IFMT;
  let key = x.key;
  if (key === XATTR_REDIRECT) {
    if (type === S_IFREG) node.payload = quirkPayload(img, x);
    return;
  }
  if (key === XATTR_METACOPY) {
    if (type === S_IFREG && x.value.length === 36) node.digest = Buffer.from(x.value.subarray(4));
    return;
  }
  if (key === XATTR_ESCAPED_WHITEOUT && type === S_IFREG) {
    node.mode = (node.mode & ~S_IFMT) | S_IFCHR;
    node.rdev = 0;
    node.size = 0n;
    return;
  }
  if (key === XATTR_ESCAPED_WHITEOUTS || key === XATTR_USER_WHITEOUT || key === XATTR_USER_WHITEOUTS) return;
  if (key.startsWith(OVERLAY_PREFIX)) {
    if (!key.startsWith(OVERLAY_ESCAPED_PREFIX)) return;
    key = OVERLAY_PREFIX + key.slice(OVERLAY_ESCAPED_PREFIX.length);
  }
  key = cString(key);
  if (key.length === 0) throw new FormatError('EROFS image: an xattr name is empty up to its first NUL');
  const i = node.xattrs.findIndex(([k]) => k === key);
  if (i >= 0) {
    const last = node.xattrs.pop()!;
    if (i < node.xattrs.length) node.xattrs[i] = last;
  }
  node.xattrs.push([key, Buffer.from(x.value)]);
}

function linkNode(name: string, path: string, target: CNode): CNode {
  return { name, path, linkTo: target, mode: 0, size: 0n, nlink: 0, uid: 0, gid: 0, rdev: 0, mtimeSec: 0n, mtimeNsec: 0, payload: null, content: null, digest: null, xattrs: [], children: [] };
}

function buildNode(img: DecodedImage, ino: RawInode, name: string, path: string): CNode {
  const type = ino.mode & S_IFMT;
  const node: CNode = {
    name,
    path,
    linkTo: null,
    mode: ino.mode,
    size: ino.size,
    nlink: ino.nlink,
    uid: ino.uid,
    gid: ino.gid,
    rdev: type === S_IFCHR || type === S_IFBLK ? ino.rawU : 0,
    mtimeSec: ino.mtimeSec,
    mtimeNsec: ino.mtimeNsec,
    payload: null,
    content: null,
    digest: null,
    xattrs: [],
    children: [],
  };
  const where = `(nid ${ino.nid}, offset ${ino.offset})`;
  if (type === S_IFLNK) {
    if (ino.size >= BigInt(PATH_MAX)) throw new FormatError(`EROFS image: symlink target of ${ino.size} bytes is too long ${where}`);
    node.payload = cString(flatContent(img.view, ino, 'symlink').toString('latin1'));
  } else if (type === S_IFREG && ino.size !== 0n && ino.layout !== LAYOUT_CHUNK_BASED) {
    if (ino.size > BigInt(Math.min(INLINE_CONTENT_MAX, img.view.length))) throw new FormatError(`EROFS image: inline file of ${ino.size} bytes is too large ${where}`);
    node.content = flatContent(img.view, ino, 'regular file');
  }
  for (const x of ino.xattrs) applyXattr(img, node, x);
  return node;
}

/** Loads an image the way C's reader does; `filter` keeps only these root entries. */
function loadCTree(image: Buffer, filter?: ReadonlySet<string>): CNode {
  const img = decodeImage(image);
  const byNid = new Map<number, CNode>();
  const root = buildNode(img, img.inodes.get(img.rootNid)!, '', '');
  byNid.set(img.rootNid, root);
  // A true DFS pre-order, as C's recursive build: the first occurrence of a
  // hardlinked nid in that order is the canonical node.
  const stack: Array<{ dir: CNode; entries: readonly RawDirent[]; i: number }> = [{ dir: root, entries: img.dirs.get(img.rootNid)!, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const e = top.entries[top.i++];
    if (e === undefined) {
      stack.pop();
      continue;
    }
    const dir = top.dir;
    if (dir === root && filter !== undefined && !filter.has(cString(e.name))) continue;
    const path = `${dir.path}/${e.name}`;
    const known = byNid.get(e.nid);
    if (known !== undefined) {
      dir.children.push(linkNode(e.name, path, known));
      continue;
    }
    const ino = img.inodes.get(e.nid)!;
    if ((ino.mode & S_IFMT) === S_IFCHR && ino.rawU === 0) {
      if (ino.nlink > 1) throw new FormatError(`EROFS image: whiteout ${JSON.stringify(e.name)} has nlink ${ino.nlink} (nid ${ino.nid})`);
      continue;
    }
    const child = buildNode(img, ino, e.name, path);
    byNid.set(e.nid, child);
    dir.children.push(child);
    if ((ino.mode & S_IFMT) === S_IFDIR) stack.push({ dir: child, entries: img.dirs.get(e.nid)!, i: 0 });
  }
  return root;
}

const ESC_STANDARD = 0;
const NOESCAPE_SPACE = 1;
const ESCAPE_EQUAL = 2;
const ESCAPE_LONE_DASH = 4;

const NEEDS_ESCAPE = [/[^\x21-\x7e]|\\/, /[^\x20-\x7e]|\\/, /[^\x21-\x7e]|[\\=]/, /[^\x20-\x7e]|[\\=]/];
const ESCAPE_ALL = [/[^\x21-\x7e]|\\/g, /[^\x20-\x7e]|\\/g, /[^\x21-\x7e]|[\\=]/g, /[^\x20-\x7e]|[\\=]/g];
const SPECIAL: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** C composefs-info's print_escaped over a byte string. */
function esc(s: string, flags: number): string {
  if ((flags & ESCAPE_LONE_DASH) !== 0 && s === '-') return '\\x2d';
  const k = flags & (NOESCAPE_SPACE | ESCAPE_EQUAL);
  if (!NEEDS_ESCAPE[k]!.test(s)) return s;
  return s.replace(ESCAPE_ALL[k]!, (c) => SPECIAL[c] ?? '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

function walkC(root: CNode, visit: (node: CNode) => void): void {
  const stack: CNode[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    visit(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
}

export interface InfoOptions {
  /** C's --filter: only these top-level names (byte strings). */
  filter?: readonly string[];
}

function filterSet(opts: InfoOptions): ReadonlySet<string> | undefined {
  return opts.filter === undefined || opts.filter.length === 0 ? undefined : new Set(opts.filter);
}

/** `composefs-info ls`: one line per entry below the root. */
export function formatInfoLs(image: Buffer, opts: InfoOptions = {}): Buffer {
  const lines: string[] = [];
  walkC(loadCTree(image, filterSet(opts)), (n) => {
    if (n.path === '') return;
    let line = esc(n.path, NOESCAPE_SPACE);
    const type = n.mode & S_IFMT;
    if (type === S_IFDIR) line += '/\t';
    else if (type === S_IFLNK) line += '\t-> ' + esc(n.payload ?? '', ESC_STANDARD);
    else if (type === S_IFREG && n.payload !== null) line += '\t@ ' + esc(n.payload, ESC_STANDARD);
    lines.push(line + '\n');
  });
  return Buffer.from(lines.join(''), 'latin1');
}

/** `composefs-info dump`: the C dialect dumpfile of the image. */
export function formatInfoDump(image: Buffer, opts: InfoOptions = {}): Buffer {
  const lines: string[] = [];
  walkC(loadCTree(image, filterSet(opts)), (n) => {
    const t = n.linkTo ?? n;
    const payload = n.linkTo !== null ? n.linkTo.path : t.payload;
    let line = `${esc(n.path === '' ? '/' : n.path, ESC_STANDARD)} ${t.size} ${n.linkTo !== null ? '@' : ''}${t.mode.toString(8)} ${t.nlink} ${t.uid} ${t.gid} ${t.rdev} ${t.mtimeSec}.${t.mtimeNsec} `;
    line += payload === null ? '-' : esc(payload, ESCAPE_LONE_DASH);
    line += ' ' + (t.content === null ? '-' : esc(t.content.toString('latin1'), ESCAPE_LONE_DASH));
    line += ' ' + (t.digest === null ? '-' : t.digest.toString('hex'));
    for (const [k, v] of t.xattrs) line += ` ${esc(k, ESCAPE_EQUAL)}=${esc(v.toString('latin1'), ESCAPE_EQUAL)}`;
    lines.push(line + '\n');
  });
  return Buffer.from(lines.join(''), 'latin1');
}

/**
 * The backing paths (C payloads, byte strings) of the regular files of the images,
 * deduplicated and sorted bytewise, as `composefs-info objects` lists them.
 * With `isPresent` (missing-objects) only the paths it rejects are kept.
 */
export function listInfoObjects(images: readonly Buffer[], isPresent?: (relPath: string) => boolean, opts: InfoOptions = {}): string[] {
  const found = new Set<string>();
  for (const image of images) {
    walkC(loadCTree(image, filterSet(opts)), (n) => {
      if (n.linkTo !== null || (n.mode & S_IFMT) !== S_IFREG || n.payload === null || found.has(n.payload)) return;
      if (isPresent !== undefined && isPresent(n.payload.replace(/^\/+/, ''))) return;
      found.add(n.payload);
    });
  }
  return [...found].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
