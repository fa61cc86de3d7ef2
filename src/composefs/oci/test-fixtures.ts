/**
 * Owns test fixtures for the OCI importer: layer tars built with tar-stream's
 * packer or block by block (for what the packer cannot write: binary PAX values,
 * GNU long names, hostile paths), and OCI layout directories written from them.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export type PackEntry = Partial<Header> & { name: string; pax?: Record<string, string>; data?: Buffer | string };

/** A tar built by tar-stream's packer. */
export async function packTar(entries: PackEntry[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) out.push(Buffer.from(c));
  })();
  for (const { data, ...h } of entries) {
    await new Promise<void>((resolve, reject) => {
      const header = { mtime: new Date(0), ...h } as Parameters<typeof p.entry>[0];
      p.entry(header, data === undefined ? Buffer.alloc(0) : Buffer.from(data), (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

export interface RawEntry {
  name: string | Buffer;
  type?: string; // typeflag character; default '0'
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  data?: Buffer | string;
  /** Declared size (defaults to data length). */
  size?: number;
  devmajor?: number;
  devminor?: number;
  /** GNU magic ("ustar  ") instead of POSIX ustar, as tar-rs Header::new_gnu writes. */
  gnu?: boolean;
}

function octal(buf: Buffer, off: number, len: number, v: number): void {
  buf.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

/** One ustar header block plus its padded data. */
export function rawEntry(e: RawEntry): Buffer {
  const h = Buffer.alloc(512);
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  const name = typeof e.name === 'string' ? Buffer.from(e.name, 'latin1') : e.name;
  name.copy(h, 0, 0, Math.min(100, name.length));
  octal(h, 100, 8, e.mode ?? 0o644);
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, e.size ?? data.length);
  octal(h, 136, 12, e.mtime ?? 0);
  h.write(e.type ?? '0', 156, 1, 'latin1');
  if (e.linkname !== undefined) h.write(e.linkname, 157, 100, 'latin1');
  h.write(e.gnu === true ? 'ustar  \0' : 'ustar\x0000', 257, 8, 'latin1');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return Buffer.concat([h, padded(data)]);
}

/** A PAX extended header ('x') with byte values. */
export function paxEntry(records: Array<[string, Buffer | string]>, name = 'PaxHeader'): Buffer {
  const parts = records.map(([k, v]) => {
    const body = Buffer.concat([Buffer.from(` ${k}=`, 'latin1'), Buffer.from(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  });
  return rawEntry({ name, type: 'x', data: Buffer.concat(parts) });
}

/** A GNU long name ('L') or long link ('K') record. */
export function gnuLongEntry(type: 'L' | 'K', value: string): Buffer {
  return rawEntry({ name: '././@LongLink', type, data: Buffer.concat([Buffer.from(value, 'latin1'), Buffer.alloc(1)]) });
}

export const TAR_END = Buffer.alloc(1024);

export function sha256(data: Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** Splits a buffer into chunks of `size` bytes (to exercise chunk boundaries). */
export async function* chunked(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export interface LayoutOptions {
  tag?: string;
  gzip?: boolean;
  /** Compresses layers with this zstd encoder (media type tar+zstd) instead; composefs may not import sys, so tests pass it in. */
  zstd?: (tar: Buffer) => Buffer;
  /** Rewrites the stored layer blob (e.g. to corrupt it) after its descriptor was computed. */
  tamperLayer?: (blob: Buffer, index: number) => Buffer;
  created?: string;
}

/** Writes an OCI layout for an image made of `tars` (uncompressed layer tars); returns the digests. */
export function writeOciLayout(dir: string, tars: Buffer[], opts: LayoutOptions = {}): { manifest: string; config: string; layers: string[] } {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (data: Buffer): string => {
    const d = sha256(data);
    writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), data);
    return d;
  };
  const layers = tars.map((t, i) => {
    const blob = opts.zstd !== undefined ? opts.zstd(t) : opts.gzip === true ? gzipSync(t) : t;
    const digest = sha256(blob);
    writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), opts.tamperLayer ? opts.tamperLayer(blob, i) : blob);
    const suffix = opts.zstd !== undefined ? '+zstd' : opts.gzip === true ? '+gzip' : '';
    return { mediaType: `application/vnd.oci.image.layer.v1.tar${suffix}`, digest, size: blob.length };
  });
  const config = Buffer.from(
    JSON.stringify({ created: opts.created ?? '2009-02-13T23:31:30Z', architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: tars.map(sha256) }, history: [] }),
  );
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers }, null, 2));
  const mdigest = put(manifest);
  const annotations = opts.tag === undefined ? undefined : { 'org.opencontainers.image.ref.name': opts.tag };
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: mdigest, size: manifest.length, annotations }] };
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return { manifest: mdigest, config: configDesc.digest, layers: layers.map((l) => l.digest) };
}
