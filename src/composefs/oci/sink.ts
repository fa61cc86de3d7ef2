/**
 * Owns the seams through which imported layer data leaves the OCI importer:
 * `ObjectSink` (where external file contents go, composefs.md §3.4), `SplitSink`
 * (the inline/external byte sequence of a layer tar, from which the repository
 * writes the `oci-layer-<diff_id>` splitstream), in-memory implementations
 * of both for tests, and `Arena`, which keeps the small buffers a tree holds
 * out of Node's shared Buffer pool.
 */

/** Receives the bytes of one external object, in order. */
export interface ObjectWriter {
  /**
   * Appends bytes. The chunk may be a view into a buffer the importer reuses after
   * the returned promise settles (or after the call returns), so copy to retain it.
   */
  write(chunk: Buffer): void | Promise<void>;
  /**
   * Present when the writer hashes the bytes it is given itself (the
   * repository's ObjectBuilder): the importer then takes the id from here,
   * after the last write, instead of hashing every byte a second time.
   */
  digest?(): Buffer;
  /** All bytes were written; `id` is their fs-verity digest (the importer's, or digest()). */
  finish(id: Buffer): void | Promise<void>;
  /** The import failed before `finish`; drop any partial object. */
  abort(reason: unknown): void | Promise<void>;
}

/** Where the contents of regular files larger than the inline limit go. */
export interface ObjectSink {
  /** Opens a writer for one object of exactly `size` bytes. */
  begin(size: bigint): ObjectWriter | Promise<ObjectWriter>;
}

/**
 * The uncompressed layer tar as a splitstream would store it (composefs.md §3.4):
 * every byte of the tar, in order, either inline or as a reference to an external
 * object (the content of a regular file larger than 64 bytes). Concatenating the
 * inline bytes and the object contents reproduces the tar, so its sha256 is the diff_id.
 */
export interface SplitSink {
  inline(bytes: Buffer): void | Promise<void>;
  external(id: Buffer, size: bigint): void | Promise<void>;
}

/** An ObjectSink that keeps every object in memory, keyed by the id's hex. */
export class MemoryObjectSink implements ObjectSink {
  readonly objects = new Map<string, Buffer>();
  /** Writers begun but neither finished nor aborted (should be 0 after an import). */
  open = 0;
  aborted = 0;

  begin(size: bigint): ObjectWriter {
    const parts: Buffer[] = [];
    this.open++;
    return {
      write: (chunk) => {
        parts.push(Buffer.from(chunk));
      },
      finish: (id) => {
        this.open--;
        const data = Buffer.concat(parts);
        if (BigInt(data.length) !== size) throw new Error(`object ${id.toString('hex')}: got ${data.length} bytes, expected ${size}`);
        this.objects.set(id.toString('hex'), data);
      },
      abort: () => {
        this.open--;
        this.aborted++;
      },
    };
  }

  get(id: Buffer | string): Buffer | undefined {
    return this.objects.get(typeof id === 'string' ? id : id.toString('hex'));
  }
}

/** A SplitSink that records the chunk sequence (for tests). */
export class MemorySplitSink implements SplitSink {
  readonly chunks: Array<{ inline: Buffer } | { id: Buffer; size: bigint }> = [];
  inline(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const last = this.chunks[this.chunks.length - 1];
    if (last !== undefined && 'inline' in last) last.inline = Buffer.concat([last.inline, bytes]);
    else this.chunks.push({ inline: Buffer.from(bytes) });
  }
  external(id: Buffer, size: bigint): void {
    this.chunks.push({ id: Buffer.from(id), size });
  }
  /** Rebuilds the tar from the chunks and an object store. */
  reassemble(objects: MemoryObjectSink): Buffer {
    return Buffer.concat(this.chunks.map((c) => ('inline' in c ? c.inline : objects.get(c.id)!)));
  }
}

/**
 * Tracks which tar bytes are inline for a SplitSink: raw chunks are queued as
 * they are fed to the parser and released once the parser has shown whether they
 * are header/inline bytes or the content of an external file.
 */
export class SplitTracker {
  private queue: Buffer[] = [];
  private queuedFrom = 0; // absolute offset of queue[0][0]
  /** Bytes tapped but not yet known to be inline or external (held in memory). */
  queued = 0;
  private skipTo = 0; // bytes before this offset that belong to an external object are dropped
  constructor(private readonly sink: SplitSink | undefined) {}

  tap(chunk: Buffer, at: number): void {
    if (this.sink === undefined) return;
    let c = chunk;
    let start = at;
    if (this.skipTo > start) {
      const drop = Math.min(this.skipTo - start, c.length);
      c = c.subarray(drop);
      start += drop;
    }
    if (c.length === 0) return;
    if (this.queue.length === 0) this.queuedFrom = start;
    this.queue.push(c);
    this.queued += c.length;
  }

  /** Absolute offset of the oldest byte still queued. */
  get pendingFrom(): number {
    return this.queuedFrom;
  }

  /** Emits queued bytes before `offset` as inline. */
  async inlineUpTo(offset: number, tapped: number): Promise<void> {
    if (this.sink === undefined) return;
    const end = Math.min(offset, tapped);
    const out: Buffer[] = [];
    while (this.queue.length > 0 && this.queuedFrom < end) {
      const head = this.queue[0]!;
      const take = Math.min(head.length, end - this.queuedFrom);
      out.push(head.subarray(0, take));
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      this.queuedFrom += take;
      this.queued -= take;
    }
    if (out.length > 0) await this.sink.inline(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  /** The bytes up to `end` (already emitted up to its start) are external content. */
  skip(end: number, tapped: number): void {
    if (this.sink === undefined) return;
    this.skipTo = end;
    const drop = Math.min(end, tapped);
    while (this.queue.length > 0 && this.queuedFrom < drop) {
      const head = this.queue[0]!;
      const take = Math.min(head.length, drop - this.queuedFrom);
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      this.queuedFrom += take;
      this.queued -= take;
    }
    if (this.queue.length === 0) this.queuedFrom = drop;
  }

  async external(id: Buffer, size: bigint): Promise<void> {
    if (this.sink !== undefined) await this.sink.external(id, size);
  }
}

const SLAB = 64 * 1024;
/** Larger buffers get an allocation of their own. */
const MAX_PACKED = 1024;

/**
 * Where the importer copies the small buffers a tree keeps for the whole
 * import (object paths, inline file contents, symlink targets, xattr values).
 * Node's Buffer pool packs every small allocation into shared 8 KiB slabs, so
 * one long-lived 130-byte payload pinned a slab otherwise filled with
 * transient tar bytes: about 90 MiB of dead slabs on the 33 000-file
 * benchmark image. Slabs of their own keep long-lived bytes dense.
 */
export class Arena {
  private slab: Buffer = Buffer.allocUnsafeSlow(0);
  private at = 0;

  private take(n: number): Buffer {
    if (n > MAX_PACKED) return Buffer.allocUnsafeSlow(n);
    if (this.at + n > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB);
      this.at = 0;
    }
    const b = this.slab.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  /** A copy of `src`'s bytes. */
  copy(src: Uint8Array): Buffer {
    const b = this.take(src.length);
    b.set(src);
    return b;
  }

  /** The concatenation of `parts`. */
  concat(parts: readonly Uint8Array[]): Buffer {
    const b = this.take(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      b.set(p, at);
      at += p.length;
    }
    return b;
  }

  /** A latin1 string's bytes. */
  latin1(s: string): Buffer {
    const b = this.take(s.length);
    b.write(s, 0, s.length, 'latin1');
    return b;
  }
}
