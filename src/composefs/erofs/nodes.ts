/**
 * Owns the V0/V1 (C mkcomposefs) view of a tree, composefs.md §5.3.1–§5.3.3: picking
 * the canonical entry of each hardlinked leaf, the overlayfs rewrite pass (escaping
 * `trusted.overlay.*`, metacopy/redirect, user whiteouts, `.`/`..`, root opaque and
 * the 256 whiteout stubs) and the breadth-first inode numbering. The input tree is
 * never modified; the result is a flat list of writer nodes in inode order.
 *
 * Xattr keys and values are latin1 byte strings here (cheaper than Buffers for the
 * tens of thousands of metacopy/redirect values of a real image).
 */
import type { Dir, Inode, Leaf } from '../tree.js';
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

export interface EpochOneTree {
  /** All inodes in BFS order; nodes[0] is the root. */
  nodes: WNode[];
  /** Total number of xattrs over all nodes. */
  nXattrs: number;
  /** Some inode has a POSIX ACL xattr. */
  hasAcl: boolean;
  minMtimeSec: number;
  minMtimeNsec: number;
}

const OVERLAY = 'trusted.overlay.';
const OVERLAY_ESCAPED = 'trusted.overlay.overlay.';
/** Shared empty xattr arrays; setXattr replaces them before the first write. */
const NO_XATTRS: string[] = [];

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

function blankNode(mode: number, uid: number, gid: number, mtimeSec: number, mtimeNsec: number, nlink: number): WNode {
  return {
    mode, uid, gid, mtimeSec, mtimeNsec, nlink,
    size: 0n, content: null, target: null, rdev: 0, x: NO_XATTRS, names: null, kids: null, own: null, ino: 0, placed: false,
    pos: 0, compact: false, nShared: 0, xattrSize: 0, xbase: 0, nBlocks: 0, tail: 0, blkaddr: 0, chunkBits: 0, chunkCount: 0,
  };
}

function newNode(inode: Inode, nlink: number, scratch: Buffer): WNode {
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
function escapeWhiteout(n: WNode, parent: WNode, version: number): void {
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

/**
 * The directories of the tree, and the leaves that need hardlink bookkeeping:
 * those without a home and those seen away from their home. A dumpfile leaf seen
 * only at its home (nearly all of them) skips the leaf map entirely.
 */
function survey(dir: Dir, dirs: Set<Dir>, linked: Set<Leaf>): void {
  dirs.add(dir);
  for (const [key, c] of dir.entries) {
    if (c.kind === 'dir') survey(c, dirs, linked);
    else if (c.home === undefined || c.home.dir !== dir || c.home.key !== key) linked.add(c);
  }
}

/**
 * Builds the rewritten V0/V1 inode list. `version` is the final composefs version
 * (after any auto-bump); it only decides whether whiteout parents get `opaque=x`.
 */
export function buildEpochOneTree(root: Dir, version: number): EpochOneTree {
  const dirs = new Set<Dir>();
  const linked = new Set<Leaf>();
  survey(root, dirs, linked);
  const leaves = new Map<Leaf, WNode>();
  const scratch = Buffer.allocUnsafe(8192);
  // The rewrite pass, DFS pre-order over canonical entries (C rewrite_tree_node_for_erofs).
  // A leaf is owned by its `home` entry (the dumpfile's non-@ line) when that is in
  // the tree, otherwise by its first occurrence in DFS order.
  const rewrite = (dir: Dir, self: WNode, parent: WNode): void => {
    const { keys, stubs } = dir === root ? withStubNames(root) : { keys: dir.sortedKeys(), stubs: undefined };
    const names: string[] = [];
    const kids: WNode[] = [];
    const own: WNode[] = [];
    let dots = 0;
    for (const key of keys) {
      // `.` and `..` go in byte order too: `-x` < `.` < `.-` < `..` < `.a`.
      if (dots === 0 && key > '.') {
        names.push('.');
        kids.push(self);
        dots = 1;
      }
      if (dots === 1 && key > '..') {
        names.push('..');
        kids.push(parent);
        dots = 2;
      }
      names.push(key);
      if (stubs?.has(key)) {
        const stub = stubNode(self);
        kids.push(stub);
        own.push(stub);
        continue;
      }
      const child = dir.entries.get(key)!;
      if (child.kind === 'dir') {
        const n = newNode(child, 2, scratch);
        kids.push(n);
        own.push(n);
        rewrite(child, n, self);
        continue;
      }
      if (!linked.has(child)) {
        const n = newNode(child, child.nlink ?? 1, scratch);
        n.placed = true;
        kids.push(n);
        own.push(n);
        if (child.data.type === 'chr' && child.data.rdev === 0) escapeWhiteout(n, self, version);
        continue;
      }
      let node = leaves.get(child);
      if (node === undefined) {
        // nlink counts references until the end of the walk, unless the source recorded one.
        node = newNode(child, 0, scratch);
        leaves.set(child, node);
      }
      node.nlink++;
      kids.push(node);
      if (node.placed) continue;
      const home = child.home;
      if (home === undefined || (home.dir === dir && home.key === key) || home.dir.entries.get(home.key) !== child || !dirs.has(home.dir)) {
        node.placed = true;
        own.push(node);
        if (child.data.type === 'chr' && child.data.rdev === 0) escapeWhiteout(node, self, version);
      }
    }
    if (dots === 0) {
      names.push('.');
      kids.push(self);
    }
    if (dots < 2) {
      names.push('..');
      kids.push(parent);
    }
    self.names = names;
    self.kids = kids;
    self.own = own;
  };
  const rootNode = newNode(root, 2, scratch);
  rewrite(root, rootNode, rootNode);
  for (const [leaf, node] of leaves) if (leaf.nlink !== undefined) node.nlink = leaf.nlink;
  setXattr(rootNode, 'trusted.overlay.opaque', 'y');

  // BFS numbering (C lcfs_compute_tree).
  const nodes: WNode[] = [rootNode];
  let hasAcl = false;
  let nXattrs = 0;
  let minSec = rootNode.mtimeSec;
  let minNsec = rootNode.mtimeNsec;
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    n.ino = i;
    if (n.mtimeSec < minSec || (n.mtimeSec === minSec && n.mtimeNsec < minNsec)) {
      minSec = n.mtimeSec;
      minNsec = n.mtimeNsec;
    }
    const x = n.x;
    nXattrs += x.length / 2;
    for (let j = 0; j < x.length; j += 2) if (x[j] === 'system.posix_acl_access' || x[j] === 'system.posix_acl_default') hasAcl = true;
    if (n.own === null) continue;
    let nlink = 2;
    for (const c of n.own) {
      if (c.own !== null) nlink++;
      nodes.push(c);
    }
    n.nlink = nlink;
  }
  return { nodes, nXattrs, hasAcl, minMtimeSec: minSec, minMtimeNsec: minNsec };
}

/** The root's entry names merged with the missing whiteout stub names `00`..`ff` (C add_overlay_whiteouts). */
function withStubNames(root: Dir): { keys: string[]; stubs: Set<string> } {
  const stubs = new Set<string>();
  for (let i = 0; i < 256; i++) {
    const name = (i < 16 ? '0' : '') + i.toString(16);
    if (!root.entries.has(name)) stubs.add(name);
  }
  const keys = [...root.sortedKeys(), ...stubs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { keys, stubs };
}

/** A whiteout stub: chardev 0/0, mode 0644, owner and mtime of the root, only its selinux label; not escaped. */
function stubNode(root: WNode): WNode {
  const stub = blankNode(S_IFCHR | 0o644, root.uid, root.gid, root.mtimeSec, root.mtimeNsec, 1);
  for (let i = 0; i < root.x.length; i += 2) if (root.x[i] === 'security.selinux') setXattr(stub, 'security.selinux', root.x[i + 1]!);
  return stub;
}
