/**
 * Owns the first pass of the V0/V1 writer (composefs.md §5.3.3–§5.3.8): xattr
 * sorting and sharing, per-inode data sizes, compact vs extended, and placement
 * (nids, tail padding, data block addresses), mirroring C mkcomposefs's
 * compute_erofs_shared_xattrs(), compute_erofs_inode_size() and
 * compute_erofs_inodes(). The second pass (writer.ts) only copies bytes.
 */
import {
  BLOCK_SIZE,
  DIRENT_SIZE,
  INODES_START,
  INODE_COMPACT_SIZE,
  INODE_EXTENDED_SIZE,
  MAX_SHARED_REFS_V1,
  SLOT_SIZE,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  xattrBodySize,
  xattrEntrySize,
  xattrPrefix,
} from './format.js';
import type { EpochOneTree, WNode } from './nodes.js';

/** Where and how one inode is written. */
export interface PlacedInode {
  node: WNode;
  compact: boolean;
  /** Per xattr (in node.xk order, sorted): offset in the shared table, or -1 if stored locally. */
  shared: number[] | null;
  nShared: number;
  xattrSize: number;
  nBlocks: number;
  tail: number;
  /** First data block (block number), when nBlocks > 0. */
  blkaddr: number;
  /** External files: chunkbits and chunk count. */
  chunkBits: number;
  chunkCount: number;
}

export interface Layout {
  inodes: PlacedInode[];
  /** The shared xattr table in order: keys and values (latin1). */
  sharedKeys: string[];
  sharedValues: string[];
  inodesEnd: number;
  dataStart: number;
  totalSize: number;
}

/** Chunk bits of an external file (C erofs_compute_chunk_bitsize): one chunk up to 8 TiB. */
export function chunkBitsFor(size: bigint): number {
  const bits = size <= 1n ? 0 : (size - 1n).toString(2).length;
  return Math.min(Math.max(12, bits), 12 + 31);
}

function chunkCountFor(size: bigint, bits: number): number {
  return Number((size + (1n << BigInt(bits)) - 1n) >> BigInt(bits));
}

/** Bytes of dirents in a directory's last (tail) chunk and its number of full blocks (C compute_erofs_dir_size). */
function dirSize(node: WNode, out: PlacedInode): void {
  let blocks = 0;
  let used = 0;
  for (const e of node.entries!) {
    const len = DIRENT_SIZE + e.name.length;
    if (used + len > BLOCK_SIZE) {
      blocks++;
      used = 0;
    }
    used += len;
  }
  if (used > BLOCK_SIZE / 2) {
    blocks++;
    used = 0;
  }
  out.nBlocks = blocks;
  out.tail = used;
}

/** Sorts a node's xattrs by key (strcmp order), in place. */
function sortXattrs(n: WNode): void {
  const k = n.xk;
  if (k.length < 2) return;
  const order = k.map((_, i) => i).sort((a, b) => (k[a]! < k[b]! ? -1 : 1));
  const v = n.xv;
  n.xk = order.map((i) => k[i]!);
  n.xv = order.map((i) => v[i]!);
}

function entrySize(key: string, value: string): number {
  return xattrEntrySize(key.length - xattrPrefix(key).prefixLen, value.length);
}

/** Computes the V0/V1 layout of a rewritten tree. */
export function layoutEpochOne(tree: EpochOneTree): Layout {
  const { nodes } = tree;
  // Use counts per (key, value); nested maps, so no key+value string is ever built.
  const counts = new Map<string, Map<string, number>>();
  for (const n of nodes) {
    if (n.xk.length === 0) continue;
    sortXattrs(n);
    for (let j = 0; j < n.xk.length; j++) {
      const key = n.xk[j]!;
      let byValue = counts.get(key);
      if (byValue === undefined) counts.set(key, (byValue = new Map()));
      const v = n.xv[j]!;
      byValue.set(v, (byValue.get(v) ?? 0) + 1);
    }
  }
  // The shared table: key descending, then value length and bytes descending (C xattrs_ht_sort).
  const table: Array<[string, string]> = [];
  for (const [key, byValue] of counts) for (const [v, c] of byValue) if (c > 1) table.push([key, v]);
  table.sort(([ka, va], [kb, vb]) => (ka !== kb ? (ka < kb ? 1 : -1) : va.length !== vb.length ? vb.length - va.length : va < vb ? 1 : va > vb ? -1 : 0));
  const offsets = new Map<string, Map<string, number>>();
  let sharedSize = 0;
  for (const [key, v] of table) {
    let byValue = offsets.get(key);
    if (byValue === undefined) offsets.set(key, (byValue = new Map()));
    byValue.set(v, sharedSize);
    sharedSize += entrySize(key, v);
  }

  const inodes: PlacedInode[] = new Array(nodes.length);
  let pos = INODES_START;
  let nDataBlocks = 0;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    const p: PlacedInode = { node, compact: false, shared: null, nShared: 0, xattrSize: 0, nBlocks: 0, tail: 0, blkaddr: 0, chunkBits: 0, chunkCount: 0 };
    inodes[i] = p;
    if (node.xk.length > 0) {
      const shared: number[] = new Array(node.xk.length);
      let localSize = 0;
      for (let j = 0; j < node.xk.length; j++) {
        const off = offsets.get(node.xk[j]!)?.get(node.xv[j]!);
        if (off !== undefined && p.nShared < MAX_SHARED_REFS_V1) {
          shared[j] = off;
          p.nShared++;
        } else {
          shared[j] = -1;
          localSize += entrySize(node.xk[j]!, node.xv[j]!);
        }
      }
      p.shared = shared;
      p.xattrSize = xattrBodySize(p.nShared, localSize);
    }

    // Data sizes (C compute_erofs_inode_size).
    const type = node.mode & S_IFMT;
    if (type === S_IFDIR) dirSize(node, p);
    else if (type === S_IFLNK) p.tail = node.target!.length;
    else if (type === S_IFREG && node.size > 0n) {
      if (node.content !== null) {
        const size = node.content.length;
        p.nBlocks = Math.floor(size / BLOCK_SIZE);
        p.tail = size % BLOCK_SIZE;
        if (p.tail > BLOCK_SIZE / 2) {
          p.nBlocks++;
          p.tail = 0;
        }
      } else {
        p.chunkBits = chunkBitsFor(node.size);
        p.chunkCount = chunkCountFor(node.size, p.chunkBits);
        p.tail = 4 * p.chunkCount;
      }
    }

    // Compact iff mtime is the minimum and everything fits (C lcfs_fits_in_erofs_compact).
    const sizeFits = type === S_IFDIR ? p.nBlocks * BLOCK_SIZE + p.tail <= 0xffffffff : node.size <= 0xffffffffn;
    p.compact = node.mtimeSec === tree.minMtimeSec && node.mtimeNsec === tree.minMtimeNsec && node.nlink <= 0xffff && node.uid <= 0xffff && node.gid <= 0xffff && sizeFits;
    const nonTail = (p.compact ? INODE_COMPACT_SIZE : INODE_EXTENDED_SIZE) + p.xattrSize;

    // Placement (C compute_erofs_inode_padding_for_tail).
    pos = roundUp(pos, SLOT_SIZE);
    if (type === S_IFLNK) {
      const total = nonTail + p.tail;
      if (total >= BLOCK_SIZE) {
        p.nBlocks++;
        p.tail = 0;
      }
      if (Math.floor(pos / BLOCK_SIZE) !== Math.floor((pos + total - 1) / BLOCK_SIZE)) pos = roundUp(pos, BLOCK_SIZE);
    } else if (p.tail > 0) {
      const rem = BLOCK_SIZE - ((pos + nonTail) % BLOCK_SIZE);
      if (rem < p.tail) {
        const extra = roundUp(rem, SLOT_SIZE);
        const rem2 = BLOCK_SIZE - ((pos + nonTail + extra) % BLOCK_SIZE);
        if (p.tail <= rem2) pos += extra;
        else {
          p.nBlocks++;
          p.tail = 0;
          pos = roundUp(pos, BLOCK_SIZE);
        }
      }
    }
    node.pos = pos;
    nDataBlocks += p.nBlocks;
    pos += nonTail + p.tail;
  }
  const inodesEnd = roundUp(pos, SLOT_SIZE);
  const dataStart = roundUp(inodesEnd + sharedSize, BLOCK_SIZE);
  let block = dataStart / BLOCK_SIZE;
  for (const p of inodes) {
    if (p.nBlocks > 0) {
      p.blkaddr = block;
      block += p.nBlocks;
    }
  }
  return {
    inodes,
    sharedKeys: table.map(([k]) => k),
    sharedValues: table.map(([, v]) => v),
    inodesEnd,
    dataStart,
    totalSize: dataStart + nDataBlocks * BLOCK_SIZE,
  };
}

export function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
