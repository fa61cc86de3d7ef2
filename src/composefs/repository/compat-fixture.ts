/**
 * Owns a test fixture: a sha256 repository laid out by hand exactly as
 * composefs-rs writes it (meta.json bytes, objects/XX/…, relative symlinks,
 * an OCI tag → manifest → config → layer stream graph, a layer splitstream
 * with the legacy bootc ≤ 1.15 header), plus garbage and dangling links.
 * Images are stand-ins read by `stubCollector` ("REFS\n<id>\n…"), since GC
 * only needs an image's object list. Tests only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsverityHex } from '../fsverity.js';
import { CONTENT_TYPE, SplitStreamWriter } from './splitstream.js';
import { rawZstdCodec } from './test-support.js';
import type { ImageObjectCollector } from './core.js';

export const stubCollector: ImageObjectCollector = (image) => {
  const text = image.toString('latin1');
  if (!text.startsWith('REFS\n')) throw new Error('not a stub image');
  return text.split('\n').slice(1).filter((l) => l.length > 0);
};

const META = '{\n  "version": 1,\n  "algorithm": "fsverity-sha256-12",\n  "features": {\n    "compatible": [],\n    "read-only-compatible": [\n      "v1_erofs"\n    ],\n    "incompatible": []\n  },\n  "erofs_formats": {\n    "default": 1\n  }\n}\n';

export interface Fixture {
  dir: string;
  ids: Record<'f1' | 'f2' | 'f3' | 'f4' | 'f5' | 'g1' | 'g2' | 'layer' | 'config' | 'cfgStream' | 'manifest' | 'manStream' | 'img' | 'img2' | 'img3', string>;
  sizes: Record<string, number>;
}

function legacyHeader(current: Buffer): Buffer {
  const b = Buffer.from(current);
  b.fill(0, 0, 32);
  current.copy(b, 0, 16, 32);
  current.copy(b, 18, 0, 11);
  b[29] = 0;
  b[30] = current[14] ?? 0;
  b[31] = current[15] ?? 0;
  return b;
}

export function buildFixture(dir: string, opts: { withMeta?: boolean } = {}): Fixture {
  const sizes: Record<string, number> = {};
  const put = (data: Buffer | string): string => {
    const buf = Buffer.from(data);
    const id = fsverityHex(buf, 'sha256');
    fs.mkdirSync(path.join(dir, 'objects', id.slice(0, 2)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'objects', id.slice(0, 2), id.slice(2)), buf);
    sizes[id] = buf.length;
    return id;
  };
  const link = (name: string, target: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.symlinkSync(target, path.join(dir, name));
  };
  const obj = (id: string) => `objects/${id.slice(0, 2)}/${id.slice(2)}`;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (opts.withMeta !== false) fs.writeFileSync(path.join(dir, 'meta.json'), META);
  const zstd = rawZstdCodec();
  const f1 = put('file one '.repeat(10));
  const f2 = put('file two '.repeat(10));
  const f3 = put('only in the image');
  const f4 = put('only in an unrooted image');
  const f5 = put('only in a named image');
  const g1 = put('garbage 1');
  const g2 = put('garbage 2, longer');
  const lw = new SplitStreamWriter('sha256', CONTENT_TYPE.ociLayer, zstd);
  lw.writeInline(Buffer.alloc(512, 1));
  lw.writeExternalRef(f1, 90);
  lw.writeInline(Buffer.alloc(422));
  lw.writeExternalRef(f2, 90);
  const layer = put(legacyHeader(lw.finish()));
  const img = put(`REFS\n${f1}\n${f3}\n`);
  const img2 = put(`REFS\n${f4}\n`);
  const img3 = put(`REFS\n${f5}\n`);
  const config = put('{"rootfs":{"type":"layers","diff_ids":["sha256:d1"]}}');
  const cw = new SplitStreamWriter('sha256', CONTENT_TYPE.ociConfig, zstd);
  cw.addNamedStreamRef('sha256:d1', layer);
  cw.addNamedStreamRef('composefs.image.v1', img);
  cw.writeExternalRef(config, sizes[config] ?? 0);
  const cfgStream = put(cw.finish());
  const manifest = put('{"schemaVersion":2}');
  const mw = new SplitStreamWriter('sha256', CONTENT_TYPE.ociManifest, zstd);
  mw.addNamedStreamRef('config:sha256:c', cfgStream);
  mw.addNamedStreamRef('sha256:d1', layer);
  mw.writeExternalRef(manifest, sizes[manifest] ?? 0);
  const manStream = put(mw.finish());
  link('streams/oci-layer-sha256:d1', `../${obj(layer)}`);
  link('streams/oci-config-sha256:c', `../${obj(cfgStream)}`);
  link('streams/oci-manifest-sha256:m', `../${obj(manStream)}`);
  link('streams/refs/oci/quay.io%2Fx:1', '../../oci-manifest-sha256:m');
  link('streams/refs/oci/gone', '../../oci-manifest-sha256:gone');
  link(`images/${img}`, `../${obj(img)}`);
  link(`images/${img2}`, `../${obj(img2)}`);
  link(`images/${img3}`, `../${obj(img3)}`);
  link('images/refs/named', `../${img3}`);
  return { dir, sizes, ids: { f1, f2, f3, f4, f5, g1, g2, layer, config, cfgStream, manifest, manStream, img, img2, img3 } };
}
