/**
 * Owns the V2 (composefs-rs legacy, epoch 2) EROFS writer, composefs.md §5.4: DFS
 * pre-order inodes, always-extended headers with ino = nid and no sub-second
 * mtime, insertion-order xattrs with an ascending shared table, no whiteout stubs,
 * and composefs-rs's inline-tail padding. Two passes: placement, then bytes.
 */
import { compareKeys, objectPath, type Dir, type Inode, type Leaf } from '../tree.js';
import {
  BLOCK_SIZE, DIRENT_SIZE, FEATURE_COMPAT_MTIME, FEATURE_COMPAT_XATTR_FILTER, INODES_START, INODE_EXTENDED_SIZE, LAYOUT_CHUNK_BASED,
  LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN, SLOT_SIZE, SUPERBLOCK_OFFSET, XATTR_IBODY_HEADER_SIZE, FT_DIR, inodeFormat, metacopyValue,
  writeComposefsHeader, writeDirent, writeExtendedInode, writeSuperblock, writeXattrEntry, xattrEntrySize, xattrFilterBit, xattrIcount,
  xattrPrefix, fileTypeOfMode,
} from './format.js';
import { roundUp } from './layout.js';

interface V2Xattr {
  index: number;
  suffix: string;
  value: Buffer;
  /** Index into the shared table, or -1. */
  shared: number;
}

interface V2Entry {
  name: string;
  node: V2Node;
}

interface V2Node {
  inode: Inode;
  mode: number;
  nlink: number;
  xattrs: V2Xattr[];
  /** Directories: dirents grouped into full blocks and the inline rest. */
  blocks: V2Entry[][] | null;
  inline: V2Entry[] | null;
  layout: number;
  size: bigint;
  /** Inline data after the xattrs (regular/symlink), or null. */
  data: Buffer | null;
  u: number;
  pos: number;
  xattrSize: number;
  tailLen: number;
}

const FF4 = Buffer.from([0xff, 0xff, 0xff, 0xff]);
const EMPTY = Buffer.alloc(0);
const OVERLAY = 'trusted.overlay.';

function sharedKey(x: V2Xattr): string {
  return String.fromCharCode(x.index) + x.suffix + '\0' + x.value.toString('latin1');
}

function compareV2(a: V2Xattr, b: V2Xattr): number {
  if (a.index !== b.index) return a.index - b.index;
  if (a.suffix !== b.suffix) return a.suffix < b.suffix ? -1 : 1;
  return Buffer.compare(a.value, b.value);
}

function newNode(inode: Inode, nlink: number): V2Node {
  const s = inode.stat;
  const xattrs: V2Xattr[] = [];
  const add = (key: string, value: Buffer): void => {
    const { index, prefixLen } = xattrPrefix(key, true);
    xattrs.push({ index, suffix: key.slice(prefixLen), value, shared: -1 });
  };
  const n: V2Node = { inode, mode: s.mode & 0o7777, nlink, xattrs, blocks: null, inline: null, layout: LAYOUT_FLAT_PLAIN, size: 0n, data: null, u: 0, pos: 0, xattrSize: 0, tailLen: 0 };
  if (inode.kind === 'leaf') {
    const d = inode.data;
    if (d.type === 'reg' && d.size > 0n && d.content === null) {
      if (d.digest !== null) {
        add('trusted.overlay.metacopy', metacopyValue(d.digest));
        add('trusted.overlay.redirect', Buffer.from('/' + objectPath(d.digest), 'latin1'));
      } else {
        add('trusted.overlay.metacopy', EMPTY);
        if (d.payload !== null) add('trusted.overlay.redirect', Buffer.concat([Buffer.from('/'), d.payload]));
      }
    }
  }
  for (const key of [...s.xattrs.keys()].sort(compareKeys)) {
    add(key.startsWith(OVERLAY) ? 'trusted.overlay.overlay.' + key.slice(OVERLAY.length) : key, s.xattrs.get(key)!);
  }
  if (inode.kind === 'dir') {
    n.mode |= 0o040000;
    return n;
  }
  const d = inode.data;
  n.mode |= { reg: 0o100000, symlink: 0o120000, chr: 0o020000, blk: 0o060000, fifo: 0o010000, sock: 0o140000 }[d.type];
  if (d.type === 'reg') {
    n.size = d.size;
    if (d.content !== null && d.content.length > 0) {
      n.layout = LAYOUT_FLAT_INLINE;
      n.data = d.content;
    } else if (d.size > 0n) {
      n.layout = LAYOUT_CHUNK_BASED;
      n.u = 31;
      if (d.digest !== null) n.data = FF4;
    }
  } else if (d.type === 'symlink') {
    n.layout = LAYOUT_FLAT_INLINE;
    n.size = BigInt(d.target.length);
    n.data = d.target;
  } else if (d.type === 'chr' || d.type === 'blk') n.u = d.rdev % 0x100000000;
  return n;
}

function collect(root: Dir): V2Node[] {
  const nodes: V2Node[] = [];
  const refs = new Map<Leaf, number>();
  const countRefs = (dir: Dir): void => {
    for (const c of dir.entries.values()) {
      if (c.kind === 'dir') countRefs(c);
      else refs.set(c, (refs.get(c) ?? 0) + 1);
    }
  };
  countRefs(root);
  const leafNodes = new Map<Leaf, V2Node>();
  const visit = (dir: Dir, parent: V2Node | null): V2Node => {
    const me = newNode(dir, 2);
    nodes.push(me);
    const entries: V2Entry[] = [
      { name: '.', node: me },
      { name: '..', node: parent ?? me },
    ];
    let nlink = 2;
    for (const key of dir.sortedKeys()) {
      const child = dir.entries.get(key)!;
      let n: V2Node;
      if (child.kind === 'dir') {
        n = visit(child, me);
        nlink++;
      } else {
        let l = leafNodes.get(child);
        if (l === undefined) {
          l = newNode(child, refs.get(child)!);
          leafNodes.set(child, l);
          nodes.push(l);
        }
        n = l;
      }
      entries.push({ name: key, node: n });
    }
    entries.sort((a, b) => compareKeys(a.name, b.name));
    me.nlink = nlink;
    // Split into blocks like composefs-rs Directory::from_entries.
    const blocks: V2Entry[][] = [];
    let rest: V2Entry[] = [];
    let bytes = 0;
    for (const e of entries) {
      const len = DIRENT_SIZE + e.name.length;
      bytes += len;
      if (bytes <= BLOCK_SIZE) rest.push(e);
      else {
        blocks.push(rest);
        rest = [e];
        bytes = len;
      }
    }
    if (bytes > BLOCK_SIZE / 2) {
      blocks.push(rest);
      rest = [];
      bytes = 0;
    }
    me.blocks = blocks;
    me.inline = rest;
    me.size = BigInt(blocks.length * BLOCK_SIZE + bytes);
    me.tailLen = bytes;
    me.layout = rest.length === 0 ? LAYOUT_FLAT_PLAIN : LAYOUT_FLAT_INLINE;
    return me;
  };
  visit(root, null);
  return nodes;
}

/** Writes `root` (already validated) as a V2 image. */
export function writeErofsV2(root: Dir): Buffer {
  const nodes = collect(root);
  // Shared xattrs: pairs used more than once, ascending by (index, suffix, value).
  const counts = new Map<string, { count: number; x: V2Xattr; idx: number }>();
  for (const n of nodes) {
    for (const x of n.xattrs) {
      const k = sharedKey(x);
      const c = counts.get(k);
      if (c === undefined) counts.set(k, { count: 1, x, idx: -1 });
      else c.count++;
    }
  }
  const shared = [...counts.values()].filter((c) => c.count > 1).sort((a, b) => compareV2(a.x, b.x));
  shared.forEach((c, i) => (c.idx = i));
  // Placement.
  let pos = INODES_START;
  for (const n of nodes) {
    let nShared = 0;
    let local = 0;
    for (const x of n.xattrs) {
      const c = counts.get(sharedKey(x))!;
      if (c.count > 1) {
        x.shared = c.idx;
        nShared++;
      } else local += xattrEntrySize(x.suffix.length, x.value.length);
    }
    n.xattrSize = n.xattrs.length === 0 ? 0 : XATTR_IBODY_HEADER_SIZE + 4 * nShared + local;
    if (n.data !== null) n.tailLen = n.data.length;
    pos = roundUp(pos, SLOT_SIZE);
    if (n.layout === LAYOUT_FLAT_INLINE) {
      const s = pos + INODE_EXTENDED_SIZE + n.xattrSize;
      if (Math.floor((s - 1) / BLOCK_SIZE) !== Math.floor((s + Number(n.size % BigInt(BLOCK_SIZE))) / BLOCK_SIZE)) {
        pos = roundUp(pos + BLOCK_SIZE - ((s - 1) % BLOCK_SIZE), SLOT_SIZE);
      }
    }
    n.pos = pos;
    pos = roundUp(pos + INODE_EXTENDED_SIZE + n.xattrSize + n.tailLen, SLOT_SIZE);
  }
  const inodesEnd = pos;
  const sharedOffsets: number[] = [];
  for (const c of shared) {
    sharedOffsets.push(pos);
    pos += xattrEntrySize(c.x.suffix.length, c.x.value.length);
  }
  let block = roundUp(pos, BLOCK_SIZE) / BLOCK_SIZE;
  for (const n of nodes) {
    if (n.blocks === null) continue;
    if (n.blocks.length > 0) n.u = block;
    block += n.blocks.length;
  }
  const total = block * BLOCK_SIZE;

  // Bytes.
  const buf = Buffer.alloc(total);
  writeComposefsHeader(buf, 0, 0, 2);
  writeSuperblock(buf, SUPERBLOCK_OFFSET, {
    featureCompat: FEATURE_COMPAT_MTIME | FEATURE_COMPAT_XATTR_FILTER,
    rootNid: nodes[0]!.pos / SLOT_SIZE,
    inos: BigInt(nodes.length),
    buildTime: 0n,
    buildTimeNsec: 0,
    blocks: total / BLOCK_SIZE,
    metaBlkaddr: 0,
    xattrBlkaddr: 0,
    featureIncompat: 0,
  });
  for (const n of nodes) {
    const nid = n.pos / SLOT_SIZE;
    writeExtendedInode(buf, n.pos, {
      format: inodeFormat(n.layout, true),
      xattrIcount: xattrIcount(n.xattrSize),
      mode: n.mode,
      nlink: n.nlink,
      size: n.size,
      u: n.u,
      ino: nid,
      uid: n.inode.stat.uid,
      gid: n.inode.stat.gid,
      mtimeSec: n.inode.stat.mtimeSec,
      mtimeNsec: 0,
    });
    let off = n.pos + INODE_EXTENDED_SIZE;
    if (n.xattrSize > 0) {
      let filter = 0;
      let nShared = 0;
      for (const x of n.xattrs) {
        filter |= 1 << xattrFilterBit(x.suffix, x.index);
        if (x.shared >= 0) nShared++;
      }
      buf.writeUInt32LE(~filter >>> 0, off);
      buf.writeUInt8(nShared, off + 4);
      let o = off + XATTR_IBODY_HEADER_SIZE;
      for (const x of n.xattrs) {
        if (x.shared < 0) continue;
        buf.writeUInt32LE(sharedOffsets[x.shared]! / 4, o);
        o += 4;
      }
      for (const x of n.xattrs) if (x.shared < 0) o += writeXattrEntry(buf, o, x.index, x.suffix, x.value);
      off += n.xattrSize;
    }
    if (n.inline !== null) writeChunk(buf, off, n.inline);
    else if (n.data !== null) n.data.copy(buf, off);
  }
  for (const c of shared) writeXattrEntry(buf, sharedOffsets[c.idx]!, c.x.index, c.x.suffix, c.x.value);
  for (const n of nodes) {
    if (n.blocks === null) continue;
    n.blocks.forEach((b, i) => writeChunk(buf, (n.u + i) * BLOCK_SIZE, b));
  }
  return buf;
}

function writeChunk(buf: Buffer, off: number, entries: V2Entry[]): void {
  let nameoff = entries.length * DIRENT_SIZE;
  let d = off;
  for (const e of entries) {
    writeDirent(buf, d, e.node.pos / SLOT_SIZE, nameoff, e.node.blocks !== null ? FT_DIR : fileTypeOfMode(e.node.mode));
    d += DIRENT_SIZE;
    nameoff += buf.write(e.name, off + nameoff, 'latin1');
  }
}
