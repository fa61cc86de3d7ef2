import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Repository } from './repository.js';
import { fakeSyscalls, rawZstdCodec, tempDir } from './test-support.js';
import { externalFile, inlineFile, newDir } from '../tree.js';
import { writeErofs } from '../erofs/writer.js';
import { fsverityDigest } from '../fsverity.js';

const o = () => ({ sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true });

test('real EROFS images (V1 and V2): image-objects, and GC keeps what named images reference', async () => {
  const dir = path.join(await tempDir(), 'repo');
  const { repo } = await Repository.init(dir, { ...o(), algorithm: 'sha256' });
  const a = Buffer.from('a'.repeat(100));
  const b = Buffer.from('b'.repeat(200));
  const ida = await repo.ensureObject(a);
  const idb = await repo.ensureObject(b);
  const junk = await repo.ensureObject(Buffer.from('junk'));
  const root = newDir({ mode: 0o755 });
  root.set(Buffer.from('a'), externalFile({ mode: 0o644 }, fsverityDigest(a, 'sha256'), a.length));
  root.set(Buffer.from('small'), inlineFile({ mode: 0o644 }, Buffer.from('hi')));
  const v1 = await repo.writeImage(writeErofs(root, { minVersion: 1, maxVersion: 1 }), 'one');
  const root2 = newDir({ mode: 0o755 });
  root2.set(Buffer.from('b'), externalFile({ mode: 0o644 }, fsverityDigest(b, 'sha256'), b.length));
  const v2img = writeErofs(root2, { minVersion: 2, maxVersion: 2 });
  const v2 = await repo.writeImage(v2img);
  assert.deepEqual(await repo.objectsForImage('one'), [ida]);
  assert.deepEqual(await repo.objectsForImage(v2), [idb]);
  assert.deepEqual(await repo.gc({ additionalRoots: [v2], dryRun: true }), { objectsRemoved: 1, objectsBytes: 4, imagesPruned: 0, streamsPruned: 0 });
  const r = await repo.gc();
  assert.deepEqual(r, { objectsRemoved: 3, objectsBytes: 4 + 200 + v2img.length, imagesPruned: 1, streamsPruned: 0 });
  assert.deepEqual([await repo.hasObject(ida), await repo.hasObject(v1), await repo.hasObject(idb), await repo.hasObject(junk)], [true, true, false, false]);
  assert.deepEqual(await repo.listImages(), [v1]);
  const f = await repo.fsck();
  assert.deepEqual([f.errors, f.imagesChecked, f.objectsChecked], [[], 1, 2]);
  repo.close();
});

test('object writer: pieces in, nothing visible before finish, abort leaves nothing, a wrong expected id is refused', async () => {
  const dir = path.join(await tempDir(), 'repo');
  const { repo } = await Repository.init(dir, { ...o(), algorithm: 'sha256' });
  const w = await repo.createObjectWriter();
  await w.write(Buffer.from('hel'));
  await w.write(Buffer.from('lo'));
  assert.deepEqual(fs.readdirSync(path.join(dir, 'objects')).filter((n) => !n.startsWith('.')), []);
  assert.deepEqual(await w.finish('555b589c26ee43b7a2510e6c67ced9fb3190b6da6e9e683984551f5d77a763de'), { id: '555b589c26ee43b7a2510e6c67ced9fb3190b6da6e9e683984551f5d77a763de', method: 'stored' });
  const w2 = await repo.createObjectWriter();
  await w2.write(Buffer.from('x'));
  await w2.abort();
  const w3 = await repo.createObjectWriter();
  await w3.write(Buffer.from('y'));
  await assert.rejects(w3.finish('00'.repeat(32)), /object content has fs-verity digest [0-9a-f]{64}, expected 0{64}/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'objects')), ['55']);
  repo.close();
});
