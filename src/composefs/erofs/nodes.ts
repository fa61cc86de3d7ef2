/**
 * Owns the V0/V1 (C mkcomposefs) view of a tree, composefs.md §5.3.1–§5.3.3: picking
 * the canonical entry of each hardlinked leaf, the overlayfs rewrite pass (escaping
 * `trusted.overlay.*`, metacopy/redirect, user whiteouts, `.`/`..`, root opaque and
 * the 256 whiteout stubs) and the breadth-first inode numbering. The input tree is
 * never modified; the result is a flat list of writer nodes in inode order.
 */
import { compareKeys, type Dir, type Inode, type Leaf } from '../tree.js';
import { S_IFCHR, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFIFO, S_IFSOCK, metacopyValue } from './format.js';

/** One inode as the writer sees it (the C `lcfs_node_s` after the rewrite pass). */
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
  xattrs: Map<string, Buffer>;
  /** Directories: every dirent in byte order, `.` and `..` included. */
  entries: DirEntry[] | null;
  /** The BFS index (i_ino). */
  ino: number;
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
const EMPTY = Buffer.alloc(0);

type Home = { dir: Dir; key: string };

/** Maps each leaf to the entry that owns its inode, and counts its references. */
function findCanonical(root: Dir): { homes: Map<Leaf, Home>; refs: Map<Leaf, number> } {
  const homes = new Map<Leaf, Home>();
  const refs = new Map<Leaf, number>();
  const rec = (dir: Dir): void => {
    for (const key of dir.sortedKeys()) {
      const child = dir.entries.get(key)!;
      if (child.kind === 'dir') {
        rec(child);
        continue;
      }
      const n = refs.get(child);
      refs.set(child, (n ?? 0) + 1);
      if (n === undefined) homes.set(child, { dir, key });
      else if (child.home !== undefined && child.home.dir === dir && child.home.key === key) homes.set(child, { dir, key });
    }
  };
  rec(root);
  return { homes, refs };
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
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of s.xattrs) xattrs.set(k.startsWith(OVERLAY) ? OVERLAY_ESCAPED + k.slice(OVERLAY.length) : k, v);
  const n: WNode = {
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    mtimeSec: s.mtimeSec,
    mtimeNsec: s.mtimeNsec,
    nlink,
    size: 0n,
    content: null,
    target: null,
    rdev: 0,
    xattrs,
    entries: null,
    ino: 0,
  };
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
        xattrs.set('trusted.overlay.metacopy', d.digest !== null ? metacopyValue(d.digest) : EMPTY);
        if (d.payload !== null && d.payload.length > 0) xattrs.set('trusted.overlay.redirect', Buffer.concat([Buffer.from('/'), d.payload]));
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

/**
 * Builds the rewritten V0/V1 inode list. `version` is the final composefs version
 * (after any auto-bump); it only decides whether whiteout parents get `opaque=x`.
 */
export function buildEpochOneTree(root: Dir, version: number): EpochOneTree {
  const { homes, refs } = findCanonical(root);
  const y = Buffer.from('y');
  const x = Buffer.from('x');

  // The rewrite pass, DFS pre-order over canonical entries (C rewrite_tree_node_for_erofs).
  const leafNodes = new Map<Leaf, WNode>();
  const nodeOf = (leaf: Leaf): WNode => {
    let n = leafNodes.get(leaf);
    if (n === undefined) {
      n = newNode(leaf, leaf.nlink ?? refs.get(leaf) ?? 1);
      leafNodes.set(leaf, n);
    }
    return n;
  };
  const rewrite = (dir: Dir, self: WNode, parent: WNode): void => {
    const entries: DirEntry[] = [
      { name: '.', node: self, real: false },
      { name: '..', node: parent, real: false },
    ];
    for (const key of dir.sortedKeys()) {
      const child = dir.entries.get(key)!;
      if (child.kind === 'dir') {
        const n = newNode(child, 2);
        entries.push({ name: key, node: n, real: true });
        rewrite(child, n, self);
        continue;
      }
      const n = nodeOf(child);
      const home = homes.get(child)!;
      const real = home.dir === dir && home.key === key;
      entries.push({ name: key, node: n, real });
      if (real && child.data.type === 'chr' && child.data.rdev === 0) {
        n.mode = S_IFREG | (n.mode & 0o7777);
        n.rdev = 0;
        n.size = 0n;
        n.xattrs.set('trusted.overlay.overlay.whiteout', EMPTY);
        n.xattrs.set('user.overlay.whiteout', EMPTY);
        self.xattrs.set('trusted.overlay.overlay.whiteouts', EMPTY);
        self.xattrs.set('user.overlay.whiteouts', EMPTY);
        if (version >= 1) {
          self.xattrs.set('trusted.overlay.overlay.opaque', x);
          self.xattrs.set('user.overlay.opaque', x);
        }
      }
    }
    entries.sort((a, b) => compareKeys(a.name, b.name));
    self.entries = entries;
  };
  const rootNode = newNode(root, 2);
  rewrite(root, rootNode, rootNode);
  rootNode.xattrs.set('trusted.overlay.opaque', y);

  // The 256 whiteout stubs (C add_overlay_whiteouts): not escaped, only selinux copied.
  const selinux = rootNode.xattrs.get('security.selinux');
  const rootEntries = rootNode.entries!;
  const have = new Set(rootEntries.map((e) => e.name));
  for (let i = 0; i < 256; i++) {
    const name = i.toString(16).padStart(2, '0');
    if (have.has(name)) continue;
    const stub: WNode = {
      mode: S_IFCHR | 0o644,
      uid: rootNode.uid,
      gid: rootNode.gid,
      mtimeSec: rootNode.mtimeSec,
      mtimeNsec: rootNode.mtimeNsec,
      nlink: 1,
      size: 0n,
      content: null,
      target: null,
      rdev: 0,
      xattrs: selinux !== undefined ? new Map([['security.selinux', selinux]]) : new Map(),
      entries: null,
      ino: 0,
    };
    rootEntries.push({ name, node: stub, real: true });
  }
  rootEntries.sort((a, b) => compareKeys(a.name, b.name));

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
    if (n.xattrs.has('system.posix_acl_access') || n.xattrs.has('system.posix_acl_default')) hasAcl = true;
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
