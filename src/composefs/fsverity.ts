/**
 * Owns the fs-verity digest as the kernel computes it for composefs:
 * 4096-byte blocks, no salt, SHA-256 or SHA-512 Merkle tree, and the digest
 * is the hash of the 256-byte descriptor (composefs.md §2). Object ids and
 * image ids are these digests.
 */
import { hash as oneShotHash } from 'node:crypto';

export type VerityAlgorithm = 'sha256' | 'sha512';

export const VERITY_BLOCK_SIZE = 4096;
const LOG_BLOCK_SIZE = 12;

export function digestSize(alg: VerityAlgorithm): 32 | 64 {
  return alg === 'sha256' ? 32 : 64;
}

function algId(alg: VerityAlgorithm): 1 | 2 {
  return alg === 'sha256' ? 1 : 2;
}

function h(alg: VerityAlgorithm, data: Uint8Array): Buffer {
  // crypto.hash (Node >= 20.12) is the fastest one-shot path.
  return oneShotHash(alg, data, 'buffer');
}

/**
 * Incremental fs-verity hasher. Feed data with `update` in chunks of any size;
 * `digest()` returns the fs-verity digest. Memory: O(log n) levels of pending hashes.
 */
export class FsVerityHasher {
  readonly alg: VerityAlgorithm;
  private size = 0n;
  /** Partial data block (level 0), always < 4096 bytes after update returns. */
  private readonly block = Buffer.alloc(VERITY_BLOCK_SIZE);
  private blockFill = 0;
  /** levels[i]: pending hashes of level i (not yet a full block), as one buffer. */
  private readonly levels: { buf: Buffer; fill: number }[] = [];
  private readonly dsize: number;

  constructor(alg: VerityAlgorithm) {
    this.alg = alg;
    this.dsize = digestSize(alg);
  }

  update(data: Uint8Array): this {
    this.size += BigInt(data.length);
    let off = 0;
    if (this.blockFill > 0) {
      const take = Math.min(VERITY_BLOCK_SIZE - this.blockFill, data.length);
      this.block.set(data.subarray(0, take), this.blockFill);
      this.blockFill += take;
      off = take;
      if (this.blockFill === VERITY_BLOCK_SIZE) {
        this.push(0, h(this.alg, this.block));
        this.blockFill = 0;
      }
    }
    while (data.length - off >= VERITY_BLOCK_SIZE) {
      this.push(0, h(this.alg, data.subarray(off, off + VERITY_BLOCK_SIZE)));
      off += VERITY_BLOCK_SIZE;
    }
    if (off < data.length) {
      this.block.set(data.subarray(off), 0);
      this.blockFill = data.length - off;
    }
    return this;
  }

  /** Adds an already-computed level-0 block hash for a full 4096-byte block (parallel hashing). */
  pushBlockHash(hash: Uint8Array, blockLength = VERITY_BLOCK_SIZE): void {
    if (this.blockFill !== 0) throw new Error('fs-verity: pushBlockHash after a partial block');
    this.size += BigInt(blockLength);
    this.push(0, hash);
  }

  private push(level: number, hash: Uint8Array): void {
    let lv = this.levels[level];
    if (lv === undefined) {
      lv = { buf: Buffer.alloc(VERITY_BLOCK_SIZE), fill: 0 };
      this.levels[level] = lv;
    }
    lv.buf.set(hash, lv.fill);
    lv.fill += hash.length;
    if (lv.fill === VERITY_BLOCK_SIZE) {
      const up = h(this.alg, lv.buf);
      lv.fill = 0;
      this.push(level + 1, up);
    }
  }

  /** The Merkle root (all zeros for empty input). */
  private root(): Buffer {
    if (this.blockFill > 0) {
      this.block.fill(0, this.blockFill);
      this.push(0, h(this.alg, this.block));
      this.blockFill = 0;
    }
    if (this.size === 0n) return Buffer.alloc(this.dsize);
    // Flush levels bottom-up: a level with pending hashes (and any level above
    // that has content) is padded and hashed into the next one, until a level
    // holds exactly one hash and nothing above it.
    for (let i = 0; ; i++) {
      const lv = this.levels[i];
      if (lv === undefined) throw new Error('fs-verity: internal error (no levels)');
      // A level above exists once this level has emitted a full block into it.
      const above = this.levels.length > i + 1;
      if (!above && lv.fill === this.dsize) return Buffer.from(lv.buf.subarray(0, this.dsize));
      if (lv.fill > 0) {
        lv.buf.fill(0, lv.fill);
        const up = h(this.alg, lv.buf);
        lv.fill = 0;
        this.push(i + 1, up);
      }
    }
  }

  digest(): Buffer {
    return descriptorDigest(this.alg, this.size, this.root());
  }
}

/**
 * Hashes every 4096-byte block of `data` (the final partial block zero-padded)
 * into `out` at `outOff`, one digest after another; returns the new offset. This
 * is level 0 of the Merkle tree, the part worth spreading over threads.
 */
export function hashLeafBlocks(alg: VerityAlgorithm, data: Uint8Array, out: Buffer, outOff: number, pad?: Buffer): number {
  // A 'binary' (latin1) string result is cheaper to make than a Buffer (~10% of the total
  // per 4 KiB block, measured in CPU time), and latin1 maps bytes 1:1.
  const full = data.length - (data.length % VERITY_BLOCK_SIZE);
  let o = outOff;
  for (let off = 0; off < full; off += VERITY_BLOCK_SIZE) {
    o += out.write(oneShotHash(alg, data.subarray(off, off + VERITY_BLOCK_SIZE), 'binary'), o, 'latin1');
  }
  if (full < data.length) {
    const block = pad ?? Buffer.alloc(VERITY_BLOCK_SIZE);
    block.set(data.subarray(full), 0);
    block.fill(0, data.length - full);
    o += out.write(oneShotHash(alg, block, 'binary'), o, 'latin1');
  }
  return o;
}

/** The number of level-0 blocks of a file of `size` bytes. */
export function leafBlockCount(size: number): number {
  return Math.ceil(size / VERITY_BLOCK_SIZE);
}

/**
 * The fs-verity digest of a file of `size` bytes from its concatenated level-0
 * block hashes (see {@link hashLeafBlocks}): builds the upper levels and hashes
 * the descriptor.
 */
export function digestFromLeafHashes(leaves: Buffer, size: bigint, alg: VerityAlgorithm): Buffer {
  const dsize = digestSize(alg);
  let level = leaves;
  let root: Buffer;
  if (size === 0n) root = Buffer.alloc(dsize);
  else {
    while (level.length > dsize) {
      const blocks = Math.ceil(level.length / VERITY_BLOCK_SIZE);
      const next = Buffer.allocUnsafe(blocks * dsize);
      hashLeafBlocks(alg, level, next, 0);
      level = next;
    }
    root = level;
  }
  return descriptorDigest(alg, size, root);
}

function descriptorDigest(alg: VerityAlgorithm, size: bigint, root: Buffer): Buffer {
  const desc = Buffer.alloc(256);
  desc[0] = 1;
  desc[1] = algId(alg);
  desc[2] = LOG_BLOCK_SIZE;
  desc[3] = 0;
  desc.writeBigUInt64LE(size, 8);
  root.copy(desc, 16);
  return h(alg, desc);
}

/** fs-verity digest of a whole buffer. */
export function fsverityDigest(data: Uint8Array, alg: VerityAlgorithm): Buffer {
  const leaves = Buffer.allocUnsafe(leafBlockCount(data.length) * digestSize(alg));
  hashLeafBlocks(alg, data, leaves, 0);
  return digestFromLeafHashes(leaves, BigInt(data.length), alg);
}

/** fs-verity digest as lowercase hex. */
export function fsverityHex(data: Uint8Array, alg: VerityAlgorithm): string {
  return fsverityDigest(data, alg).toString('hex');
}
