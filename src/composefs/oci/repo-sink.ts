/**
 * Owns the seams between the OCI importer and the composefs repository:
 * `RepoObjectSink`, an ObjectSink whose objects are published in the
 * background (a bounded queue, so the tar parser keeps going while earlier
 * objects are linked and sealed), `StreamSplitSink`, which records a layer's
 * §3.4 split into a SplitStreamWriter, and the import statistics cfsctl prints
 * after `oci pull` (`ImportStats` Display in composefs-oci/src/lib.rs).
 */
import { MEMORY_OBJECT_MAX, type ObjectBuilder, type Repository, type SplitStreamWriter, type StoreMethod } from '../repository/index.js';
import type { ObjectSink, ObjectWriter, SplitSink } from './sink.js';

export interface ImportStats {
  layers: number;
  layersAlreadyPresent: number;
  objectsCopied: number;
  objectsAlreadyPresent: number;
  bytesCopied: number;
  bytesInlined: number;
}

export function newImportStats(): ImportStats {
  return { layers: 0, layersAlreadyPresent: 0, objectsCopied: 0, objectsAlreadyPresent: 0, bytesCopied: 0, bytesInlined: 0 };
}

/** indicatif's HumanBytes: `N B` below 1 KiB, else two decimals and a binary unit. */
export function humanBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  if (n < 1024) return `${n} B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]!}`;
}

/** The `objects` line of `oci pull` (no zero-copy methods here). */
export function formatImportStats(s: ImportStats): string {
  return `${s.objectsCopied} new + ${s.objectsAlreadyPresent} already present objects; ${humanBytes(s.bytesCopied)} stored, ${humanBytes(s.bytesInlined)} inlined`;
}

export interface RepoObjectSinkOptions {
  /** Objects being published at once (default 16). */
  maxPending?: number;
  /** Bytes held in memory by objects being built or queued (default 16 MiB). */
  maxPendingBytes?: number;
}

/**
 * An ObjectSink that stores into a repository through ObjectBuilder, which
 * hashes each byte once (the importer takes its digest). `finish` hands the
 * object to a background queue and returns at once unless the queue is full;
 * `drain()` waits for everything and rethrows the first failure. Memory is
 * bounded by bytes: room for an in-memory object is reserved before its
 * buffer is allocated and released when it is stored.
 */
export class RepoObjectSink implements ObjectSink {
  private readonly pending = new Set<Promise<void>>();
  private pendingBytes = 0;
  private failure: unknown;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;

  constructor(
    private readonly repo: Repository,
    private readonly stats: ImportStats,
    opts: RepoObjectSinkOptions = {},
  ) {
    this.maxPending = opts.maxPending ?? 16;
    this.maxPendingBytes = opts.maxPendingBytes ?? 16 << 20;
  }

  private record(method: StoreMethod, size: number): void {
    if (method === 'already-present') this.stats.objectsAlreadyPresent++;
    else {
      this.stats.objectsCopied++;
      this.stats.bytesCopied += size;
    }
  }

  private async room(bytes: number): Promise<void> {
    while (this.pending.size >= this.maxPending || (this.pending.size > 0 && this.pendingBytes + bytes > this.maxPendingBytes)) {
      await Promise.race(this.pending);
    }
    if (this.failure !== undefined) throw this.failure;
  }

  async begin(size: bigint): Promise<ObjectWriter> {
    if (this.failure !== undefined) throw this.failure;
    const n = Number(size);
    const held = n <= MEMORY_OBJECT_MAX ? n : 0;
    await this.room(held);
    this.pendingBytes += held;
    let b: ObjectBuilder;
    try {
      b = await this.repo.beginObject(n);
    } catch (err) {
      this.pendingBytes -= held;
      throw err;
    }
    let released = false;
    const release = () => {
      if (!released) this.pendingBytes -= held;
      released = true;
    };
    return {
      write: (chunk) => b.write(chunk),
      digest: () => b.digest(),
      finish: () => {
        const p: Promise<void> = b
          .commit()
          .then((r) => this.record(r.method, n))
          .catch((err: unknown) => {
            this.failure ??= err;
          })
          .finally(() => {
            release();
            this.pending.delete(p);
          });
        this.pending.add(p);
      },
      abort: async () => {
        release();
        await b.abort();
      },
    };
  }

  /** Waits for every queued object; throws the first failure. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for every queued object, ignoring failures (cleanup after an error). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

/** A SplitSink writing a layer's inline bytes and external references into a splitstream. */
export class StreamSplitSink implements SplitSink {
  constructor(
    readonly writer: SplitStreamWriter,
    private readonly stats: ImportStats,
  ) {}
  inline(bytes: Buffer): void {
    this.writer.writeInline(bytes);
    this.stats.bytesInlined += bytes.length;
  }
  external(id: Buffer, size: bigint): void {
    this.writer.writeExternalRef(id.toString('hex'), size);
  }
}
