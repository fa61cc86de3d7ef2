/**
 * Owns zstd for the composefs repository: koffi over the system
 * libzstd.so.1, used the way composefs-rs's `zstd::Encoder::new(vec, 0)`
 * does — level 3, streaming (so the frame carries no content size, except
 * that an empty input finished at once gets the 9-byte single-segment frame),
 * no checksum — and a streaming decoder that accepts any valid frame(s).
 * libzstd is loaded on first use.
 */
import { createRequire } from 'node:module';
import { TsbootcError } from '../util/errors.js';
import type { ZstdCodec, ZstdCompressor } from '../composefs/repository/index.js';

type Fn = (...args: unknown[]) => unknown;
interface KoffiLib {
  func(decl: string): Fn;
}
interface Koffi {
  load(path: string): KoffiLib;
  struct(name: string, def: Record<string, string>): unknown;
  inout(t: unknown): unknown;
  pointer(t: unknown): unknown;
}

const ZSTD_c_compressionLevel = 100;
const ZSTD_e_continue = 0;
const ZSTD_e_end = 2;
const OUT_CHUNK = 1 << 17;

interface Zstd {
  createCCtx: Fn;
  freeCCtx: Fn;
  setParameter: Fn;
  compressStream2: Fn;
  createDCtx: Fn;
  freeDCtx: Fn;
  decompressStream: Fn;
  isError: Fn;
  getErrorName: Fn;
}

let lib: Zstd | undefined;
function zstd(): Zstd {
  if (lib !== undefined) return lib;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  let z: KoffiLib;
  try {
    z = koffi.load('libzstd.so.1');
  } catch (err) {
    throw new TsbootcError('Loading libzstd.so.1 (install the zstd library: Debian libzstd1)', { cause: err });
  }
  koffi.struct('tsbootc_ZSTD_inBuffer', { src: 'const void *', size: 'size_t', pos: 'size_t' });
  koffi.struct('tsbootc_ZSTD_outBuffer', { dst: 'void *', size: 'size_t', pos: 'size_t' });
  lib = {
    createCCtx: z.func('void *ZSTD_createCCtx(void)'),
    freeCCtx: z.func('size_t ZSTD_freeCCtx(void *cctx)'),
    setParameter: z.func('size_t ZSTD_CCtx_setParameter(void *cctx, int param, int value)'),
    compressStream2: z.func('size_t ZSTD_compressStream2(void *cctx, _Inout_ tsbootc_ZSTD_outBuffer *output, _Inout_ tsbootc_ZSTD_inBuffer *input, int endOp)'),
    createDCtx: z.func('void *ZSTD_createDCtx(void)'),
    freeDCtx: z.func('size_t ZSTD_freeDCtx(void *dctx)'),
    decompressStream: z.func('size_t ZSTD_decompressStream(void *dctx, _Inout_ tsbootc_ZSTD_outBuffer *output, _Inout_ tsbootc_ZSTD_inBuffer *input)'),
    isError: z.func('unsigned int ZSTD_isError(size_t code)'),
    getErrorName: z.func('const char *ZSTD_getErrorName(size_t code)'),
  };
  return lib;
}

function check(z: Zstd, rc: unknown, what: string): number {
  if (z.isError(rc) !== 0) throw new TsbootcError(`zstd ${what}: ${String(z.getErrorName(rc))}`);
  return Number(rc);
}

/** Frees compression contexts of compressors dropped without finish()/dispose() (a failed import). */
const orphans = new FinalizationRegistry<unknown>((cctx) => zstd().freeCCtx(cctx));

/**
 * A streaming compressor as composefs-rs's `zstd::Encoder` uses it: level 3,
 * every piece fed with ZSTD_e_continue (so the frame header has no content
 * size), ZSTD_e_end once at the end. libzstd only emits a block once its
 * input buffer is full, so the frame is the same however the input is split
 * (zstd.test.ts checks this against the one-shot zstdCompress).
 */
export function zstdCompressor(level = 3): ZstdCompressor {
  const z = zstd();
  let cctx: unknown = z.createCCtx();
  if (cctx === null) throw new TsbootcError('zstd: ZSTD_createCCtx failed');
  const token = {};
  const parts: Buffer[] = [];
  const out = Buffer.alloc(OUT_CHUNK);
  const free = () => {
    if (cctx === null) return;
    orphans.unregister(token);
    z.freeCCtx(cctx);
    cctx = null;
  };
  try {
    check(z, z.setParameter(cctx, ZSTD_c_compressionLevel, level), 'set level');
  } catch (err) {
    free();
    throw err;
  }
  const self: ZstdCompressor = {
    write(data) {
      if (cctx === null) throw new TsbootcError('zstd: write after finish');
      const src = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const input = { src, size: src.length, pos: 0 };
      while (input.pos < input.size) {
        const output = { dst: out, size: out.length, pos: 0 };
        check(z, z.compressStream2(cctx, output, input, ZSTD_e_continue), 'compress');
        if (output.pos > 0) parts.push(Buffer.from(out.subarray(0, Number(output.pos))));
      }
    },
    finish() {
      if (cctx === null) throw new TsbootcError('zstd: finish twice');
      try {
        for (;;) {
          const output = { dst: out, size: out.length, pos: 0 };
          const empty = { src: out, size: 0, pos: 0 };
          const remaining = check(z, z.compressStream2(cctx, output, empty, ZSTD_e_end), 'end frame');
          if (output.pos > 0) parts.push(Buffer.from(out.subarray(0, Number(output.pos))));
          if (remaining === 0) break;
        }
      } finally {
        free();
      }
      return parts;
    },
    dispose: free,
  };
  orphans.register(self, cctx, token);
  return self;
}

/** Compresses like composefs-rs: level 3, streamed (no content size), no checksum. */
export function zstdCompress(data: Uint8Array, level = 3): Buffer {
  const c = zstdCompressor(level);
  try {
    c.write(data);
    return Buffer.concat(c.finish());
  } finally {
    c.dispose();
  }
}

/** Decompresses one or more concatenated zstd frames (content size not needed). */
export function zstdDecompress(frame: Uint8Array): Buffer {
  const z = zstd();
  const dctx = z.createDCtx();
  if (dctx === null) throw new TsbootcError('zstd: ZSTD_createDCtx failed');
  try {
    const src = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const input = { src, size: src.length, pos: 0 };
    const parts: Buffer[] = [];
    const out = Buffer.alloc(OUT_CHUNK);
    let last = 0;
    for (;;) {
      const output = { dst: out, size: out.length, pos: 0 };
      last = check(z, z.decompressStream(dctx, output, input), 'decompress');
      if (output.pos > 0) parts.push(Buffer.from(out.subarray(0, Number(output.pos))));
      if (Number(input.pos) >= input.size && (Number(output.pos) < out.length || last === 0)) break;
    }
    if (last !== 0) throw new TsbootcError(`zstd decompress: truncated frame (${src.length} bytes of input)`);
    return Buffer.concat(parts);
  } finally {
    z.freeDCtx(dctx);
  }
}

export function libzstdCodec(): ZstdCodec {
  return { compress: (d) => zstdCompress(d), decompress: (f) => zstdDecompress(f), compressor: () => zstdCompressor() };
}

/**
 * Streaming decompression of one or more concatenated zstd frames (a tar+zstd
 * OCI layer): each input chunk is fed to ZSTD_decompressStream as it arrives,
 * so memory stays at one input and one output chunk. Fails on a truncated frame.
 */
export async function* zstdDecompressStream(input: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const z = zstd();
  const dctx = z.createDCtx();
  if (dctx === null) throw new TsbootcError('zstd: ZSTD_createDCtx failed');
  try {
    const out = Buffer.alloc(OUT_CHUNK);
    let last = 0;
    let seen = 0;
    for await (const chunk of input) {
      seen += chunk.length;
      const input = { src: chunk, size: chunk.length, pos: 0 };
      for (;;) {
        const output = { dst: out, size: out.length, pos: 0 };
        last = check(z, z.decompressStream(dctx, output, input), 'decompress');
        if (output.pos > 0) yield Buffer.from(out.subarray(0, Number(output.pos)));
        if (Number(input.pos) >= input.size && Number(output.pos) < out.length) break;
      }
    }
    if (last !== 0 || seen === 0) throw new TsbootcError(`zstd decompress: truncated frame (${seen} bytes of input)`);
  } finally {
    z.freeDCtx(dctx);
  }
}

/** The OCI importer's Decompressor shape for tar+zstd layers (composefs may not import sys; the CLI injects this). */
export const libzstdDecompressor = { decompress: (input: AsyncIterable<Buffer>): AsyncIterable<Buffer> => zstdDecompressStream(input) };
