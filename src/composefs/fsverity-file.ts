/**
 * Owns fs-verity digests of files on disk, fast: small files are hashed on the
 * calling thread through a caller-owned read buffer (no allocation per file);
 * large ones are cut into block-aligned segments whose level-0 hashes are
 * computed by a pool of worker threads (fsverity-worker.ts), after which the
 * upper tree levels and the descriptor are hashed here (composefs.md §2).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { TsbootcError } from '../util/errors.js';
import { digestFromLeafHashes, digestSize, hashLeafBlocks, leafBlockCount, VERITY_BLOCK_SIZE, type VerityAlgorithm } from './fsverity.js';
import type { SegmentReply, SegmentRequest } from './fsverity-worker.js';

/** Files at least this large are hashed by the worker pool. */
export const PARALLEL_MIN_SIZE = 8 << 20;
const SEGMENT = 16 << 20;
const READ_CHUNK = 1 << 20;

/** A reusable read buffer for {@link fsverityDigestFdSync} (a multiple of 4096 bytes). */
export function newReadBuffer(size = READ_CHUNK): Buffer {
  return Buffer.allocUnsafe(Math.max(VERITY_BLOCK_SIZE, size - (size % VERITY_BLOCK_SIZE)));
}

/**
 * The fs-verity digest of the first `size` bytes of an open file, on this thread,
 * reading through `buf` (whose length must be a multiple of 4096).
 * @throws TsbootcError if the file is shorter than `size`.
 */
export function fsverityDigestFdSync(fd: number, size: number, alg: VerityAlgorithm, buf: Buffer, what = `fd ${fd}`): Buffer {
  const leaves = Buffer.allocUnsafe(leafBlockCount(size) * digestSize(alg));
  let done = 0;
  let o = 0;
  while (done < size) {
    const want = Math.min(buf.length, size - done);
    let got = 0;
    while (got < want) {
      const n = readSync(fd, buf, got, want - got, done + got);
      if (n === 0) throw new TsbootcError(`${what}: file shrank while hashing (${done + got} of ${size} bytes)`);
      got += n;
    }
    o = hashLeafBlocks(alg, buf.subarray(0, got), leaves, o);
    done += got;
  }
  return digestFromLeafHashes(leaves, BigInt(size), alg);
}

interface Pending {
  what: string;
  leaves: Buffer;
  dsize: number;
  left: number;
  failed: Error | undefined;
  resolve: () => void;
}

/**
 * A pool of hashing threads. Create one per batch of work and `close()` it in
 * `finally`; workers start on first use.
 */
export class VerityPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ req: SegmentRequest; job: Pending; slot: number }> = [];
  private readonly inflight = new Map<number, { job: Pending; slot: number }>();
  private nextId = 1;
  readonly threads: number;

  constructor(threads = availableParallelism()) {
    this.threads = Math.max(1, threads);
  }

  /** The fs-verity digest of the file at `path` (multi-threaded for large files). */
  async digestFile(path: string | Buffer, alg: VerityAlgorithm, buf?: Buffer): Promise<Buffer> {
    const fd = openSync(path, 'r');
    let size: number;
    try {
      size = fstatSync(fd).size;
      if (size < PARALLEL_MIN_SIZE || this.threads < 2) return fsverityDigestFdSync(fd, size, alg, buf ?? newReadBuffer(), String(path));
    } finally {
      closeSync(fd);
    }
    return this.digestLarge(path, size, alg);
  }

  /** Parallel digest of a file whose size is known (the caller has checked it). */
  async digestLarge(path: string | Buffer, size: number, alg: VerityAlgorithm): Promise<Buffer> {
    const dsize = digestSize(alg);
    const leaves = Buffer.allocUnsafe(leafBlockCount(size) * dsize);
    const segs = Math.ceil(size / SEGMENT);
    let job: Pending | undefined;
    await new Promise<void>((resolve) => {
      job = { what: String(path), leaves, dsize, left: segs, failed: undefined, resolve };
      for (let i = 0; i < segs; i++) {
        const offset = i * SEGMENT;
        const req: SegmentRequest = { id: this.nextId++, path, alg, offset, length: Math.min(SEGMENT, size - offset) };
        this.queue.push({ req, job, slot: (offset / VERITY_BLOCK_SIZE) * dsize });
      }
      this.pump();
    });
    if (job?.failed !== undefined) throw job.failed;
    return digestFromLeafHashes(leaves, BigInt(size), alg);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (w === undefined && this.workers.length < this.threads) w = this.spawn();
      if (w === undefined) return;
      const item = this.queue.shift()!;
      if (item.job.failed !== undefined) {
        this.idle.push(w);
        this.settle(item.job);
        continue;
      }
      this.inflight.set(item.req.id, { job: item.job, slot: item.slot });
      w.postMessage(item.req);
    }
  }

  private spawn(): Worker {
    const w = new Worker(new URL('./fsverity-worker.js', import.meta.url));
    w.on('message', (reply: SegmentReply) => {
      const entry = this.inflight.get(reply.id);
      this.inflight.delete(reply.id);
      this.idle.push(w);
      if (entry !== undefined) {
        if ('error' in reply) entry.job.failed ??= new TsbootcError(`hashing ${entry.job.what}: ${reply.error}`);
        else Buffer.from(reply.hashes).copy(entry.job.leaves, entry.slot);
        this.settle(entry.job);
      }
      this.pump();
    });
    w.on('error', (err) => {
      for (const [id, e] of this.inflight) {
        e.job.failed ??= err;
        this.inflight.delete(id);
        this.settle(e.job);
      }
    });
    this.workers.push(w);
    return w;
  }

  private settle(job: Pending): void {
    job.left--;
    if (job.left === 0) job.resolve();
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    this.idle.length = 0;
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/** The fs-verity digest of a file, using every core for large files. */
export async function fsverityDigestFile(path: string | Buffer, alg: VerityAlgorithm, opts: { threads?: number } = {}): Promise<Buffer> {
  const pool = new VerityPool(opts.threads);
  try {
    return await pool.digestFile(path, alg);
  } finally {
    await pool.close();
  }
}
