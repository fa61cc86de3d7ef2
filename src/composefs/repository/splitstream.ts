/**
 * Owns the splitstream file format byte for byte (composefs.md §3,
 * splitstream.rs): the 32-byte header (current `repr(C)` layout written, the
 * legacy bootc ≤ 1.15 layout also read), the 80-byte info section, the
 * stream/object reference arrays, the zstd-compressed chunk stream and the
 * zstd-compressed named-refs table. Pure: bytes in, bytes out; storing the
 * result is streams.ts's job.
 */
import { digestSize, type VerityAlgorithm } from '../fsverity.js';
import { FormatError } from '../../util/errors.js';
import type { ZstdCodec } from './ports.js';
import type { ObjectId } from './core.js';

const MAGIC = Buffer.from('SplitStream', 'latin1');
const LG_BLOCKSIZE = 12;
const HEADER_SIZE = 32;
const INFO_SIZE = 80;

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

function algId(alg: VerityAlgorithm): number {
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
 */
export class SplitStreamWriter {
  readonly algorithm: VerityAlgorithm;
  readonly contentType: bigint;
  private readonly zstd: ZstdCodec;
  private readonly streamRefs = new UniqueIds();
  private readonly objectRefs = new UniqueIds();
  private readonly namedRefs = new Map<string, number>();
  private readonly chunks: Buffer[] = [];
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

  private flushInline(): void {
    if (this.inlineLength === 0) return;
    this.chunks.push(i64(-BigInt(this.inlineLength)), ...this.inline);
    this.inline = [];
    this.inlineLength = 0;
  }

  /** Adds to stream_size the length of external content written with {@link writeReference}. */
  addExternalSize(size: number | bigint): void {
    this.totalSize += BigInt(size);
  }

  /** Appends a reference to an object whose whole content is the next chunk (size not counted: see addExternalSize). */
  writeReference(id: ObjectId): void {
    this.checkId(id);
    this.flushInline();
    this.chunks.push(i64(BigInt(this.objectRefs.ensure(id))));
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
    const stream = this.zstd.compress(Buffer.concat(this.chunks));
    const names = [...this.namedRefs.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const named = this.zstd.compress(Buffer.from(names.map((n) => `${this.namedRefs.get(n)}:${n}\0`).join(''), 'utf8'));
    const streamRefs = Buffer.from(this.streamRefs.items.join(''), 'hex');
    const objectRefs = Buffer.from(this.objectRefs.items.join(''), 'hex');
    const srStart = HEADER_SIZE + INFO_SIZE;
    const orStart = srStart + streamRefs.length;
    const nrStart = orStart + objectRefs.length;
    const stStart = nrStart + named.length;
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
      [stStart, stStart + stream.length],
      [nrStart, stStart],
    ];
    ranges.forEach(([s, e], i) => {
      head.writeBigUInt64LE(BigInt(s), 16 + 16 * i);
      head.writeBigUInt64LE(BigInt(e), 24 + 16 * i);
    });
    head.writeBigUInt64LE(this.contentType, 96);
    head.writeBigUInt64LE(this.totalSize, 104);
    return Buffer.concat([head, streamRefs, objectRefs, named, stream]);
  }
}

export type SplitStreamChunk = { kind: 'inline'; data: Buffer } | { kind: 'external'; id: ObjectId };

/** A parsed splitstream (`SplitStreamReader`); the chunk stream is decompressed on demand. */
export interface SplitStream {
  contentType: bigint;
  streamSize: bigint;
  streamRefs: ObjectId[];
  objectRefs: ObjectId[];
  /** Named refs in file order (sorted by name when written by composefs-rs or us). */
  namedRefs: Map<string, ObjectId>;
  /** True when the file used the pre-repr(C) header layout (bootc ≤ 1.15). */
  legacyHeader: boolean;
  /** Decodes the chunk sequence. */
  chunks(): SplitStreamChunk[];
}

function range(buf: Buffer, off: number, what: string, file: string): [number, number] {
  const s = buf.readBigUInt64LE(off);
  const e = buf.readBigUInt64LE(off + 8);
  if (e < s) throw new FormatError(`${file}: negative-sized ${what} range in splitstream`);
  return [Number(s), Number(e)];
}

function section(buf: Buffer, r: [number, number], what: string, file: string): Buffer {
  if (r[1] > buf.length) throw new FormatError(`${file}: splitstream ${what} section [${r[0]}, ${r[1]}) runs past the end (${buf.length} bytes)`);
  return buf.subarray(r[0], r[1]);
}

function idArray(b: Buffer, size: number, what: string, file: string): ObjectId[] {
  if (b.length % size !== 0) throw new FormatError(`${file}: splitstream ${what} length ${b.length} is not a multiple of ${size}`);
  const out: ObjectId[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size).toString('hex'));
  return out;
}

/**
 * Parses a splitstream file. `file` names it in errors. The current header is
 * tried first; if its magic does not match, the legacy layout is.
 * @throws FormatError
 */
export function parseSplitStream(buf: Buffer, algorithm: VerityAlgorithm, zstd: ZstdCodec, file: string, expectedContentType?: bigint): SplitStream {
  if (buf.length < HEADER_SIZE) throw new FormatError(`${file}: splitstream too short for its header (${buf.length} bytes)`);
  let legacyHeader = false;
  let version: number, alg: number, lg: number, info: [number, number];
  if (buf.subarray(0, 11).equals(MAGIC)) {
    version = buf[11] ?? -1;
    alg = buf[14] ?? -1;
    lg = buf[15] ?? -1;
    info = range(buf, 16, 'info', file);
  } else if (buf.subarray(18, 29).equals(MAGIC)) {
    legacyHeader = true;
    info = range(buf, 0, 'info', file);
    version = buf[29] ?? -1;
    alg = buf[30] ?? -1;
    lg = buf[31] ?? -1;
  } else throw new FormatError(`${file}: invalid splitstream header magic value`);
  if (version !== 0) throw new FormatError(`${file}: invalid splitstream version ${version}`);
  if (alg !== algId(algorithm)) throw new FormatError(`${file}: splitstream fs-verity algorithm ${alg} does not match the repository (${algorithm})`);
  if (lg !== LG_BLOCKSIZE) throw new FormatError(`${file}: invalid splitstream fs-verity block size (lg ${lg})`);
  const inf = section(buf, info, 'info', file);
  if (inf.length < INFO_SIZE) throw new FormatError(`${file}: splitstream info section is ${inf.length} bytes, expected at least ${INFO_SIZE}`);
  const contentType = inf.readBigUInt64LE(64);
  if (expectedContentType !== undefined && contentType !== expectedContentType) throw new FormatError(`${file}: invalid splitstream content type`);
  const size = digestSize(algorithm);
  const streamRefs = idArray(section(buf, range(inf, 0, 'stream_refs', file), 'stream_refs', file), size, 'stream_refs', file);
  const objectRefs = idArray(section(buf, range(inf, 16, 'object_refs', file), 'object_refs', file), size, 'object_refs', file);
  const streamSec = section(buf, range(inf, 32, 'stream', file), 'stream', file);
  const namedSec = section(buf, range(inf, 48, 'named_refs', file), 'named_refs', file);
  const namedRefs = new Map<string, ObjectId>();
  const table = namedSec.length === 0 ? Buffer.alloc(0) : zstd.decompress(namedSec);
  let pos = 0;
  while (pos < table.length) {
    const nul = table.indexOf(0, pos);
    if (nul < 0) throw new FormatError(`${file}: trailing junk in splitstream named references section`);
    const rec = table.subarray(pos, nul).toString('utf8');
    pos = nul + 1;
    const colon = rec.indexOf(':');
    if (colon < 0) throw new FormatError(`${file}: named reference ${JSON.stringify(rec)} doesn't contain a colon`);
    const idxText = rec.slice(0, colon);
    const id = /^\d+$/.test(idxText) ? streamRefs[Number(idxText)] : undefined;
    if (id === undefined) throw new FormatError(`${file}: named reference ${JSON.stringify(rec)} is out of bounds or not an index`);
    namedRefs.set(rec.slice(colon + 1), id);
  }
  return {
    contentType,
    streamSize: inf.readBigUInt64LE(72),
    streamRefs,
    objectRefs,
    namedRefs,
    legacyHeader,
    chunks: () => decodeChunks(zstd.decompress(streamSec), objectRefs, file),
  };
}

function decodeChunks(data: Buffer, objectRefs: ObjectId[], file: string): SplitStreamChunk[] {
  const out: SplitStreamChunk[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (data.length - pos < 8) throw new FormatError(`${file}: unexpected EOF in splitstream chunk header`);
    const n = data.readBigInt64LE(pos);
    pos += 8;
    if (n < 0n) {
      const len = Number(-n);
      if (data.length - pos < len) throw new FormatError(`${file}: inline chunk of ${len} bytes runs past the end of the stream`);
      out.push({ kind: 'inline', data: data.subarray(pos, pos + len) });
      pos += len;
    } else {
      const id = objectRefs[Number(n)];
      if (id === undefined) throw new FormatError(`${file}: splitstream external reference ${n} is out of range (${objectRefs.length} refs)`);
      out.push({ kind: 'external', id });
    }
  }
  return out;
}
