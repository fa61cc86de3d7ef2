/**
 * Owns the first pass of the V0/V1 writer (composefs.md §5.3.3–§5.3.8): xattr
 * sorting and sharing, per-inode data sizes, compact vs extended, and placement
 * (nids, tail padding, data block addresses), mirroring C mkcomposefs's
 * compute_erofs_shared_xattrs(), compute_erofs_inode_size() and
 * compute_erofs_inodes(). The second pass (writer.ts) only copies bytes.
 */
import { compareKeys } from '../tree.js';
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

/** One xattr of an inode, sorted by key; `shared` is its offset in the shared table or -1. */
export interface PlacedXattr {
  key: string;
  value: Buffer;
  index: number;
  prefixLen: number;
  shared: number;
}

/** Where and how one inode is written. */
export interface PlacedInode {
  node: WNode;
  /** Byte offset of the inode header (nid * 32). */
  pos: number;
  compact: boolean;
  xattrs: PlacedXattr[];
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
  /** The shared xattr table in order. */
  shared: PlacedXattr[];
  sharedSize: number;
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

/** Splits a directory's dirents into blocks: returns [nBlocks, tailBytes] (C compute_erofs_dir_size). */
export function dirSize(node: WNode): [number, number] {
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
  if (used > BLOCK_SIZE / 2) return [blocks + 1, 0];
  return [blocks, used];
}

function sharedKey(key: string, value: Buffer): string {
  return key + '\0' + value.toString('latin1');
}

/** Computes the V0/V1 layout of a rewritten tree. */
export function layoutEpochOne(tree: EpochOneTree): Layout {
  const { nodes } = tree;
  // Sorted xattrs and use counts.
  const sorted: PlacedXattr[][] = new Array(nodes.length);
  const counts = new Map<string, { count: number; x: PlacedXattr; offset: number }>();
  for (let i = 0; i < nodes.length; i++) {
    const xs = nodes[i]!.xattrs;
    if (xs.size === 0) {
      sorted[i] = [];
      continue;
    }
    const keys = [...xs.keys()].sort(compareKeys);
    const list: PlacedXattr[] = keys.map((key) => {
      const { index, prefixLen } = xattrPrefix(key);
      return { key, value: xs.get(key)!, index, prefixLen, shared: -1 };
    });
    for (const x of list) {
      const k = sharedKey(x.key, x.value);
      const c = counts.get(k);
      if (c === undefined) counts.set(k, { count: 1, x, offset: -1 });
      else c.count++;
    }
    sorted[i] = list;
  }
  // The shared table: key descending, then value length and bytes descending (C xattrs_ht_sort).
  const sharedEnts = [...counts.values()].filter((c) => c.count > 1);
  sharedEnts.sort((a, b) => {
    if (a.x.key !== b.x.key) return a.x.key < b.x.key ? 1 : -1;
    if (a.x.value.length !== b.x.value.length) return b.x.value.length - a.x.value.length;
    return Buffer.compare(b.x.value, a.x.value);
  });
  let sharedSize = 0;
  const shared: PlacedXattr[] = [];
  for (const c of sharedEnts) {
    c.offset = sharedSize;
    shared.push(c.x);
    sharedSize += xattrEntrySize(c.x.key.length - c.x.prefixLen, c.x.value.length);
  }

  const inodes: PlacedInode[] = new Array(nodes.length);
  let pos = INODES_START;
  let nDataBlocks = 0;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    const xattrs = sorted[i]!;
    let nShared = 0;
    let localSize = 0;
    for (const x of xattrs) {
      const c = counts.get(sharedKey(x.key, x.value))!;
      if (c.count > 1 && nShared < MAX_SHARED_REFS_V1) {
        x.shared = c.offset;
        nShared++;
      } else localSize += xattrEntrySize(x.key.length - x.prefixLen, x.value.length);
    }
    const xattrSize = xattrBodySize(nShared, localSize);

    // Data sizes (C compute_erofs_inode_size).
    const type = node.mode & S_IFMT;
    let nBlocks = 0;
    let tail = 0;
    let chunkBits = 0;
    let chunkCount = 0;
    if (type === S_IFDIR) [nBlocks, tail] = dirSize(node);
    else if (type === S_IFLNK) tail = node.target!.length;
    else if (type === S_IFREG && node.size > 0n) {
      if (node.content !== null) {
        const size = node.content.length;
        nBlocks = Math.floor(size / BLOCK_SIZE);
        tail = size % BLOCK_SIZE;
        if (tail > BLOCK_SIZE / 2) {
          nBlocks++;
          tail = 0;
        }
      } else {
        chunkBits = chunkBitsFor(node.size);
        chunkCount = chunkCountFor(node.size, chunkBits);
        tail = 4 * chunkCount;
      }
    }

    // Compact iff mtime is the minimum and everything fits (C lcfs_fits_in_erofs_compact).
    const isize = type === S_IFDIR ? BigInt(nBlocks * BLOCK_SIZE + tail) : node.size;
    const compact =
      node.mtimeSec === tree.minMtimeSec &&
      node.mtimeNsec === tree.minMtimeNsec &&
      node.nlink <= 0xffff &&
      node.uid <= 0xffff &&
      node.gid <= 0xffff &&
      isize <= 0xffffffffn;
    const inodeSize = compact ? INODE_COMPACT_SIZE : INODE_EXTENDED_SIZE;

    // Placement (C compute_erofs_inode_padding_for_tail).
    pos = roundUp(pos, SLOT_SIZE);
    const nonTail = inodeSize + xattrSize;
    if (type === S_IFLNK) {
      const total = nonTail + tail;
      if (total >= BLOCK_SIZE) {
        nBlocks++;
        tail = 0;
      }
      if (Math.floor(pos / BLOCK_SIZE) !== Math.floor((pos + total - 1) / BLOCK_SIZE)) pos = roundUp(pos, BLOCK_SIZE);
    } else {
      const rem = BLOCK_SIZE - ((pos + nonTail) % BLOCK_SIZE);
      if (rem < tail) {
        const extra = roundUp(rem, SLOT_SIZE);
        const rem2 = BLOCK_SIZE - ((pos + nonTail + extra) % BLOCK_SIZE);
        if (tail <= rem2) pos += extra;
        else {
          nBlocks++;
          tail = 0;
          pos = roundUp(pos, BLOCK_SIZE);
        }
      }
    }
    inodes[i] = { node, pos, compact, xattrs, nShared, xattrSize, nBlocks, tail, blkaddr: 0, chunkBits, chunkCount };
    nDataBlocks += nBlocks;
    pos += nonTail + tail;
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
  return { inodes, shared, sharedSize, inodesEnd, dataStart, totalSize: dataStart + nDataBlocks * BLOCK_SIZE };
}

export function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
