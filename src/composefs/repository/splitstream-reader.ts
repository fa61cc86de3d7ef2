/**
 * Owns parsing the splitstream file format (composefs.md §3,
 * splitstream.rs `SplitStreamReader`): the current and the legacy (bootc ≤
 * 1.15) header, the info section, the reference arrays, the named-refs table
 * and, on demand, the chunk stream. Pure: bytes in, structures out.
 */
import { digestSize, type VerityAlgorithm } from '../fsverity.js';
import { FormatError } from '../../util/errors.js';
import type { ZstdCodec } from './ports.js';
import type { ObjectId } from './core.js';
import { algId, HEADER_SIZE, INFO_SIZE, LG_BLOCKSIZE, MAGIC } from './splitstream.js';

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
