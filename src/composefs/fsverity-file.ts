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

/** {@link VerityPool.digestFile} hands files at least this large to the workers. */
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

interface Job {
  what: string;
  alg: VerityAlgorithm;
  size: number;
  leaves: Buffer;
  left: number;
  failed: Error | undefined;
  resolve: (digest: Buffer) => void;
  reject: (err: Error) => void;
}

interface Segment {
  req: SegmentRequest;
  job: Job;
  /** Byte offset of the segment's first hash in job.leaves. */
  slot: number;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, Segment>;
}

/** Segments posted to one worker ahead of its replies, so it never waits for a busy caller. */
const WINDOW = 3;

/**
 * A pool of hashing threads. Create one per batch of work and `close()` it in
 * `finally`; workers start on first use. Any number of files may be in flight
 * (see {@link submit}); each is cut into segments that go to whichever worker
 * has room. Replies are handled when the calling thread yields to its event loop.
 */
export class VerityPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Segment[] = [];
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
    return this.submit(path, size, alg);
  }

  /** Alias of {@link submit} for a file whose size the caller knows. */
  digestLarge(path: string | Buffer, size: number, alg: VerityAlgorithm): Promise<Buffer> {
    return this.submit(path, size, alg);
  }

  /**
   * Queues the file at `path` (of `size` bytes) for hashing by the workers and
   * returns its digest. Returns at once; the caller may go on with other work.
   */
  submit(path: string | Buffer, size: number, alg: VerityAlgorithm): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const dsize = digestSize(alg);
      const segs = Math.max(1, Math.ceil(size / SEGMENT));
      const job: Job = { what: String(path), alg, size, leaves: Buffer.allocUnsafe(leafBlockCount(size) * dsize), left: segs, failed: undefined, resolve, reject };
      for (let i = 0; i < segs; i++) {
        const offset = i * SEGMENT;
        const req: SegmentRequest = { id: this.nextId++, path, alg, offset, length: Math.min(SEGMENT, size - offset) };
        this.queue.push({ req, job, slot: (offset / VERITY_BLOCK_SIZE) * dsize });
      }
      this.pump();
    });
  }

  /** Whether segments are waiting or in flight. */
  get busy(): boolean {
    return this.queue.length > 0 || this.slots.some((s) => s.inflight.size > 0);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot: Slot | undefined;
      for (const s of this.slots) if (s.inflight.size < WINDOW && (slot === undefined || s.inflight.size < slot.inflight.size)) slot = s;
      if ((slot === undefined || slot.inflight.size > 0) && this.slots.length < this.threads) slot = this.spawn();
      if (slot === undefined) return;
      const seg = this.queue.shift()!;
      if (seg.job.failed !== undefined) {
        this.finish(seg.job);
        continue;
      }
      slot.inflight.set(seg.req.id, seg);
      slot.worker.postMessage(seg.req);
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(new URL('./fsverity-worker.js', import.meta.url)), inflight: new Map() };
    slot.worker.on('message', (reply: SegmentReply) => {
      const seg = slot.inflight.get(reply.id);
      slot.inflight.delete(reply.id);
      if (seg !== undefined) {
        if ('error' in reply) seg.job.failed ??= new TsbootcError(`hashing ${seg.job.what}: ${reply.error}`);
        else Buffer.from(reply.hashes).copy(seg.job.leaves, seg.slot);
        this.finish(seg.job);
      }
      this.pump();
    });
    slot.worker.on('error', (err) => {
      const lost = [...slot.inflight.values()];
      slot.inflight.clear();
      this.slots.splice(this.slots.indexOf(slot), 1);
      for (const seg of lost) {
        seg.job.failed ??= err;
        this.finish(seg.job);
      }
      this.pump();
    });
    this.slots.push(slot);
    return slot;
  }

  /** Counts one segment of `job` as done; settles the job after its last one. */
  private finish(job: Job): void {
    job.left--;
    if (job.left > 0) return;
    if (job.failed !== undefined) job.reject(job.failed);
    else {
      try {
        job.resolve(digestFromLeafHashes(job.leaves, BigInt(job.size), job.alg));
      } catch (err) {
        job.reject(err as Error);
      }
    }
  }

  /** Stops the workers; queued work is rejected. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const seg of [...this.queue.splice(0), ...slots.flatMap((s) => [...s.inflight.values()])]) {
      seg.job.failed ??= new TsbootcError(`hashing ${seg.job.what}: the pool was closed`);
      this.finish(seg.job);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
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
