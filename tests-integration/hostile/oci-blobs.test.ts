/**
 * Hostile manifests, configs, indexes and blobs through `internals cfs oci
 * pull` (oci: and dir: sources): wrong digests and sizes, size limits
 * (manifest, index and config 4 MiB: containers/image's iolimits), truncated
 * and missing blobs, wrong media types, lying diff_ids, digests that try to
 * name paths. Each case asserts the exact one-line error and that the pull
 * left no tag and changed nothing outside the repository.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { tempDir } from '../helpers/run-cli.js';
import { rawEntry, sha256, TAR_END } from '../../src/composefs/oci/test-fixtures.js';
import { assertError, cli, skipReason, snapshot, Tally } from './lib.js';

const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_TAR = 'application/vnd.oci.image.layer.v1.tar';
const MT_GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const MiB = 1 << 20;

const LAYER = Buffer.concat([rawEntry({ name: 'usr/', type: '5', mode: 0o755, mtime: 1 }), rawEntry({ name: 'usr/f', data: 'hello\n'.repeat(30), mtime: 1 }), TAR_END]);

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/** A layout written piece by piece so each piece can lie. */
class Layout {
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }
  put(data: Buffer, mediaType: string): Blob {
    const digest = sha256(data);
    fs.writeFileSync(this.blobPath(digest), data);
    return { mediaType, digest, size: data.length };
  }
  blobPath(digest: string): string {
    return path.join(this.dir, 'blobs', 'sha256', digest.slice(7));
  }
  index(manifests: Blob[]): void {
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  }
}

function configFor(layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, ...extra }));
}

function manifestFor(config: Blob, layers: Blob[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT_MANIFEST, config, layers, ...extra }));
}

/** A good single-layer image; `edit` may change any piece before the index is written. Returns what the error names. */
function image(dir: string, edit: (p: { l: Layout; layer: Blob; config: Blob; manifest: Blob }) => Blob | void = () => undefined): { l: Layout; layer: Blob; config: Blob; manifest: Blob } {
  const l = new Layout(dir);
  const layer = l.put(LAYER, MT_TAR);
  const config = l.put(configFor([LAYER]), MT_CONFIG);
  const manifest = l.put(manifestFor(config, [layer]), MT_MANIFEST);
  const p = { l, layer, config, manifest };
  const top = edit(p) ?? p.manifest;
  l.index([top]);
  return p;
}

interface Case {
  name: string;
  category: string;
  /** Builds the source in `dir`; returns the reference to pull and the expected message after `error: Pulling <ref>: `. */
  build(dir: string): { ref: string; error: string };
}

const cases: Case[] = [
  {
    name: 'manifest bytes do not match the digest index.json names',
    category: 'digests',
    build(dir) {
      const p = image(dir, ({ l, manifest }) => {
        const b = fs.readFileSync(l.blobPath(manifest.digest));
        fs.writeFileSync(l.blobPath(manifest.digest), Buffer.from(b.toString('latin1').replace('"schemaVersion":2', '"schemaVersion":3'), 'latin1'));
      });
      const got = sha256(fs.readFileSync(p.l.blobPath(p.manifest.digest)));
      return { ref: `oci:${dir}`, error: `blob ${p.manifest.digest} in oci:${dir}: content digest is ${got}, not the digest its descriptor names` };
    },
  },
  {
    name: 'manifest shorter than index.json says',
    category: 'sizes',
    build(dir) {
      const p = image(dir, ({ manifest }) => ({ ...manifest, size: manifest.size + 10 }));
      return { ref: `oci:${dir}`, error: `blob ${p.manifest.digest} in oci:${dir}: ${p.manifest.size} bytes, but its descriptor says ${p.manifest.size + 10}` };
    },
  },
  {
    name: 'manifest longer than index.json says',
    category: 'sizes',
    build(dir) {
      const p = image(dir, ({ manifest }) => ({ ...manifest, size: 100 }));
      return { ref: `oci:${dir}`, error: `blob ${p.manifest.digest} in oci:${dir}: larger than the 100 bytes its descriptor says` };
    },
  },
  {
    name: 'manifest over the 4 MiB limit',
    category: 'limits',
    build(dir) {
      const p = image(dir, ({ l, config, layer }) => l.put(manifestFor(config, [layer], { annotations: { pad: 'x'.repeat(4 * MiB) } }), MT_MANIFEST));
      const big = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Blob[] };
      void p;
      return { ref: `oci:${dir}`, error: `manifest ${big.manifests[0]!.digest} in oci:${dir}: its descriptor says ${big.manifests[0]!.size} bytes, more than the 4194304-byte limit for a manifest` };
    },
  },
  {
    name: 'config over the 4 MiB limit',
    category: 'limits',
    build(dir) {
      let cfg: Blob | undefined;
      image(dir, ({ l, layer }) => {
        cfg = l.put(configFor([LAYER], { pad: 'c'.repeat(4 * MiB) }), MT_CONFIG);
        return l.put(manifestFor(cfg, [layer]), MT_MANIFEST);
      });
      return { ref: `oci:${dir}`, error: `config ${cfg!.digest} in oci:${dir}: its descriptor says ${cfg!.size} bytes, more than the 4194304-byte limit for a config` };
    },
  },
  {
    name: 'index.json of 5 MiB',
    category: 'limits',
    build(dir) {
      image(dir);
      const idx = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as Record<string, unknown>;
      const text = JSON.stringify({ ...idx, annotations: { pad: 'i'.repeat(5 * MiB) } });
      fs.writeFileSync(path.join(dir, 'index.json'), text);
      return { ref: `oci:${dir}`, error: `oci:${dir}: reading index.json: index.json is ${text.length} bytes, more than the 4194304-byte limit` };
    },
  },
  {
    name: 'dir: manifest.json of 5 MiB',
    category: 'limits',
    build(dir) {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'manifest.json'), Buffer.alloc(5 * MiB, 0x20));
      return { ref: `dir:${dir}`, error: `dir:${dir}: reading index.json: manifest.json is ${5 * MiB} bytes, more than the 4194304-byte limit` };
    },
  },
  {
    name: 'truncated layer blob',
    category: 'blobs',
    build(dir) {
      const p = image(dir, ({ l, layer }) => void fs.truncateSync(l.blobPath(layer.digest), 1024));
      return { ref: `oci:${dir}`, error: `blob ${p.layer.digest} in oci:${dir}: 1024 bytes, but its descriptor says ${p.layer.size}` };
    },
  },
  {
    name: 'truncated gzip layer blob',
    category: 'blobs',
    build(dir) {
      let layer: Blob | undefined;
      image(dir, ({ l, config }) => {
        const gz = gzipSync(LAYER);
        layer = l.put(gz, MT_GZ);
        fs.writeFileSync(l.blobPath(layer.digest), gz.subarray(0, gz.length - 20));
        return l.put(manifestFor(config, [layer]), MT_MANIFEST);
      });
      return { ref: `oci:${dir}`, error: `blob ${layer!.digest} in oci:${dir}: ${layer!.size - 20} bytes, but its descriptor says ${layer!.size}` };
    },
  },
  {
    name: 'manifest naming a missing layer blob',
    category: 'blobs',
    build(dir) {
      const p = image(dir, ({ l, layer }) => fs.rmSync(l.blobPath(layer.digest)));
      return { ref: `oci:${dir}`, error: `blob ${p.layer.digest} in oci:${dir}: ENOENT: no such file or directory, open '${p.l.blobPath(p.layer.digest)}'` };
    },
  },
  {
    name: 'manifest naming a missing config blob',
    category: 'blobs',
    build(dir) {
      const p = image(dir, ({ l, config }) => fs.rmSync(l.blobPath(config.digest)));
      return { ref: `oci:${dir}`, error: `blob ${p.config.digest} in oci:${dir}: ENOENT: no such file or directory, open '${p.l.blobPath(p.config.digest)}'` };
    },
  },
  {
    name: 'gzip media type on a plain tar',
    category: 'media types',
    build(dir) {
      let layer: Blob | undefined;
      image(dir, ({ l, config }) => {
        layer = l.put(LAYER, MT_GZ);
        return l.put(manifestFor(config, [layer]), MT_MANIFEST);
      });
      return { ref: `oci:${dir}`, error: `layer ${layer!.digest}: gzip decompression failed: incorrect header check` };
    },
  },
  {
    name: 'unknown manifest media type',
    category: 'media types',
    build(dir) {
      const p = image(dir, ({ l, config, layer }) => l.put(manifestFor(config, [layer], { mediaType: 'application/x-evil' }), MT_MANIFEST));
      const top = (JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Blob[] }).manifests[0]!;
      void p;
      return { ref: `oci:${dir}`, error: `manifest ${top.digest}: unsupported manifest media type "application/x-evil"` };
    },
  },
  {
    name: 'unknown layer media type',
    category: 'media types',
    build(dir) {
      let layer: Blob | undefined;
      image(dir, ({ l, config }) => {
        layer = l.put(LAYER, 'application/x-evil-layer');
        return l.put(manifestFor(config, [layer]), MT_MANIFEST);
      });
      return { ref: `oci:${dir}`, error: `layer ${layer!.digest}: unsupported layer media type "application/x-evil-layer"` };
    },
  },
  {
    name: 'config diff_id that does not match the layer',
    category: 'digests',
    build(dir) {
      const other = sha256(Buffer.from('other'));
      let layer: Blob | undefined;
      image(dir, ({ l }) => {
        layer = l.put(LAYER, MT_TAR);
        const cfg = l.put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [other] } })), MT_CONFIG);
        return l.put(manifestFor(cfg, [layer]), MT_MANIFEST);
      });
      return { ref: `oci:${dir}`, error: `layer ${layer!.digest}: uncompressed content has diff_id ${sha256(LAYER)}, but the config says ${other}` };
    },
  },
  {
    name: 'more layers than diff_ids',
    category: 'digests',
    build(dir) {
      let cfg: Blob | undefined;
      const p = image(dir, ({ l, layer }) => {
        cfg = l.put(configFor([LAYER]), MT_CONFIG);
        return l.put(manifestFor(cfg, [layer, layer]), MT_MANIFEST);
      });
      const top = (JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Blob[] }).manifests[0]!;
      void p;
      return { ref: `oci:${dir}`, error: `config ${cfg!.digest}: 1 diff_ids for 2 layers in manifest ${top.digest}` };
    },
  },
  {
    name: 'a digest that names a path',
    category: 'digests',
    build(dir) {
      image(dir, ({ l, config, layer }) => l.put(manifestFor(config, [{ ...layer, digest: 'sha256:../../../../etc/passwd' }]), MT_MANIFEST));
      return { ref: `oci:${dir}`, error: 'unsupported or malformed blob digest "sha256:../../../../etc/passwd" (only sha256 is supported)' };
    },
  },
  {
    name: 'a negative layer size',
    category: 'sizes',
    build(dir) {
      const top = { digest: '' };
      image(dir, ({ l, config, layer }) => {
        const m = l.put(manifestFor(config, [{ ...layer, size: -1 }]), MT_MANIFEST);
        top.digest = m.digest;
        return m;
      });
      return { ref: `oci:${dir}`, error: `manifest ${top.digest} layers[0]: malformed descriptor {"mediaType":"${MT_TAR}","digest":"${sha256(LAYER)}","size":-1}` };
    },
  },
  {
    name: 'index.json that is not JSON',
    category: 'blobs',
    build(dir) {
      image(dir);
      fs.writeFileSync(path.join(dir, 'index.json'), '{"manifests": [');
      return { ref: `oci:${dir}`, error: `oci:${dir}/index.json: invalid JSON: Unexpected end of JSON input` };
    },
  },
];

const tally = new Tally();

test('hostile manifests, configs and blobs: exact one-line errors, no tag, nothing changed outside the repository', { skip: skipReason ?? false }, () => {
  const tmp = tempDir('tsbootc-hostile-blobs-');
  try {
    const repo = path.join(tmp, 'repo');
    assert.equal(cli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
    for (const [i, c] of cases.entries()) {
      try {
        const { ref, error } = c.build(path.join(tmp, `src-${i}`));
        const before = snapshot(tmp, (r) => r === 'repo');
        const r = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', ref, `case-${i}`]);
        assertError(r, `Pulling ${ref}: ${error}`);
        assert.equal(fs.existsSync(path.join(repo, 'streams/refs/oci', `case-${i}`)), false, 'a failed pull created a tag');
        assert.deepEqual(snapshot(tmp, (r) => r === 'repo'), before, 'something outside the repository changed');
      } catch (err) {
        assert.fail(`case ${JSON.stringify(c.name)}: ${(err as Error).message}`);
      }
      tally.add(c.category);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  tally.print('oci-blobs');
});
