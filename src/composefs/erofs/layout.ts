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
  xattrFilterBit,
  xattrPrefix,
} from './format.js';
import type { EpochOneTree, WNode } from './nodes.js';

/** A distinct xattr key: its EROFS prefix index, the suffix stored on disk and its name-filter bit. */
export interface XattrKey {
  index: number;
  suffix: string;
  filterBit: number;
}

export interface Layout {
  /** Per xattr of every node (node.xbase + i): its offset in the shared table, or -1 when stored locally. */
  sharedOffsets: Int32Array;
  /** Per xattr of every node (node.xbase + i): its key, an index into `keys`. */
  keyOf: Int32Array;
  keys: XattrKey[];
  /** The shared xattr table in order: keys and values (latin1). */
  sharedKeys: XattrKey[];
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

/** Bit length of a non-negative integer below 2^53. */
function bitLength(x: number): number {
  return x < 0x100000000 ? 32 - Math.clz32(x) : 64 - Math.clz32(Math.floor(x / 0x100000000));
}

/** C erofs_compute_chunking for an external file of `size` > 0 bytes: chunkbits and chunk count. */
function setChunking(n: WNode): void {
  const size = n.size;
  if (size < 0x20000000000000n) {
    const s = Number(size);
    n.chunkBits = Math.min(Math.max(12, bitLength(s - 1)), 12 + 31);
    n.chunkCount = Math.ceil(s / 2 ** n.chunkBits);
  } else {
    n.chunkBits = chunkBitsFor(size);
    n.chunkCount = Number((size + (1n << BigInt(n.chunkBits)) - 1n) >> BigInt(n.chunkBits));
  }
}

/** Splits a directory's dirents into blocks (C compute_erofs_dir_size): full blocks and tail bytes. */
function dirSize(n: WNode): void {
  let blocks = 0;
  let used = 0;
  for (const name of n.names!) {
    const len = DIRENT_SIZE + name.length;
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
  n.nBlocks = blocks;
  n.tail = used;
}

/** Sorts a node's xattrs by key (strcmp order), in place. */
function sortXattrs(n: WNode): void {
  const x = n.x;
  let sorted = true;
  for (let i = 2; i < x.length && sorted; i += 2) sorted = x[i - 2]! < x[i]!;
  if (sorted) return;
  const order: number[] = [];
  for (let i = 0; i < x.length; i += 2) order.push(i);
  order.sort((a, b) => (x[a]! < x[b]! ? -1 : 1));
  n.x = order.flatMap((i) => [x[i]!, x[i + 1]!]);
}

/**
 * Every (key, value) pair of the tree numbered once: `uid[g]` for the g-th
 * xattr overall, with per-pair use counts. One hash lookup per xattr; the
 * nodes' xbase is set here.
 */
class XattrCensus {
  readonly keyIds = new Map<string, number>();
  readonly keys: XattrKey[] = [];
  readonly keyNames: string[] = [];
  readonly valueIds: Array<Map<string, number>> = [];
  /** Per pair: its key id and value. */
  readonly pairKey: number[] = [];
  readonly pairValue: string[] = [];
  counts = new Int32Array(1024);
  readonly uid: Int32Array;
  readonly keyOf: Int32Array;

  constructor(nodes: readonly WNode[], nXattrs: number) {
    this.uid = new Int32Array(nXattrs);
    this.keyOf = new Int32Array(nXattrs);
    let g = 0;
    for (const n of nodes) {
      if (n.x.length === 0) continue;
      sortXattrs(n);
      n.xbase = g;
      const x = n.x;
      for (let j = 0; j < x.length; j += 2, g++) {
        const kid = this.keyId(x[j]!);
        this.keyOf[g] = kid;
        this.uid[g] = this.pairId(kid, x[j + 1]!);
      }
    }
  }

  keyId(key: string): number {
    let id = this.keyIds.get(key);
    if (id === undefined) {
      id = this.keys.length;
      const { index, prefixLen } = xattrPrefix(key);
      const suffix = key.slice(prefixLen);
      this.keys.push({ index, suffix, filterBit: xattrFilterBit(suffix, index) });
      this.keyNames.push(key);
      this.valueIds.push(new Map());
      this.keyIds.set(key, id);
    }
    return id;
  }

  pairId(kid: number, value: string): number {
    const values = this.valueIds[kid]!;
    let id = values.get(value);
    if (id === undefined) {
      id = this.pairKey.length;
      values.set(value, id);
      this.pairKey.push(kid);
      this.pairValue.push(value);
      if (id === this.counts.length) {
        const grown = new Int32Array(id * 2);
        grown.set(this.counts);
        this.counts = grown;
      }
    }
    this.counts[id]!++;
    return id;
  }
}

/** Computes the V0/V1 layout of a rewritten tree; fills in the nodes' layout fields. */
export function layoutEpochOne(tree: EpochOneTree): Layout {
  const { nodes } = tree;
  const census = new XattrCensus(nodes, tree.nXattrs);
  const { keys, keyNames, pairKey, pairValue, counts } = census;
  // The shared table: key descending, then value length and bytes descending (C xattrs_ht_sort).
  const table: number[] = [];
  for (let p = 0; p < pairKey.length; p++) if (counts[p]! > 1) table.push(p);
  table.sort((a, b) => {
    const ka = keyNames[pairKey[a]!]!;
    const kb = keyNames[pairKey[b]!]!;
    if (ka !== kb) return ka < kb ? 1 : -1;
    const va = pairValue[a]!;
    const vb = pairValue[b]!;
    return va.length !== vb.length ? vb.length - va.length : va < vb ? 1 : va > vb ? -1 : 0;
  });
  const pairOffset = new Int32Array(pairKey.length).fill(-1);
  let sharedSize = 0;
  for (const p of table) {
    pairOffset[p] = sharedSize;
    sharedSize += xattrEntrySize(keys[pairKey[p]!]!.suffix.length, pairValue[p]!.length);
  }

  const sharedOffsets = new Int32Array(tree.nXattrs);
  const uid = census.uid;
  let pos = INODES_START;
  let nDataBlocks = 0;
  for (const n of nodes) {
    const x = n.x;
    if (x.length > 0) {
      let localSize = 0;
      for (let j = 0, g = n.xbase; j < x.length; j += 2, g++) {
        const off = pairOffset[uid[g]!]!;
        if (off >= 0 && n.nShared < MAX_SHARED_REFS_V1) {
          sharedOffsets[g] = off;
          n.nShared++;
        } else {
          sharedOffsets[g] = -1;
          localSize += xattrEntrySize(keys[census.keyOf[g]!]!.suffix.length, x[j + 1]!.length);
        }
      }
      n.xattrSize = xattrBodySize(n.nShared, localSize);
    }

    // Data sizes (C compute_erofs_inode_size).
    const type = n.mode & S_IFMT;
    if (type === S_IFDIR) dirSize(n);
    else if (type === S_IFLNK) n.tail = n.target!.length;
    else if (type === S_IFREG && n.size > 0n) {
      if (n.content !== null) {
        const size = n.content.length;
        n.nBlocks = Math.floor(size / BLOCK_SIZE);
        n.tail = size % BLOCK_SIZE;
        if (n.tail > BLOCK_SIZE / 2) {
          n.nBlocks++;
          n.tail = 0;
        }
      } else {
        setChunking(n);
        n.tail = 4 * n.chunkCount;
      }
    }

    // Compact iff mtime is the minimum and everything fits (C lcfs_fits_in_erofs_compact).
    const sizeFits = type === S_IFDIR ? n.nBlocks * BLOCK_SIZE + n.tail <= 0xffffffff : n.size <= 0xffffffffn;
    n.compact = n.mtimeSec === tree.minMtimeSec && n.mtimeNsec === tree.minMtimeNsec && n.nlink <= 0xffff && n.uid <= 0xffff && n.gid <= 0xffff && sizeFits;
    const nonTail = (n.compact ? INODE_COMPACT_SIZE : INODE_EXTENDED_SIZE) + n.xattrSize;

    // Placement (C compute_erofs_inode_padding_for_tail).
    pos = roundUp(pos, SLOT_SIZE);
    if (type === S_IFLNK) {
      const total = nonTail + n.tail;
      if (total >= BLOCK_SIZE) {
        n.nBlocks++;
        n.tail = 0;
      }
      if (Math.floor(pos / BLOCK_SIZE) !== Math.floor((pos + total - 1) / BLOCK_SIZE)) pos = roundUp(pos, BLOCK_SIZE);
    } else if (n.tail > 0) {
      const rem = BLOCK_SIZE - ((pos + nonTail) % BLOCK_SIZE);
      if (rem < n.tail) {
        const extra = roundUp(rem, SLOT_SIZE);
        const rem2 = BLOCK_SIZE - ((pos + nonTail + extra) % BLOCK_SIZE);
        if (n.tail <= rem2) pos += extra;
        else {
          n.nBlocks++;
          n.tail = 0;
          pos = roundUp(pos, BLOCK_SIZE);
        }
      }
    }
    n.pos = pos;
    nDataBlocks += n.nBlocks;
    pos += nonTail + n.tail;
  }
  const inodesEnd = roundUp(pos, SLOT_SIZE);
  const dataStart = roundUp(inodesEnd + sharedSize, BLOCK_SIZE);
  let block = dataStart / BLOCK_SIZE;
  for (const n of nodes) {
    if (n.nBlocks > 0) {
      n.blkaddr = block;
      block += n.nBlocks;
    }
  }
  return {
    sharedOffsets,
    keyOf: census.keyOf,
    keys,
    sharedKeys: table.map((p) => keys[pairKey[p]!]!),
    sharedValues: table.map((p) => pairValue[p]!),
    inodesEnd,
    dataStart,
    totalSize: dataStart + nDataBlocks * BLOCK_SIZE,
  };
}

export function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
