/**
 * Owns the splitstream file format byte for byte (composefs.md §3,
 * splitstream.rs): the 32-byte header (current `repr(C)` layout written, the
 * legacy bootc ≤ 1.15 layout also read), the 80-byte info section, the
 * stream/object reference arrays, the zstd-compressed chunk stream and the
 * zstd-compressed named-refs table, and writing them (SplitStreamWriter);
 * splitstream-reader.ts parses them. Pure: bytes in, bytes out; storing the
 * result is streams.ts's job.
 */
import { digestSize, type VerityAlgorithm } from '../fsverity.js';
import { FormatError } from '../../util/errors.js';
import type { ZstdCodec, ZstdCompressor } from './ports.js';
import type { ObjectId } from './core.js';

export const MAGIC = Buffer.from('SplitStream', 'latin1');
export const LG_BLOCKSIZE = 12;
export const HEADER_SIZE = 32;
export const INFO_SIZE = 80;

/** The 8 ASCII bytes of an OCI content type read as u64 LE (`ocilayer`, `ociconfg`, `ocimanif`, `oci_blob`). */
export function contentTypeOf(tag: string): bigint {
  const b = Buffer.alloc(8);
  const t = Buffer.from(tag, 'latin1');
  if (t.length > 8) throw new FormatError(`splitstream content type ${JSON.stringify(tag)} is longer than 8 bytes`);
  t.copy(b);
  return b.readBigUInt64LE(0);
}

export const CONTENT_TYPE = {
  ociLayer: contentTypeOf('ocilayer'),
  ociConfig: contentTypeOf('ociconfg'),
  ociManifest: contentTypeOf('ocimanif'),
  ociBlob: contentTypeOf('oci_blob'),
} as const;

export function algId(alg: VerityAlgorithm): number {
  return alg === 'sha256' ? 1 : 2;
}

/** A first-appearance-ordered set (`UniqueVec`). */
class UniqueIds {
  readonly items: ObjectId[] = [];
  private readonly index = new Map<ObjectId, number>();
  ensure(id: ObjectId): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.items.length;
      this.index.set(id, i);
      this.items.push(id);
    }
    return i;
  }
  get(id: ObjectId): number | undefined {
    return this.index.get(id);
  }
}

function i64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
}

/**
 * Builds a splitstream in memory (`SplitStreamWriter`). Inline data is
 * coalesced and flushed only before an external reference or at the end;
 * object refs are deduplicated in first-appearance order; named refs are
 * written sorted bytewise by name.
 *
 * Memory: the file puts the header, the reference arrays and the named refs
 * before the chunk stream, and the object refs are only known at the end, so
 * nothing can be written out before finish(). With a codec that compresses
 * piece by piece, each flushed chunk goes straight into the zstd frame and
 * only the compressed bytes are kept (plus the current inline run, whose
 * length prefix needs its end); otherwise the raw chunk stream is kept.
 */
export class SplitStreamWriter {
  readonly algorithm: VerityAlgorithm;
  readonly contentType: bigint;
  private readonly zstd: ZstdCodec;
  private readonly streamRefs = new UniqueIds();
  private readonly objectRefs = new UniqueIds();
  private readonly namedRefs = new Map<string, number>();
  private readonly chunks: Buffer[] = [];
  private compressor: ZstdCompressor | undefined;
  private inline: Buffer[] = [];
  private inlineLength = 0;
  private totalSize = 0n;

  constructor(algorithm: VerityAlgorithm, contentType: bigint, zstd: ZstdCodec) {
    this.algorithm = algorithm;
    this.contentType = BigInt.asUintN(64, contentType);
    this.zstd = zstd;
  }

  private checkId(id: ObjectId): void {
    if (id.length !== digestSize(this.algorithm) * 2 || !/^[0-9a-f]+$/.test(id)) throw new FormatError(`splitstream: ${JSON.stringify(id)} is not a ${this.algorithm} object id`);
  }

  /** Appends literal bytes to the reassembled stream. */
  writeInline(data: Uint8Array): void {
    this.totalSize += BigInt(data.length);
    if (data.length === 0) return;
    this.inline.push(Buffer.from(data));
    this.inlineLength += data.length;
  }

  /** Appends to the chunk stream: into the zstd frame when the codec streams, else kept raw. */
  private emit(data: Buffer): void {
    if (this.zstd.compressor !== undefined) {
      this.compressor ??= this.zstd.compressor();
      this.compressor.write(data);
    } else this.chunks.push(data);
  }

  private flushInline(): void {
    if (this.inlineLength === 0) return;
    this.emit(i64(-BigInt(this.inlineLength)));
    for (const b of this.inline) this.emit(b);
    this.inline = [];
    this.inlineLength = 0;
  }

  /** Frees the compression context of a writer that will not be finished (idempotent). */
  dispose(): void {
    this.compressor?.dispose();
    this.inline = [];
    this.chunks.length = 0;
  }

  /** Adds to stream_size the length of external content written with {@link writeReference}. */
  addExternalSize(size: number | bigint): void {
    this.totalSize += BigInt(size);
  }

  /** Appends a reference to an object whose whole content is the next chunk (size not counted: see addExternalSize). */
  writeReference(id: ObjectId): void {
    this.checkId(id);
    this.flushInline();
    this.emit(i64(BigInt(this.objectRefs.ensure(id))));
  }

  /** `writeReference` plus `addExternalSize(size)`. */
  writeExternalRef(id: ObjectId, size: number | bigint): void {
    this.addExternalSize(size);
    this.writeReference(id);
  }

  /** Records an object ref without a stream chunk; returns its index. */
  addObjectRef(id: ObjectId): number {
    this.checkId(id);
    return this.objectRefs.ensure(id);
  }

  /** Adds `name` → `id` to the named-refs table (a later call with the same name replaces it). */
  addNamedStreamRef(name: string, id: ObjectId): void {
    this.checkId(id);
    if (name.includes('\0')) throw new FormatError(`splitstream: named ref ${JSON.stringify(name)} contains NUL`);
    this.namedRefs.set(name, this.streamRefs.ensure(id));
  }

  /** The complete splitstream file. */
  finish(): Buffer {
    this.flushInline();
    let stream: Buffer[];
    if (this.zstd.compressor !== undefined) {
      const c = this.compressor ?? this.zstd.compressor();
      this.compressor = undefined;
      stream = c.finish();
    } else stream = [this.zstd.compress(Buffer.concat(this.chunks))];
    const names = [...this.namedRefs.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const named = this.zstd.compress(Buffer.from(names.map((n) => `${this.namedRefs.get(n)}:${n}\0`).join(''), 'utf8'));
    const streamRefs = Buffer.from(this.streamRefs.items.join(''), 'hex');
    const objectRefs = Buffer.from(this.objectRefs.items.join(''), 'hex');
    const srStart = HEADER_SIZE + INFO_SIZE;
    const orStart = srStart + streamRefs.length;
    const nrStart = orStart + objectRefs.length;
    const stStart = nrStart + named.length;
    const streamLength = stream.reduce((n, b) => n + b.length, 0);
    const head = Buffer.alloc(HEADER_SIZE + INFO_SIZE);
    MAGIC.copy(head, 0);
    head[11] = 0;
    head.writeUInt16LE(0, 12);
    head[14] = algId(this.algorithm);
    head[15] = LG_BLOCKSIZE;
    const ranges: [number, number][] = [
      [HEADER_SIZE, HEADER_SIZE + INFO_SIZE],
      [srStart, orStart],
      [orStart, nrStart],
      [stStart, stStart + streamLength],
      [nrStart, stStart],
    ];
    ranges.forEach(([s, e], i) => {
      head.writeBigUInt64LE(BigInt(s), 16 + 16 * i);
      head.writeBigUInt64LE(BigInt(e), 24 + 16 * i);
    });
    head.writeBigUInt64LE(this.contentType, 96);
    head.writeBigUInt64LE(this.totalSize, 104);
    return Buffer.concat([head, streamRefs, objectRefs, named, ...stream]);
  }
}
