import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { packTar, writeOciLayout, sha256, type PackEntry } from './test-fixtures.js';
import { printDumpfile } from '../dumpfile.js';
import { MemoryObjectSink, MemorySplitSink } from './sink.js';
import { openOciArchive, openOciLayout, resolveOciImage } from './layout.js';
import { importOciImage, layerCompression, type Decompressor } from './import.js';
import { transformForOci } from './merge.js';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'tsbootc-oci-'));

const BASE: PackEntry[] = [
  { name: 'usr/', type: 'directory', mode: 0o755, mtime: new Date(1234567890e3) },
  { name: 'usr/lib/', type: 'directory', mode: 0o755, mtime: new Date(1234567890e3) },
  { name: 'usr/lib/os-release', data: 'ID=test\n'.repeat(20), mtime: new Date(1234567890e3) },
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/motd', data: 'v1' },
];
const UPDATE: PackEntry[] = [{ name: 'etc/.wh.motd' }, { name: 'etc/hostname', data: 'box\n' }];

const GOLDEN = String.raw`/ 0 40755 4 0 0 0 1234567890.0 - - -
/etc 0 40755 2 0 0 0 0.0 - - -
/etc/hostname 4 100644 1 0 0 0 0.0 - box\n -
/usr 0 40755 3 0 0 0 1234567890.0 - - -
/usr/lib 0 40755 2 0 0 0 1234567890.0 - - -
/usr/lib/os-release 160 100644 1 0 0 0 1234567890.0 dc/ce52443959bfd15e3039f05a247db5cc78e474f8d95c93e7b74b37c21fbd83 - dcce52443959bfd15e3039f05a247db5cc78e474f8d95c93e7b74b37c21fbd83
`;

async function layoutDir(opts: Parameters<typeof writeOciLayout>[2] = {}): Promise<{ dir: string; digests: ReturnType<typeof writeOciLayout> }> {
  const dir = tmp();
  const digests = writeOciLayout(dir, [await packTar(BASE), await packTar(UPDATE)], { tag: 'v2', gzip: true, ...opts });
  return { dir, digests };
}

test('an OCI layout imports by tag: verified raw manifest/config, diff_ids, merged tree', async () => {
  const { dir, digests } = await layoutDir();
  const sink = new MemoryObjectSink();
  const splits: MemorySplitSink[] = [];
  const got = await importOciImage(openOciLayout(dir), { tag: 'v2', algorithm: 'sha256', sink, splitFor: () => (splits.push(new MemorySplitSink()), splits[splits.length - 1]) });
  assert.equal(got.image.manifestDigest, digests.manifest);
  assert.ok(got.image.manifestRaw.equals(readFileSync(path.join(dir, 'blobs/sha256', digests.manifest.slice(7)))));
  assert.equal(sha256(got.image.configRaw), digests.config);
  assert.deepEqual(got.layers.map((l) => [l.descriptor.digest, l.diffId]), [
    [digests.layers[0], got.image.diffIds[0]],
    [digests.layers[1], got.image.diffIds[1]],
  ]);
  transformForOci(got.root);
  assert.equal(printDumpfile(got.root).toString('latin1'), GOLDEN);
  assert.deepEqual(splits.map((s, i) => sha256(s.reassemble(sink)) === got.layers[i]!.diffId), [true, true]);
});

test('an oci-archive (a tar of the layout) imports the same tree, reading blobs by range', async () => {
  const { dir } = await layoutDir({ tag: 'latest' });
  const files: PackEntry[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort().reverse()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (statSync(path.join(dir, r)).isDirectory()) walk(r);
      else files.push({ name: r, data: readFileSync(path.join(dir, r)) });
    }
  };
  walk(''); // index.json comes last: the archive is indexed before anything is read
  const archive = path.join(tmp(), 'image.tar');
  writeFileSync(archive, await packTar(files));
  const got = await importOciImage(await openOciArchive(archive), { algorithm: 'sha256', sink: new MemoryObjectSink() });
  transformForOci(got.root);
  assert.equal(printDumpfile(got.root).toString('latin1'), GOLDEN);
});

test('tags: a missing tag names the ones present; several images need a tag', async () => {
  const { dir } = await layoutDir();
  await assert.rejects(resolveOciImage(openOciLayout(dir), 'nope'), new RegExp(`^FormatError: oci:${dir}: no image tagged "nope" \\(tags: v2\\)$`));
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
  index.manifests.push(index.manifests[0]);
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  await assert.rejects(resolveOciImage(openOciLayout(dir)), /2 images and no tag given/);
});

test('blobs that do not match their descriptors are rejected, and nothing is half-imported', async () => {
  // A layer blob whose bytes changed: detected by sha256 while streaming.
  let { dir, digests } = await layoutDir({ gzip: false, tamperLayer: (b, i) => (i === 1 ? Buffer.from(b.toString('latin1').replace('box', 'bix'), 'latin1') : b) });
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink: new MemoryObjectSink() }), new RegExp(`^FormatError: blob ${digests.layers[1]} in oci:${dir}: content digest is sha256:[0-9a-f]{64}, not the digest its descriptor names$`));
  ({ dir, digests } = await layoutDir({ tamperLayer: (b, i) => (i === 0 ? Buffer.concat([b, Buffer.from('x')]) : b) }));
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink: new MemoryObjectSink() }), new RegExp(`blob ${digests.layers[0]} in oci:.*: larger than the \\d+ bytes its descriptor says`));
  ({ dir, digests } = await layoutDir({ tamperLayer: (b, i) => (i === 0 ? b.subarray(0, b.length - 10) : b) }));
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink: new MemoryObjectSink() }), new RegExp(`^FormatError: blob ${digests.layers[0]} in oci:.*: \\d+ bytes, but its descriptor says \\d+$`));
  // A manifest edited in place no longer matches the digest index.json names.
  ({ dir, digests } = await layoutDir());
  const mpath = path.join(dir, 'blobs/sha256', digests.manifest.slice(7));
  writeFileSync(mpath, readFileSync(mpath, 'utf8').replace('"schemaVersion": 2', '"schemaVersion":2'));
  await assert.rejects(resolveOciImage(openOciLayout(dir)), new RegExp(`^FormatError: blob ${digests.manifest} in oci:.*: \\d+ bytes, but its descriptor says \\d+$`));
  ({ dir, digests } = await layoutDir());
  const mpath2 = path.join(dir, 'blobs/sha256', digests.manifest.slice(7));
  writeFileSync(mpath2, readFileSync(mpath2, 'utf8').replace('"schemaVersion": 2', '"schemaVersion": 3'));
  await assert.rejects(resolveOciImage(openOciLayout(dir)), new RegExp(`^FormatError: blob ${digests.manifest} in oci:.*: content digest is sha256:[0-9a-f]{64}, not the digest its descriptor names$`));
});

/** Replaces layer `i`'s blob and rewrites manifest and index.json so every descriptor matches again. */
function replaceLayer(dir: string, d: ReturnType<typeof writeOciLayout>, i: number, blob: Buffer, mediaType?: string): string {
  const put = (data: Buffer): string => (writeFileSync(path.join(dir, 'blobs/sha256', sha256(data).slice(7)), data), sha256(data));
  const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs/sha256', d.manifest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number; mediaType: string }> };
  manifest.layers[i] = { mediaType: mediaType ?? manifest.layers[i]!.mediaType, digest: put(blob), size: blob.length };
  const raw = Buffer.from(JSON.stringify(manifest));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: put(raw), size: raw.length }] }));
  return sha256(blob);
}

test('truncated or corrupt gzip and a diff_id mismatch fail the layer and name it', async () => {
  const sink = new MemoryObjectSink();
  let { dir, digests } = await layoutDir();
  const gz = gzipSync(await packTar(UPDATE));
  let bad = replaceLayer(dir, digests, 1, gz.subarray(0, gz.length - 12));
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink }), new RegExp(`^FormatError: layer ${bad}: gzip decompression failed: unexpected end of file$`));
  ({ dir, digests } = await layoutDir());
  const corrupt = Buffer.from(gz);
  corrupt.fill(0xa5, 12, 40);
  bad = replaceLayer(dir, digests, 1, corrupt);
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink }), new RegExp(`^FormatError: layer ${bad}: gzip decompression failed: `));
  // A layer whose uncompressed bytes are not what the config's diff_ids say.
  ({ dir, digests } = await layoutDir());
  bad = replaceLayer(dir, digests, 1, gzipSync(await packTar([{ name: 'etc/other', data: 'x' }])));
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink }), new RegExp(`^FormatError: layer ${bad}: uncompressed content has diff_id sha256:[0-9a-f]{64}, but the config says ${sha256(await packTar(UPDATE))}$`));
  assert.equal(sink.open, 0);
});

test('media types: tar+zstd uses the injected decompressor, unknown types fail', async () => {
  assert.deepEqual(
    ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/x-foo'].map(layerCompression),
    ['none', 'gzip', 'zstd', 'gzip', undefined],
  );
  const dir = tmp();
  const tar = await packTar(BASE);
  const d = writeOciLayout(dir, [tar]);
  const layer = replaceLayer(dir, d, 0, tar, 'application/vnd.oci.image.layer.v1.tar+zstd');
  await assert.rejects(importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink: new MemoryObjectSink() }), new RegExp(`^FormatError: layer ${layer}: tar\\+zstd layer, but no zstd decompressor was supplied$`));
  const unknown = tmp();
  replaceLayer(unknown, writeOciLayout(unknown, [tar]), 0, tar, 'application/x-foo');
  await assert.rejects(importOciImage(openOciLayout(unknown), { algorithm: 'sha256', sink: new MemoryObjectSink() }), /unsupported layer media type "application\/x-foo"/);
  let calls = 0;
  const fakeZstd: Decompressor = { decompress: (input) => (calls++, input) }; // the "compressed" blob is plain tar here
  const got = await importOciImage(openOciLayout(dir), { algorithm: 'sha256', sink: new MemoryObjectSink(), zstd: fakeZstd });
  assert.equal(calls, 1);
  assert.equal(got.layers.length, 1);
});

test('a missing layout or blob file names the store and the blob', async () => {
  await assert.rejects(resolveOciImage(openOciLayout('/nonexistent-layout')), /^FormatError: oci:\/nonexistent-layout: reading index\.json: ENOENT/);
  const { dir, digests } = await layoutDir();
  rmSync(path.join(dir, 'blobs/sha256', digests.config.slice(7)));
  await assert.rejects(resolveOciImage(openOciLayout(dir)), new RegExp(`^FormatError: blob ${digests.config} in oci:${dir}: ENOENT`));
});

test('a nested image index resolves to the requested platform', async () => {
  const dir = tmp();
  const amd = writeOciLayout(dir, [await packTar(BASE)]);
  const arm = writeOciLayout(dir, [await packTar(UPDATE)]);
  const size = (d: string): number => statSync(path.join(dir, 'blobs/sha256', d.slice(7))).size;
  const list = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.manifest, size: size(amd.manifest), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.manifest, size: size(arm.manifest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }),
  );
  writeFileSync(path.join(dir, 'blobs/sha256', sha256(list).slice(7)), list);
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(list), size: list.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
  const store = openOciLayout(dir);
  assert.equal((await resolveOciImage(store, 'multi', { os: 'linux', architecture: 'arm64' })).manifestDigest, arm.manifest);
  assert.equal((await resolveOciImage(store, 'multi', { os: 'linux', architecture: 'amd64' })).manifestDigest, amd.manifest);
  await assert.rejects(resolveOciImage(store, 'multi', { os: 'linux', architecture: 's390x' }), new RegExp(`^FormatError: index ${sha256(list)}: no manifest for linux/s390x \\(has linux/amd64, linux/arm64\\)$`));
});

test('artifacts (a non-image config) resolve with layer digests as keys, but do not import as a tree', async () => {
  const dir = tmp();
  const blob = Buffer.from('not a tar');
  const empty = Buffer.from('{}');
  writeOciLayout(dir, []);
  for (const b of [blob, empty]) writeFileSync(path.join(dir, 'blobs/sha256', sha256(b).slice(7)), b);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/x-test',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [{ mediaType: 'application/octet-stream', digest: sha256(blob), size: blob.length }],
    }),
  );
  writeFileSync(path.join(dir, 'blobs/sha256', sha256(manifest).slice(7)), manifest);
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length }] }));
  const store = openOciLayout(dir);
  const r = await resolveOciImage(store);
  assert.deepEqual([r.isContainerImage, r.diffIds], [false, [sha256(blob)]]);
  await assert.rejects(importOciImage(store, { algorithm: 'sha256', sink: new MemoryObjectSink() }), /is an OCI artifact \(config media type "application\/vnd\.oci\.empty\.v1\+json"\), not a container image$/);
});
