/**
 * Owns the seams between the OCI importer and the composefs repository:
 * `RepoObjectSink`, an ObjectSink whose objects are published in the
 * background (a bounded queue, so the tar parser keeps going while earlier
 * objects are linked and sealed), `StreamSplitSink`, which records a layer's
 * §3.4 split into a SplitStreamWriter, and the import statistics cfsctl prints
 * after `oci pull` (`ImportStats` Display in composefs-oci/src/lib.rs).
 */
import { TsbootcError } from '../../util/errors.js';
import type { Repository, SplitStreamWriter, StoreMethod } from '../repository/index.js';
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

/** Objects up to this size are collected in memory and stored in one write; larger ones stream to a temporary. */
const MEMORY_OBJECT_MAX = 4 << 20;

export interface RepoObjectSinkOptions {
  /** Objects being published at once (default 8). */
  maxPending?: number;
  /** Bytes held in memory by queued objects (default 64 MiB). */
  maxPendingBytes?: number;
}

/**
 * An ObjectSink that stores into a repository. `finish` hands the object to a
 * background queue and returns at once unless the queue is full; `drain()`
 * waits for everything and rethrows the first failure. An object whose
 * repository id differs from the importer's is a failure (never silently kept).
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
    this.maxPending = opts.maxPending ?? 8;
    this.maxPendingBytes = opts.maxPendingBytes ?? 64 << 20;
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

  private enqueue(bytes: number, task: () => Promise<void>): void {
    this.pendingBytes += bytes;
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.pendingBytes -= bytes;
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  async begin(size: bigint): Promise<ObjectWriter> {
    if (this.failure !== undefined) throw this.failure;
    const n = Number(size);
    if (n <= MEMORY_OBJECT_MAX) {
      const data = Buffer.allocUnsafe(n);
      let at = 0;
      return {
        write: (chunk) => {
          if (at + chunk.length > n) throw new TsbootcError(`object content is larger than the ${n} bytes announced`);
          chunk.copy(data, at);
          at += chunk.length;
        },
        finish: async (id) => {
          const want = id.toString('hex');
          await this.room(n);
          this.enqueue(n, async () => {
            const r = await this.repo.storeObject(data);
            if (r.id !== want) throw new TsbootcError(`object stored as ${r.id}, but the importer computed ${want}`);
            this.record(r.method, n);
          });
        },
        abort: () => undefined,
      };
    }
    const w = await this.repo.createObjectWriter();
    return {
      write: (chunk) => w.write(chunk),
      finish: async (id) => {
        await this.room(0);
        this.enqueue(0, async () => this.record((await w.finish(id.toString('hex'))).method, n));
      },
      abort: () => w.abort(),
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
