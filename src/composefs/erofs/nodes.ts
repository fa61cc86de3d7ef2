/**
 * Owns the V0/V1 (C mkcomposefs) view of a tree, composefs.md §5.3.1–§5.3.3: picking
 * the canonical entry of each hardlinked leaf, the overlayfs rewrite pass (escaping
 * `trusted.overlay.*`, metacopy/redirect, user whiteouts, `.`/`..`, root opaque and
 * the 256 whiteout stubs) and the breadth-first inode numbering. The input tree is
 * never modified; the result is a flat list of writer nodes in inode order.
 *
 * Xattr keys and values are latin1 byte strings here (cheaper than Buffers for the
 * tens of thousands of metacopy/redirect values of a real image). The nodes
 * themselves and their constructors live in wnode.ts.
 */
import type { Dir, Leaf } from '../tree.js';
import { escapeWhiteout, newNode, setXattr, stubNode, type WNode } from './wnode.js';

export type { WNode } from './wnode.js';
export { setXattr } from './wnode.js';

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

/** A directory being rewritten: where the walk is in its sorted entries, and what it has built. */
interface Frame {
  dir: Dir;
  self: WNode;
  parent: WNode;
  keys: readonly string[];
  /** The root only: names of the whiteout stubs among `keys`. */
  stubs: Set<string> | undefined;
  i: number;
  /** 0, 1 or 2: how many of `.` and `..` are in `names` already. */
  dots: number;
  names: string[];
  kids: WNode[];
  own: WNode[];
}

function frame(dir: Dir, self: WNode, parent: WNode, isRoot: boolean): Frame {
  const { keys, stubs } = isRoot ? withStubNames(dir) : { keys: dir.sortedKeys(), stubs: undefined };
  return { dir, self, parent, keys, stubs, i: 0, dots: 0, names: [], kids: [], own: [] };
}

/** Adds `.`/`..` if every name sorted before them, and hands the lists to the directory's node. */
function finishFrame(f: Frame): void {
  if (f.dots === 0) {
    f.names.push('.');
    f.kids.push(f.self);
  }
  if (f.dots < 2) {
    f.names.push('..');
    f.kids.push(f.parent);
  }
  f.self.names = f.names;
  f.self.kids = f.kids;
  f.self.own = f.own;
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
  // One loop over an explicit stack (not recursion), so the hot loop is optimised once.
  const rootNode = newNode(root, 2, scratch);
  const stack: Frame[] = [frame(root, rootNode, rootNode, true)];
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.i === f.keys.length) {
      finishFrame(f);
      stack.pop();
      continue;
    }
    const key = f.keys[f.i++]!;
    const { dir, self, names, kids, own } = f;
    // `.` and `..` go in byte order too: `-x` < `.` < `.-` < `..` < `.a`.
    if (f.dots === 0 && key > '.') {
      names.push('.');
      kids.push(self);
      f.dots = 1;
    }
    if (f.dots === 1 && key > '..') {
      names.push('..');
      kids.push(f.parent);
      f.dots = 2;
    }
    names.push(key);
    if (f.stubs !== undefined && f.stubs.has(key)) {
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
      stack.push(frame(child, n, self, false));
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

