import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Repository, CONTENT_TYPE, type ErofsFormatVersion, type RepositoryOptions } from '../repository/index.js';
import { fakeSyscalls, listTree, rawZstdCodec, tempDir } from '../repository/test-support.js';
import { openOciLayout } from './layout.js';
import { pullOciImage } from './store.js';
import { openStoredImage, resolveTag, untagImage } from './stored.js';
import { buildStoredTree, storedLayerTar } from './stored-tree.js';
import { rawEntry, TAR_END, sha256, writeOciLayout } from './test-fixtures.js';
import { printDumpfile } from '../dumpfile.js';
import { transformForOci } from './merge.js';

const EXPECTED_V1 = 'd06f1f6a73f62ed48e05ce9442ff045cdf2a9f5ba1ec623795de3d6177a253d91076459795d94f55d8c3d71dab458bb3fc0071255a50c0a4896d86ffdc870b9a';
const EXPECTED_V2 = 'f7684c21050615c02cec250e0c7d4118fb0ff6340af5039e06f2f372a7614fff25dfd38cf7f28ad67d8b86e86371b7deafa9ae4bf543630322aee6196417de92';

function fixtureC(): Buffer {
  const common = { uid: 0, gid: 0, mtime: 1234567890, gnu: true };
  return Buffer.concat([
    rawEntry({ ...common, name: 'usr/', type: '5', mode: 0o755 }),
    rawEntry({ ...common, name: 'hello.txt', mode: 0o644, data: 'hello from test layer\n' }),
    rawEntry({ ...common, name: 'hello-link.txt', type: '1', mode: 0, linkname: 'hello.txt' }),
    TAR_END,
  ]);
}

const big = (n: number, seed: string) => {
  const out = Buffer.alloc(n);
  let h = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += h.length) {
    h.copy(out, i);
    h = createHash('sha256').update(h).digest();
  }
  return out;
};

/** Two layers: a base with dirs, large and small files; a second that deletes, replaces and hardlinks. */
function twoLayers(): Buffer[] {
  const c = { mtime: 1700000000 };
  const base = Buffer.concat([
    rawEntry({ ...c, name: 'usr/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/bin/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/bin/tool', mode: 0o4755, data: big(5000, 'tool') }),
    rawEntry({ ...c, name: 'usr/small', data: 'small\n' }),
    rawEntry({ ...c, name: 'etc/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'etc/old', data: big(200, 'old') }),
    rawEntry({ ...c, name: 'boot/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'boot/vmlinuz', data: big(100, 'k') }),
    rawEntry({ ...c, name: 'sysroot/', type: '5', mode: 0o755 }),
    TAR_END,
    Buffer.alloc(3072), // record padding after the end blocks stays in the split tar
  ]);
  const top = Buffer.concat([
    rawEntry({ ...c, name: 'etc/.wh.old', data: '' }),
    rawEntry({ ...c, name: 'etc/new', data: big(70000, 'new') }),
    rawEntry({ ...c, name: 'usr/bin/tool2', type: '1', linkname: 'usr/bin/tool' }),
    rawEntry({ ...c, name: 'usr/lnk', type: '2', linkname: 'bin/tool' }),
    TAR_END,
  ]);
  return [base, top];
}

function opts(): RepositoryOptions {
  return { sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true };
}

async function freshRepo(version: ErofsFormatVersion = 1, algorithm: 'sha256' | 'sha512' = 'sha512'): Promise<Repository> {
  const dir = path.join(await tempDir('tsbootc-oci-store-'), 'repo');
  return (await Repository.init(dir, { ...opts(), algorithm, erofsVersion: version })).repo;
}

async function layout(tars: Buffer[], o: Parameters<typeof writeOciLayout>[2] = {}) {
  const dir = await tempDir('tsbootc-oci-layout-');
  return { dir, ...writeOciLayout(dir, tars, { tag: 'latest', ...o }) };
}

for (const [version, expected, key] of [
  [1, EXPECTED_V1, 'composefs.image.v1'],
  [2, EXPECTED_V2, 'composefs.image'],
] as const) {
  test(`fixture C pulled into a sha512 V${version} repository gives the pinned image id and named refs`, async () => {
    const l = await layout([fixtureC()], { gzip: true });
    const repo = await freshRepo(version);
    const r = await pullOciImage(repo, openOciLayout(l.dir), { tag: 'localhost/bootc-test' });
    assert.deepEqual(r.imageIds, version === 1 ? { v1: expected } : { v2: expected });
    assert.equal(r.manifestDigest, l.manifest);
    assert.equal(r.configDigest, l.config);
    const diffId = sha256(fixtureC());
    const layerVerity = await repo.hasStream(`oci-layer-${diffId}`);
    assert.ok(layerVerity !== undefined);
    const config = await repo.openStream(`oci-config-${l.config}`, CONTENT_TYPE.ociConfig);
    assert.deepEqual([...config.namedRefs], [
      [key, expected],
      [diffId, layerVerity],
    ]);
    assert.equal(config.id, r.configVerity);
    const manifest = await repo.openStream(`oci-manifest-${l.manifest}`, CONTENT_TYPE.ociManifest);
    assert.deepEqual([...manifest.namedRefs], [
      [`config:${l.config}`, r.configVerity],
      [diffId, layerVerity],
    ]);
    // Raw JSON exactly as in the layout.
    assert.ok((await repo.readExternalStream(`oci-manifest-${l.manifest}`)).equals(fs.readFileSync(path.join(l.dir, 'blobs/sha256', l.manifest.slice(7)))));
    assert.ok((await repo.readExternalStream(`oci-config-${l.config}`)).equals(fs.readFileSync(path.join(l.dir, 'blobs/sha256', l.config.slice(7)))));
    assert.equal(fs.readlinkSync(path.join(repo.path, 'streams/refs/oci/localhost%2Fbootc-test')), `../../oci-manifest-${l.manifest}`);
    assert.equal(await resolveTag(repo, 'localhost/bootc-test'), l.manifest);
    assert.deepEqual(await repo.listImages(), [expected]);
    // The image rebuilt from the stored layer is the same.
    const tree = await buildStoredTree(repo, l.config);
    transformForOci(tree);
    assert.match(printDumpfile(tree).toString('latin1'), /^\/hello-link.txt 22 100644 2 /m);
    // GC keeps everything a tag reaches.
    assert.deepEqual(await repo.gc(), { objectsRemoved: 0, objectsBytes: 0, imagesPruned: 0, streamsPruned: 0 });
    assert.equal((await repo.fsck()).errors.length, 0);
  });
}

test('a stored layer reassembles to a tar whose sha256 is its diff_id; re-pulls reuse stored layers', async () => {
  const tars = twoLayers();
  const l = await layout(tars);
  const repo = await freshRepo(1, 'sha256');
  const first = await pullOciImage(repo, openOciLayout(l.dir), { tag: 'two', bootable: true });
  for (const t of tars) {
    const parts: Buffer[] = [];
    for await (const c of storedLayerTar(repo, sha256(t))) parts.push(c);
    const tar = Buffer.concat(parts);
    assert.equal(sha256(tar), sha256(t));
    assert.ok(tar.equals(t));
  }
  assert.deepEqual([first.stats.layers, first.stats.layersAlreadyPresent, first.stats.objectsCopied], [2, 0, 4]);
  assert.ok(first.bootImageId !== undefined && first.bootImageId !== first.imageIds.v1);
  const img = await openStoredImage(repo, first.manifestDigest);
  assert.deepEqual([img.imageIds, img.bootImageIds], [first.imageIds, { v1: first.bootImageId }]);
  // A complete image is only re-tagged.
  const again = await pullOciImage(repo, openOciLayout(l.dir), { tag: 'again', bootable: true });
  assert.deepEqual([again.imageIds, again.bootImageId, again.manifestVerity], [first.imageIds, first.bootImageId, first.manifestVerity]);
  // An image sharing the base layer replays it from the repository and matches a fresh pull.
  const extra = rawEntry({ name: 'usr/extra', data: big(300, 'extra'), mtime: 1700000001 });
  const l2 = await layout([tars[0]!, Buffer.concat([extra, TAR_END])]);
  const shared = await pullOciImage(repo, openOciLayout(l2.dir), { tag: 'shared' });
  assert.deepEqual([shared.stats.layers, shared.stats.layersAlreadyPresent], [2, 1]);
  const fresh = await pullOciImage(await freshRepo(1, 'sha256'), openOciLayout(l2.dir));
  assert.deepEqual(shared.imageIds, fresh.imageIds);
  // Untag everything and GC: nothing is left but empty directories.
  for (const t of ['two', 'again', 'shared']) await untagImage(repo, t);
  const gc = await repo.gc();
  assert.ok(gc.objectsRemoved > 0);
  assert.deepEqual(
    listTree(repo.path).filter((l) => !l.startsWith('d ')),
    ['f meta.json 150'].map((s) => s.replace('150', String(fs.statSync(path.join(repo.path, 'meta.json')).size))),
  );
});

test('a failed pull leaves no tag, no stream and no image', async (t) => {
  const tars = twoLayers();
  const corruptGzip = (blob: Buffer, i: number) => (i === 1 ? Buffer.concat([blob.subarray(0, 30), Buffer.alloc(blob.length - 30, 0x55)]) : blob);
  const badBlob = (blob: Buffer, i: number) => (i === 1 ? Buffer.concat([blob.subarray(0, 2000), Buffer.from([blob[2000]! ^ 1]), blob.subarray(2001)]) : blob);
  const orphan = Buffer.concat([rawEntry({ name: 'nope/file', data: 'x' }), TAR_END]);
  const cases: [string, Buffer[], Parameters<typeof writeOciLayout>[2], RegExp][] = [
    ['bad blob', tars, { tamperLayer: badBlob }, /content digest is sha256:[0-9a-f]{64}, not the digest its descriptor names/],
    ['corrupt gzip', tars, { gzip: true, tamperLayer: corruptGzip }, /layer sha256:[0-9a-f]{64}: .*(gzip|header)/],
    ['missing parent', [tars[0]!, orphan], {}, /layer sha256:[0-9a-f]{64}: entry \/nope\/file: /],
  ];
  for (const [name, layers, o, message] of cases) {
    await t.test(name, async () => {
      const l = await layout(layers, o);
      const repo = await freshRepo(1, 'sha256');
      await assert.rejects(pullOciImage(repo, openOciLayout(l.dir), { tag: 'x' }), (err: Error) => {
        const chain: string[] = [];
        for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.message);
        assert.match(chain.join(': '), message);
        return true;
      });
      const visible = listTree(repo.path).filter((p) => p.startsWith('l ') || p.startsWith('f streams') || p.startsWith('f images'));
      assert.deepEqual(visible, []);
      assert.deepEqual(await repo.listStreamRefs(), []);
      assert.deepEqual(await repo.listImages(), []);
    });
  }
});

test('an artifact is stored raw: oci_blob layer streams keyed by digest, no EROFS', async () => {
  const dir = await tempDir('tsbootc-oci-artifact-');
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha256(b);
    fs.writeFileSync(path.join(dir, 'blobs/sha256', d.slice(7)), b);
    return d;
  };
  const blob = Buffer.from('signature payload, not a tar\n'.repeat(5));
  const empty = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/x-test',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: put(empty), size: 2 },
      layers: [{ mediaType: 'application/x-test-blob', digest: put(blob), size: blob.length }],
    }),
  );
  const md = put(manifest);
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }] }));
  const repo = await freshRepo(1, 'sha256');
  const r = await pullOciImage(repo, openOciLayout(dir), { tag: 'art' });
  assert.deepEqual([r.isContainerImage, r.imageIds], [false, {}]);
  const layer = await repo.openStream(`oci-layer-${sha256(blob)}`, CONTENT_TYPE.ociBlob);
  assert.equal(layer.streamSize, BigInt(blob.length));
  assert.ok((await repo.readExternalStream(`oci-layer-${sha256(blob)}`)).equals(blob));
  const img = await openStoredImage(repo, md);
  assert.deepEqual([img.isContainerImage, img.layerKeys], [false, [sha256(blob)]]);
  assert.deepEqual(await repo.listImages(), []);
});
