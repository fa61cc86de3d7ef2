/**
 * Owns the writer's node (WNode): one inode of the V0/V1 image as C mkcomposefs
 * sees it after its overlayfs rewrite pass (composefs.md §5.3.2), built from a
 * tree inode: escaped `trusted.overlay.*` keys, metacopy/redirect xattrs of
 * external files, escaped user whiteouts and the root's whiteout stubs. The
 * tree walk that builds them lives in nodes.ts; layout fields are filled in by
 * layout.ts.
 *
 * Xattr keys and values are latin1 byte strings here (cheaper than Buffers for the
 * tens of thousands of metacopy/redirect values of a real image).
 */
import type { Inode } from '../tree.js';
import { S_IFCHR, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFIFO, S_IFSOCK } from './format.js';

/**
 * One inode as the writer sees it (the C `lcfs_node_s` after the rewrite pass),
 * plus the fields the layout pass fills in. Plain arrays instead of per-entry
 * objects: a real image has ~100k of these and allocation dominated the time.
 */
export interface WNode {
  /** Type and permission bits (an escaped whiteout is S_IFREG). */
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  nlink: number;
  /** st_size: regular files' size, symlink target length, otherwise 0. */
  size: bigint;
  /** Inline content of a regular file (null when external or empty). */
  content: Buffer | null;
  /** Symlink target. */
  target: Buffer | null;
  rdev: number;
  /** Xattrs as alternating key, value latin1 strings; `NO_XATTRS` until the first is set. */
  x: string[];
  /** Directories: every dirent name (latin1) in byte order, `.` and `..` included, and its inode. */
  names: string[] | null;
  kids: WNode[] | null;
  /** Directories: the children numbered here (not `.`, `..` or hardlink entries), in name order. */
  own: WNode[] | null;
  /** The BFS index (i_ino). */
  ino: number;
  /** Leaves: the canonical entry has been seen (the inode is numbered there). */
  placed: boolean;
  // Layout (layout.ts).
  /** Byte offset of the inode (nid * 32). */
  pos: number;
  compact: boolean;
  nShared: number;
  xattrSize: number;
  /** Index of this node's first xattr in the layout's shared-offset table. */
  xbase: number;
  nBlocks: number;
  tail: number;
  blkaddr: number;
  chunkBits: number;
  chunkCount: number;
}

const OVERLAY = 'trusted.overlay.';
const OVERLAY_ESCAPED = 'trusted.overlay.overlay.';
/** Shared empty xattr arrays; setXattr replaces them before the first write. */
export const NO_XATTRS: string[] = [];

/** Sets an xattr, replacing an existing value of the same key (C lcfs_node_set_xattr). */
export function setXattr(n: WNode, key: string, value: string): void {
  if (n.x === NO_XATTRS) n.x = [];
  const x = n.x;
  for (let i = 0; i < x.length; i += 2) {
    if (x[i] === key) {
      x[i + 1] = value;
      return;
    }
  }
  x.push(key, value);
}

/**
 * A latin1 string of `head` then `body` bytes, built in one allocation (no cons
 * string): the metacopy and redirect values, one per external file.
 */
function joined(head: Buffer, body: Buffer, scratch: Buffer): string {
  const len = head.length + body.length;
  if (len > scratch.length) return Buffer.concat([head, body]).toString('latin1');
  head.copy(scratch, 0);
  body.copy(scratch, head.length);
  return scratch.toString('latin1', 0, len);
}
const METACOPY_SHA256 = Buffer.from([0, 36, 0, 1]);
const METACOPY_SHA512 = Buffer.from([0, 68, 0, 2]);
const SLASH = Buffer.from('/');
const METACOPY = 'trusted.overlay.metacopy';
const REDIRECT = 'trusted.overlay.redirect';

export function blankNode(mode: number, uid: number, gid: number, mtimeSec: number, mtimeNsec: number, nlink: number): WNode {
  return {
    mode, uid, gid, mtimeSec, mtimeNsec, nlink,
    size: 0n, content: null, target: null, rdev: 0, x: NO_XATTRS, names: null, kids: null, own: null, ino: 0, placed: false,
    pos: 0, compact: false, nShared: 0, xattrSize: 0, xbase: 0, nBlocks: 0, tail: 0, blkaddr: 0, chunkBits: 0, chunkCount: 0,
  };
}

export function newNode(inode: Inode, nlink: number, scratch: Buffer): WNode {
  const s = inode.stat;
  const n = blankNode(s.mode & 0o7777, s.uid, s.gid, s.mtimeSec, s.mtimeNsec, nlink);
  if (s.xattrs.size > 0) {
    n.x = [];
    // Escaping is injective and every trusted.overlay.* key is escaped, so no collisions.
    for (const [k, v] of s.xattrs) n.x.push(k.startsWith(OVERLAY) ? OVERLAY_ESCAPED + k.slice(OVERLAY.length) : k, v.toString('latin1'));
  }
  if (inode.kind === 'dir') {
    n.mode |= S_IFDIR;
    return n;
  }
  const d = inode.data;
  switch (d.type) {
    case 'reg':
      n.mode |= S_IFREG;
      n.size = d.size;
      n.content = d.content !== null && d.content.length > 0 ? d.content : null;
      if (d.size > 0n && n.content === null) {
        const metacopy = d.digest !== null ? joined(d.digest.length === 64 ? METACOPY_SHA512 : METACOPY_SHA256, d.digest, scratch) : '';
        const redirect = d.payload !== null && d.payload.length > 0 ? joined(SLASH, d.payload, scratch) : undefined;
        if (n.x === NO_XATTRS) {
          // The common case (no xattrs of its own): one array of the right size.
          n.x = redirect !== undefined ? [METACOPY, metacopy, REDIRECT, redirect] : [METACOPY, metacopy];
        } else {
          setXattr(n, METACOPY, metacopy);
          if (redirect !== undefined) setXattr(n, REDIRECT, redirect);
        }
      }
      break;
    case 'symlink':
      n.mode |= S_IFLNK;
      n.target = d.target;
      n.size = BigInt(d.target.length);
      break;
    case 'chr':
    case 'blk':
      n.mode |= d.type === 'chr' ? S_IFCHR : S_IFBLK;
      n.rdev = d.rdev;
      break;
    case 'fifo':
      n.mode |= S_IFIFO;
      break;
    case 'sock':
      n.mode |= S_IFSOCK;
      break;
  }
  return n;
}

/** C add_overlayfs_xattrs for a user whiteout: escape it and mark its parent. */
export function escapeWhiteout(n: WNode, parent: WNode, version: number): void {
  n.mode = S_IFREG | (n.mode & 0o7777);
  n.size = 0n;
  setXattr(n, 'trusted.overlay.overlay.whiteout', '');
  setXattr(n, 'user.overlay.whiteout', '');
  setXattr(parent, 'trusted.overlay.overlay.whiteouts', '');
  setXattr(parent, 'user.overlay.whiteouts', '');
  if (version >= 1) {
    setXattr(parent, 'trusted.overlay.overlay.opaque', 'x');
    setXattr(parent, 'user.overlay.opaque', 'x');
  }
}

/** A whiteout stub: chardev 0/0, mode 0644, owner and mtime of the root, only its selinux label; not escaped. */
export function stubNode(root: WNode): WNode {
  const stub = blankNode(S_IFCHR | 0o644, root.uid, root.gid, root.mtimeSec, root.mtimeNsec, 1);
  for (let i = 0; i < root.x.length; i += 2) if (root.x[i] === 'security.selinux') setXattr(stub, 'security.selinux', root.x[i + 1]!);
  return stub;
}
