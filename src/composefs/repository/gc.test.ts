import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Repository, type RepositoryOptions } from './repository.js';
import { fakeSyscalls, listTree, rawZstdCodec, tempDir } from './test-support.js';
import { buildFixture, stubCollector } from './compat-fixture.js';
import type { RepoLogEvent } from './ports.js';
import { formatErrorChain } from '../../util/errors.js';

function opts(log?: (e: RepoLogEvent) => void): RepositoryOptions & { sys: ReturnType<typeof fakeSyscalls> } {
  return { sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true, collectImageObjects: stubCollector, ...(log ? { log } : {}) };
}

test('GC on a repository laid out as composefs-rs writes it: tag → manifest → config → layer (legacy header) and image', async () => {
  const fx = buildFixture(path.join(await tempDir(), 'repo'));
  // f3 is referenced only by the image the config names: named refs to images keep
  // the image object live but are not walked (spec 7), so f3 is garbage.
  const { f3, f4, g1, g2, img2 } = fx.ids;
  const events: RepoLogEvent[] = [];
  const o = opts((e) => events.push(e));
  const repo = await Repository.open(fx.dir, o);
  const before = listTree(fx.dir);
  const dry = await repo.gc({ dryRun: true });
  assert.deepEqual(dry, { objectsRemoved: 5, objectsBytes: [f3, f4, g1, g2, img2].reduce((n, id) => n + (fx.sizes[id] ?? 0), 0), imagesPruned: 0, streamsPruned: 1 });
  assert.deepEqual(listTree(fx.dir), before);
  assert.deepEqual(o.sys.calls, ['flock shared']);
  const real = await repo.gc();
  assert.deepEqual(real, { ...dry, imagesPruned: 1 });
  assert.deepEqual(o.sys.calls, ['flock shared', 'flock exclusive', 'flock shared']);
  const gone = new Set([f3, f4, g1, g2, img2].map((id) => `objects/${id.slice(0, 2)}/${id.slice(2)}`));
  const expected = before.filter((l) => {
    const p = l.split(' ')[1] ?? '';
    return !gone.has(p) && p !== `images/${img2}` && p !== 'streams/refs/oci/gone';
  });
  // Object directories stay even when emptied, as in composefs-rs.
  assert.deepEqual(listTree(fx.dir), expected);
  assert.deepEqual(
    events.filter((e) => e.kind !== 'gc-remove').map((e) => JSON.stringify(e)),
    [
      '{"kind":"gc-dangling-ref","path":"streams/refs/oci/gone"}',
      '{"kind":"gc-unwalked-ref","stream":"oci-config-sha256:c","ref":"composefs.image.v1"}',
      '{"kind":"gc-prune","path":"streams/refs/oci/gone","dryRun":true}',
      '{"kind":"gc-dangling-ref","path":"streams/refs/oci/gone"}',
      '{"kind":"gc-unwalked-ref","stream":"oci-config-sha256:c","ref":"composefs.image.v1"}',
      `{"kind":"gc-prune","path":"images/${img2}","dryRun":false}`,
      '{"kind":"gc-prune","path":"streams/refs/oci/gone","dryRun":false}',
    ],
  );
  // A second run finds nothing.
  assert.deepEqual(await repo.gc(), { objectsRemoved: 0, objectsBytes: 0, imagesPruned: 0, streamsPruned: 0 });
  repo.close();
});

test('GC additional roots keep top-level images and streams by name; without refs everything goes', async () => {
  const fx = buildFixture(path.join(await tempDir(), 'repo'));
  const repo = await Repository.open(fx.dir, opts());
  assert.deepEqual(await repo.gc({ additionalRoots: [fx.ids.img2], dryRun: true }), {
    objectsRemoved: 3,
    objectsBytes: (fx.sizes[fx.ids.g1] ?? 0) + (fx.sizes[fx.ids.g2] ?? 0) + (fx.sizes[fx.ids.f3] ?? 0),
    imagesPruned: 0,
    streamsPruned: 1,
  });
  fs.rmSync(path.join(fx.dir, 'streams', 'refs'), { recursive: true });
  fs.rmSync(path.join(fx.dir, 'images', 'refs'), { recursive: true });
  // The layer stream alone, as an extra root: keeps the layer and its two file objects.
  const r = await repo.gc({ additionalRoots: ['oci-layer-sha256:d1'] });
  assert.equal(r.objectsRemoved, Object.keys(fx.sizes).length - 3);
  assert.deepEqual([r.imagesPruned, r.streamsPruned], [3, 2]);
  const left = listTree(fx.dir).filter((l) => l.startsWith('f ') || l.startsWith('l '));
  const { layer, f1, f2 } = fx.ids;
  assert.deepEqual(
    left,
    ['f meta.json 219', ...[f1, f2, layer].sort().map((id) => `f objects/${id.slice(0, 2)}/${id.slice(2)} ${fx.sizes[id]}`), `l streams/oci-layer-sha256:d1 -> ../objects/${layer.slice(0, 2)}/${layer.slice(2)}`],
  );
  repo.close();
});

test('GC refuses an object name of the wrong length and a non-symlink in images/', async () => {
  const fx = buildFixture(path.join(await tempDir(), 'repo'));
  const repo = await Repository.open(fx.dir, opts());
  fs.mkdirSync(path.join(fx.dir, 'objects', '00'), { recursive: true });
  fs.writeFileSync(path.join(fx.dir, 'objects', '00', 'abc'), '');
  await assert.rejects(repo.gc(), (e: unknown) => formatErrorChain(e) === `Running garbage collection in ${fx.dir}: objects/00/abc: not an object name for sha256`);
  fs.rmSync(path.join(fx.dir, 'objects', '00', 'abc'));
  fs.writeFileSync(path.join(fx.dir, 'images', 'plain'), '');
  await assert.rejects(repo.gc(), (e: unknown) => formatErrorChain(e) === `Running garbage collection in ${fx.dir}: images/plain: category directory contains a non-symlink`);
  repo.close();
});

test('a legacy repository without meta.json (bootc <= 1.15 layout) is upgraded, reads and GCs like a current one', async () => {
  const fx = buildFixture(path.join(await tempDir(), 'repo'), { withMeta: false });
  await assert.rejects(Repository.open(fx.dir, opts()), /old-format repository/);
  const { repo, status } = await Repository.ensure(fx.dir, opts());
  assert.deepEqual([status, repo.algorithm, repo.insecure, repo.erofsVersion], ['upgraded', 'sha256', true, 2]);
  const layer = await repo.openStream('oci-layer-sha256:d1');
  assert.equal(layer.legacyHeader, true);
  const parts: Buffer[] = [];
  await repo.catStream('refs/oci/quay.io%2Fx:1', (d) => {
    parts.push(d);
  });
  assert.equal(Buffer.concat(parts).toString(), '{"schemaVersion":2}');
  const man = await repo.openStream('refs/oci/quay.io%2Fx:1');
  assert.deepEqual([...man.namedRefs.keys()], ['config:sha256:c', 'sha256:d1']);
  const r = await repo.gc();
  assert.equal(r.objectsRemoved, 5);
  // As upstream: the config's composefs.image.v1 keeps the image object but its
  // contents are not walked, so a file only the image references (f3) goes.
  const { img, f3 } = fx.ids;
  assert.deepEqual(
    (await repo.fsck()).errors.map((e) => e.message),
    [`fsck: image-missing-object: images/${img}: ${f3}`],
  );
  repo.close();
});
