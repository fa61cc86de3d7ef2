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
import { S_IFCHR, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFIFO, S_IFSOCK, FS_VERITY_HASH_ALG_SHA256, FS_VERITY_HASH_ALG_SHA512 } from './format.js';

/** One inode as the writer sees it (the C `lcfs_node_s` after the rewrite pass), plus its layout. */
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
  /** Xattr keys and values (latin1); `NO_XATTRS` until the first one is set. */
  xk: string[];
  xv: string[];
  /** Directories: every dirent in byte order, `.` and `..` included. */
  entries: DirEntry[] | null;
  /** The BFS index (i_ino). */
  ino: number;
  /** Byte offset of the inode (nid * 32); filled in by the layout pass. */
  pos: number;
}

export interface DirEntry {
  /** The name as a latin1 byte string. */
  name: string;
  node: WNode;
  /** False for hardlink entries (`.`, `..`, and non-canonical occurrences of a leaf). */
  real: boolean;
}

export interface EpochOneTree {
  /** All inodes in BFS order; nodes[0] is the root. */
  nodes: WNode[];
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
  if (n.xk === NO_XATTRS) {
    n.xk = [];
    n.xv = [];
  }
  const i = n.xk.indexOf(key);
  if (i >= 0) n.xv[i] = value;
  else {
    n.xk.push(key);
    n.xv.push(value);
  }
}

/** The overlayfs metacopy value of a digest as a latin1 string: [0, 4+len, 0, alg] + digest. */
function metacopy(digest: Buffer): string {
  const alg = digest.length === 64 ? FS_VERITY_HASH_ALG_SHA512 : FS_VERITY_HASH_ALG_SHA256;
  return '\0' + String.fromCharCode(4 + digest.length) + '\0' + String.fromCharCode(alg) + digest.toString('latin1');
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

function newNode(inode: Inode, nlink: number): WNode {
  const s = inode.stat;
  const n: WNode = { mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, mtimeSec: s.mtimeSec, mtimeNsec: s.mtimeNsec, nlink, size: 0n, content: null, target: null, rdev: 0, xk: NO_XATTRS, xv: NO_XATTRS, entries: null, ino: 0, pos: 0 };
  if (s.xattrs.size > 0) {
    n.xk = [];
    n.xv = [];
    // Escaping is injective and every trusted.overlay.* key is escaped, so no collisions.
    for (const [k, v] of s.xattrs) {
      n.xk.push(k.startsWith(OVERLAY) ? OVERLAY_ESCAPED + k.slice(OVERLAY.length) : k);
      n.xv.push(v.toString('latin1'));
    }
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
        setXattr(n, 'trusted.overlay.metacopy', d.digest !== null ? metacopy(d.digest) : '');
        if (d.payload !== null && d.payload.length > 0) setXattr(n, 'trusted.overlay.redirect', '/' + d.payload.toString('latin1'));
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

/** Per-leaf bookkeeping of the rewrite walk. */
interface LeafInfo {
  node: WNode;
  refs: number;
  /** The first occurrence and its directory, used when the leaf's home is not in the tree. */
  first: DirEntry;
  firstDir: WNode;
  placed: boolean;
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

function isWhiteoutLeaf(leaf: Leaf): boolean {
  return leaf.data.type === 'chr' && leaf.data.rdev === 0;
}

/**
 * Builds the rewritten V0/V1 inode list. `version` is the final composefs version
 * (after any auto-bump); it only decides whether whiteout parents get `opaque=x`.
 */
export function buildEpochOneTree(root: Dir, version: number): EpochOneTree {
  const leaves = new Map<Leaf, LeafInfo>();
  // The rewrite pass, DFS pre-order over canonical entries (C rewrite_tree_node_for_erofs).
  // A leaf is owned by its `home` entry (the dumpfile's non-@ line) when that is in
  // the tree, otherwise by its first occurrence in DFS order.
  const rewrite = (dir: Dir, self: WNode, parent: WNode): void => {
    const entries: DirEntry[] = [];
    let dots = 0;
    for (const key of dir.sortedKeys()) {
      // `.` and `..` go in byte order too: `-x` < `.` < `.-` < `..` < `.a`.
      if (dots === 0 && key > '.') {
        entries.push({ name: '.', node: self, real: false });
        dots = 1;
      }
      if (dots === 1 && key > '..') {
        entries.push({ name: '..', node: parent, real: false });
        dots = 2;
      }
      const child = dir.entries.get(key)!;
      if (child.kind === 'dir') {
        const n = newNode(child, 2);
        entries.push({ name: key, node: n, real: true });
        rewrite(child, n, self);
        continue;
      }
      let info = leaves.get(child);
      const home = child.home;
      const atHome = home === undefined || (home.dir === dir && home.key === key) || home.dir.entries.get(home.key) !== child;
      const e: DirEntry = { name: key, node: info?.node ?? (undefined as unknown as WNode), real: false };
      if (info === undefined) {
        info = { node: newNode(child, child.nlink ?? 0), refs: 0, first: e, firstDir: self, placed: false };
        e.node = info.node;
        leaves.set(child, info);
      }
      info.refs++;
      if (atHome && !info.placed) {
        info.placed = e.real = true;
        if (isWhiteoutLeaf(child)) escapeWhiteout(info.node, self, version);
      }
      entries.push(e);
    }
    if (dots === 0) entries.push({ name: '.', node: self, real: false });
    if (dots < 2) entries.push({ name: '..', node: parent, real: false });
    self.entries = entries;
  };
  const rootNode = newNode(root, 2);
  rewrite(root, rootNode, rootNode);
  for (const [leaf, info] of leaves) {
    if (leaf.nlink === undefined) info.node.nlink = info.refs;
    if (info.placed) continue;
    // The home entry was not reached (a stale home): fall back to the first occurrence.
    info.first.real = info.placed = true;
    if (isWhiteoutLeaf(leaf)) escapeWhiteout(info.node, info.firstDir, version);
  }
  setXattr(rootNode, 'trusted.overlay.opaque', 'y');
  addStubs(rootNode);

  // BFS numbering (C lcfs_compute_tree).
  const nodes: WNode[] = [rootNode];
  let hasAcl = false;
  let minSec = rootNode.mtimeSec;
  let minNsec = rootNode.mtimeNsec;
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    n.ino = i;
    if (n.mtimeSec < minSec || (n.mtimeSec === minSec && n.mtimeNsec < minNsec)) {
      minSec = n.mtimeSec;
      minNsec = n.mtimeNsec;
    }
    if (n.xk !== NO_XATTRS && (n.xk.includes('system.posix_acl_access') || n.xk.includes('system.posix_acl_default'))) hasAcl = true;
    if (n.entries === null) continue;
    let nlink = 2;
    for (const e of n.entries) {
      if (!e.real) continue;
      if (e.node.entries !== null) nlink++;
      nodes.push(e.node);
    }
    n.nlink = nlink;
  }
  return { nodes, hasAcl, minMtimeSec: minSec, minMtimeNsec: minNsec };
}

/** The 256 whiteout stubs `00`..`ff` in the root (C add_overlay_whiteouts): not escaped, only selinux copied. */
function addStubs(root: WNode): void {
  const si = root.xk.indexOf('security.selinux');
  const old = root.entries!;
  const merged: DirEntry[] = [];
  let j = 0;
  for (let i = 0; i < 256; i++) {
    const name = (i < 16 ? '0' : '') + i.toString(16);
    while (j < old.length && old[j]!.name < name) merged.push(old[j++]!);
    if (j < old.length && old[j]!.name === name) continue;
    const stub: WNode = { mode: S_IFCHR | 0o644, uid: root.uid, gid: root.gid, mtimeSec: root.mtimeSec, mtimeNsec: root.mtimeNsec, nlink: 1, size: 0n, content: null, target: null, rdev: 0, xk: NO_XATTRS, xv: NO_XATTRS, entries: null, ino: 0, pos: 0 };
    if (si >= 0) setXattr(stub, 'security.selinux', root.xv[si]!);
    merged.push({ name, node: stub, real: true });
  }
  while (j < old.length) merged.push(old[j++]!);
  root.entries = merged;
}
