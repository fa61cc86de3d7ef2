/**
 * Owns reading one uncompressed OCI layer tar as a stream of composefs tree
 * entries (composefs.md §5.1.1): paths normalised like Rust's Path::components,
 * PAX path/linkpath/size/uid/gid/mtime (with the nanosecond fraction) and
 * SCHILY.xattr.* records read from the raw PAX bytes, GNU long names, and regular
 * files either inline (≤ 64 bytes) or hashed with fs-verity while their bytes
 * stream to an ObjectSink. It also computes the diff_id and, on request, emits the
 * §3.4 split of the tar bytes. Nothing is buffered beyond one chunk and one header.
 *
 * Parsing is tar-stream's; two of its 3.2.2 internals are wrapped so the raw PAX
 * record bytes are seen (tar-stream decodes them as UTF-8, which corrupts binary
 * xattr values) and PAX global headers are ignored, as tar-core does.
 */
import { createHash } from 'node:crypto';
import { extract as tarExtract, type Header } from 'tar-stream';
import { FormatError } from '../../util/errors.js';
import { FsVerityHasher, type VerityAlgorithm } from '../fsverity.js';
import { makeStat, objectPath, printable, type LeafData, type Stat } from '../tree.js';
import { Arena, SplitTracker, type ObjectSink, type SplitSink } from './sink.js';

/** Regular files up to this size are stored inline (INLINE_CONTENT_MAX_V0). */
export const INLINE_CONTENT_MAX = 64;
/** Largest accepted PAX extended header or GNU long name/link record, per record (tar-core's default budget). */
export const TAR_METADATA_MAX = 1024 * 1024;
/** Linux XATTR_NAME_MAX and XATTR_SIZE_MAX: a kept xattr beyond them can never be written. */
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65535;
/**
 * Most tar bytes held in memory that no entry has claimed yet (for the split):
 * only data after the end-of-archive blocks grows it without bound, as a gzip
 * bomb of zeros after the last entry would. Decision 0014.
 */
export const TAR_UNCLAIMED_MAX = 16 * 1024 * 1024;
/** Longest name or path quoted in a message. */
const MESSAGE_PATH_MAX = 200;

export type TarItem = { kind: 'dir' } | { kind: 'leaf'; data: LeafData } | { kind: 'hardlink'; target: string[] };

export interface TarEntry {
  /** Path components as byte strings (latin1); [] is the root. */
  path: string[];
  stat: Stat;
  item: TarItem;
}

export interface ReadLayerOptions {
  /** Names the layer in errors (its digest). */
  layer: string;
  algorithm: VerityAlgorithm;
  sink: ObjectSink;
  split?: SplitSink | undefined;
  /**
   * The xattrs the caller will keep (transformForOci's filter). Others are dropped
   * as they are parsed, so a layer cannot make the tree hold xattrs the image will
   * never contain; kept ones are checked against the Linux limits. Undefined: keep all.
   */
  keepXattr?: ((key: string) => boolean) | undefined;
}

export interface LayerReadResult {
  /** "sha256:<hex>" of the uncompressed tar. */
  diffId: string;
  /** Length of the uncompressed tar. */
  size: number;
  entries: number;
}

/** A byte string for a message: printable, and cut in the middle when longer than MESSAGE_PATH_MAX. */
export function shortPrintable(raw: string): string {
  const p = printable(raw);
  if (p.length <= MESSAGE_PATH_MAX) return p;
  return `${p.slice(0, MESSAGE_PATH_MAX / 2)}…(${p.length} chars)…${p.slice(-MESSAGE_PATH_MAX / 2)}`;
}

/** "/" + path components joined, for messages (long paths cut in the middle). */
export function formatPath(path: readonly string[]): string {
  return shortPrintable('/' + path.join('/'));
}

/** Normalises a tar path (byte string) into components; throws on "..". */
export function tarPathComponents(raw: string, what = 'path'): string[] {
  const out: string[] = [];
  for (const c of raw.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new Error(`${what} ${shortPrintable(raw)} contains ".." (escapes the root)`);
    if (c.length > 255) throw new Error(`${what} ${printable(raw.slice(0, 60))}… has a component longer than 255 bytes`);
    if (c.includes('\0')) throw new Error(`${what} ${shortPrintable(raw)} contains NUL`);
    out.push(c);
  }
  return out;
}

interface Pax {
  path?: string;
  linkpath?: string;
  uid?: number;
  gid?: number;
  mtimeSec?: number;
  mtimeNsec: number;
  xattrs: Map<string, Buffer>;
}

function paxNumber(key: string, v: Buffer): number {
  const s = v.toString('latin1');
  if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new Error(`invalid PAX ${key} value ${printable(s)}`);
  return Number(s);
}

/** Parses raw PAX records ("LEN KEY=VALUE\n") keeping values as bytes (xattrs: only those `keepXattr` accepts). */
export function parsePaxRecords(buf: Buffer, arena?: Arena, keepXattr?: (key: string) => boolean): Pax {
  const pax: Pax = { mtimeNsec: 0, xattrs: new Map() };
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break; // zero padding after the last record
    const sp = buf.indexOf(0x20, off);
    const lenText = sp < 0 ? '' : buf.toString('latin1', off, sp);
    const len = /^[0-9]{1,8}$/.test(lenText) ? Number(lenText) : NaN;
    if (!(len > sp - off + 1) || off + len > buf.length || buf[off + len - 1] !== 0x0a) throw new Error(`malformed PAX record at byte ${off}`);
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new Error(`malformed PAX record at byte ${off} (no key)`);
    const key = rec.toString('latin1', 0, eq);
    const value = rec.subarray(eq + 1);
    if (key === 'path') pax.path = value.toString('latin1');
    else if (key === 'linkpath') pax.linkpath = value.toString('latin1');
    else if (key === 'uid') pax.uid = paxNumber(key, value);
    else if (key === 'gid') pax.gid = paxNumber(key, value);
    else if (key === 'mtime') {
      const s = value.toString('latin1');
      const dot = s.indexOf('.');
      pax.mtimeSec = paxNumber(key, Buffer.from(dot < 0 ? s : s.slice(0, dot), 'latin1'));
      const frac = dot < 0 ? '' : s.slice(dot + 1);
      // composefs-rs: 9 digits, truncated or right-padded; anything unparsable gives 0.
      pax.mtimeNsec = /^[0-9]+$/.test(frac) ? Number(frac.slice(0, 9).padEnd(9, '0')) : 0;
    } else if (key.startsWith('SCHILY.xattr.')) {
      const name = key.slice('SCHILY.xattr.'.length);
      if (keepXattr !== undefined) {
        if (!keepXattr(name)) {
          off += len;
          continue;
        }
        if (name.length > XATTR_NAME_MAX) throw new Error(`xattr ${shortPrintable(name)} has a ${name.length}-byte name (the limit is ${XATTR_NAME_MAX})`);
        if (value.length > XATTR_SIZE_MAX) throw new Error(`xattr ${shortPrintable(name)} has a ${value.length}-byte value (the limit is ${XATTR_SIZE_MAX})`);
      }
      pax.xattrs.set(name, arena !== undefined ? arena.copy(value) : Buffer.from(value));
    }
    off += len;
  }
  return pax;
}

/** glibc makedev(). */
export function makedev(major: number, minor: number): number {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  const dev = ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
  return Number(dev);
}

/** The header as tar-stream 3.2.2 really fills it (type null for unknown typeflags). */
type RawHeader = Omit<Header, 'type' | 'linkname'> & { type: string | null; linkname: string | null; byteOffset: number };

interface ExtractInternals {
  _header: RawHeader;
  _decodeLongHeader(buf: Buffer): void;
}

/**
 * Reads a layer tar from `input` (uncompressed bytes) and calls `onEntry` for every
 * entry in order; `onEntry` may be async (the parser waits). Errors name the layer
 * and, when known, the entry path.
 * @throws FormatError for malformed or unsupported tar input
 */
export async function readTarLayer(input: AsyncIterable<Buffer>, opts: ReadLayerOptions, onEntry: (e: TarEntry) => void | Promise<void>): Promise<LayerReadResult> {
  const ex = tarExtract({ filenameEncoding: 'latin1', allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  const internals = ex as unknown as ExtractInternals;
  const origDecode = internals._decodeLongHeader.bind(ex);
  let pendingPax: Buffer | undefined;
  internals._decodeLongHeader = (buf: Buffer) => {
    const type = internals._header.type;
    if (buf.length > TAR_METADATA_MAX) throw new FormatError(`layer ${opts.layer}: ${type} record of ${buf.length} bytes exceeds the ${TAR_METADATA_MAX}-byte limit`);
    if (type === 'pax-global-header') return; // tar-core skips global extensions
    if (type === 'pax-header') pendingPax = Buffer.from(buf);
    origDecode(buf);
  };

  const diff = createHash('sha256');
  let tapped = 0; // bytes of tar seen
  const split = new SplitTracker(opts.split);
  const arena = new Arena();
  let entries = 0;
  let failure: unknown;
  let current: string | undefined; // the entry being read, for messages

  const handle = async (h: RawHeader, stream: AsyncIterable<Buffer>): Promise<void> => {
    const rawPax = pendingPax;
    pendingPax = undefined;
    let where = `layer ${opts.layer}`;
    try {
      let pax: Pax | undefined;
      try {
        pax = rawPax === undefined ? undefined : parsePaxRecords(rawPax, arena, opts.keepXattr);
      } catch (err) {
        where += `: entry ${shortPrintable(h.name)}`; // the PAX path, if any, is unreadable
        throw err;
      }
      const name = pax?.path ?? h.name;
      where += `: entry ${shortPrintable(name)}`;
      current = name;
      const path = tarPathComponents(name);
      const stat = makeStat({
        mode: h.mode ?? 0,
        uid: pax?.uid ?? h.uid ?? 0,
        gid: pax?.gid ?? h.gid ?? 0,
        mtimeSec: pax?.mtimeSec ?? Math.floor((h.mtime?.getTime() ?? 0) / 1000),
        mtimeNsec: pax?.mtimeNsec ?? 0,
        xattrs: pax?.xattrs ?? new Map(),
      });
      const size = h.size ?? 0;
      const dataStart = h.byteOffset;
      await split.inlineUpTo(dataStart, tapped);
      const link = pax?.linkpath ?? h.linkname ?? '';
      let item: TarItem;
      if (h.type !== 'file' && h.type !== 'contiguous-file') await drain(stream);
      switch (h.type) {
        case 'directory':
          item = { kind: 'dir' };
          break;
        case 'file':
        case 'contiguous-file':
          if (size > INLINE_CONTENT_MAX) {
            split.skip(dataStart + size, tapped);
            const id = await storeObject(stream, size, opts);
            await split.external(id, BigInt(size));
            item = { kind: 'leaf', data: { type: 'reg', size: BigInt(size), content: null, payload: arena.latin1(objectPath(id)), digest: id } };
          } else {
            const parts: Buffer[] = [];
            for await (const c of stream) parts.push(c);
            const content = arena.concat(parts);
            item = { kind: 'leaf', data: { type: 'reg', size: BigInt(content.length), content: content.length > 0 ? content : null, payload: null, digest: null } };
          }
          break;
        case 'link':
          item = { kind: 'hardlink', target: tarPathComponents(link, 'hardlink target') };
          break;
        case 'symlink':
          item = { kind: 'leaf', data: { type: 'symlink', target: arena.latin1(link) } };
          break;
        case 'character-device':
        case 'block-device':
          item = { kind: 'leaf', data: { type: h.type === 'block-device' ? 'blk' : 'chr', rdev: makedev(h.devmajor ?? 0, h.devminor ?? 0) } };
          break;
        case 'fifo':
          item = { kind: 'leaf', data: { type: 'fifo' } };
          break;
        default:
          throw new Error(`unsupported tar entry type ${h.type ?? 'unknown (sparse or vendor extension)'}`);
      }
      if (path.length === 0 && item.kind !== 'dir') throw new Error('the root entry must be a directory');
      entries++;
      current = undefined;
      await onEntry({ path, stat, item });
    } catch (err) {
      if (err instanceof FormatError && err.message.startsWith('layer ')) throw err;
      throw new FormatError(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };

  // tar-stream may emit 'finish' while the last entry's handler still runs
  // (a tar whose last data block is its end): wait for that handler too.
  let inFlight: Promise<void> = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      // tar-stream fails the entry stream when the archive ends inside it. If the
      // handler is not reading yet (a slow object writer), nobody listens and the
      // process would die on the 'error' event; the archive's own error (below)
      // still fails the layer, and a read of the data sees it end short.
      (stream as unknown as { on(e: 'error', l: () => void): void }).on('error', () => undefined);
      inFlight = handle(h as unknown as RawHeader, stream as unknown as AsyncIterable<Buffer>).then(
        () => next(),
        (err: unknown) => {
          failure ??= err;
          next(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
    ex.on('error', (err: unknown) => reject(failure ?? err));
    ex.on('finish', () => resolve());
  });
  done.catch(() => undefined); // observed below

  try {
    for await (const chunk of input) {
      if (failure !== undefined) break;
      diff.update(chunk);
      split.tap(chunk, tapped);
      tapped += chunk.length;
      if (split.queued > TAR_UNCLAIMED_MAX) {
        throw new FormatError(`layer ${opts.layer}: more than ${TAR_UNCLAIMED_MAX} bytes of tar data from byte ${split.pendingFrom} on belong to no entry (data after the end-of-archive blocks?)`);
      }
      if (!ex.write(chunk)) await Promise.race([new Promise<void>((r) => ex.once('drain', () => r())), done]);
    }
    if (failure === undefined) (ex as unknown as { end(): void }).end();
    await done;
    await inFlight;
  } catch (err) {
    ex.destroy(err instanceof Error ? err : new Error(String(err)));
    const e = failure ?? err;
    const at = current === undefined ? '' : `: entry ${shortPrintable(current)}`;
    // Let an entry handler still in flight finish (and abort its object writer) before the caller moves on.
    await inFlight.catch(() => undefined);
    if (e instanceof FormatError) throw e;
    const msg = tarMessage(e, internals._header);
    // A rewritten message already says what the cause said.
    throw new FormatError(`layer ${opts.layer}${at}: ${msg}`, msg === (e instanceof Error ? e.message : String(e)) ? { cause: e } : {});
  }
  if (failure !== undefined) throw failure;
  await split.inlineUpTo(tapped, tapped);
  return { diffId: 'sha256:' + diff.digest('hex'), size: tapped, entries };
}

/** Consumes the data of an entry whose bytes are not file content (normally none). */
async function drain(stream: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of stream) void _;
}

/** tar-stream's terse errors, said with the header they are about (its own 4 MiB long-header cap is reported as ours). */
function tarMessage(e: unknown, h: RawHeader | null | undefined): string {
  const m = e instanceof Error ? e.message : String(e);
  if (m === 'Unexpected end of data') return 'truncated tar stream (unexpected end of data)';
  if (m === 'Header exceeds max size' && h) return `${h.type ?? 'extended'} record of ${h.size} bytes at byte ${h.byteOffset - 512} exceeds the ${TAR_METADATA_MAX}-byte limit`;
  if (m === 'Invalid header' && h) return `entry ${shortPrintable(h.name)} at byte ${h.byteOffset - 512} has an invalid size ${String(h.size)} (from its PAX size record)`;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) return `gzip decompression failed: ${m}`;
  return m;
}

async function storeObject(stream: AsyncIterable<Buffer>, size: number, opts: ReadLayerOptions): Promise<Buffer> {
  const writer = await opts.sink.begin(BigInt(size));
  // A writer that hashes what it stores (the repository's) saves hashing every byte twice.
  const hasher = writer.digest === undefined ? new FsVerityHasher(opts.algorithm) : undefined;
  let n = 0;
  try {
    for await (const chunk of stream) {
      hasher?.update(chunk);
      n += chunk.length;
      const w = writer.write(chunk);
      if (w !== undefined) await w;
    }
    if (n !== size) throw new Error(`file content truncated: ${n} of ${size} bytes`);
    const id = hasher !== undefined ? hasher.digest() : writer.digest!();
    await writer.finish(id);
    return id;
  } catch (err) {
    await writer.abort(err);
    throw err;
  }
}
