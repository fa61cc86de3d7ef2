import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Repository } from './repository.js';
import { fakeSyscalls, rawZstdCodec, tempDir } from './test-support.js';
import { buildFixture, stubCollector } from './compat-fixture.js';
import { formatFsck, fsckJson } from './fsck.js';
import { fsverityHex } from '../fsverity.js';

const o = () => ({ sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true, collectImageObjects: stubCollector });

test('fsck of the composefs-rs-layout fixture: only the dangling tag is reported', async () => {
  const fx = buildFixture(path.join(await tempDir(), 'repo'));
  const repo = await Repository.open(fx.dir, o());
  const r = await repo.fsck();
  assert.equal(
    formatFsck(r),
    'meta.json: ok\nobjects: 15/15 ok\nstreams: 3/3 ok\nimages: 3/3 ok\nbroken symlinks: 1\nstatus: 1 error(s)\n  - fsck: broken-symlink: streams/refs/oci/gone\n',
  );
  fs.unlinkSync(path.join(fx.dir, 'streams/refs/oci/gone'));
  const clean = await repo.fsck();
  assert.equal(formatFsck(clean), 'meta.json: ok\nobjects: 15/15 ok\nstreams: 3/3 ok\nimages: 3/3 ok\nstatus: ok\n');
  assert.equal(
    fsckJson(clean),
    '{\n  "ok": true,\n  "has_metadata": true,\n  "objects_checked": 15,\n  "objects_corrupted": 0,\n  "streams_checked": 3,\n  "streams_corrupted": 0,\n  "images_checked": 3,\n  "images_corrupted": 0,\n  "broken_links": 0,\n  "missing_objects": 0,\n  "errors": []\n}\n',
  );
  repo.close();
});

test('fsck finds a damaged object, missing stream and image objects, a broken link and a bad name', async () => {
  const fx = buildFixture(path.join(await tempDir(), 'repo'));
  fs.unlinkSync(path.join(fx.dir, 'streams/refs/oci/gone'));
  const { f1, f2, f5, img2 } = fx.ids;
  const p = (id: string) => path.join(fx.dir, 'objects', id.slice(0, 2), id.slice(2));
  fs.writeFileSync(p(f1), 'FILE ONE '.repeat(10));
  fs.unlinkSync(p(f2));
  fs.unlinkSync(p(f5));
  fs.unlinkSync(p(img2));
  fs.mkdirSync(path.join(fx.dir, 'objects', '00'), { recursive: true });
  fs.writeFileSync(path.join(fx.dir, 'objects', '00', 'x'), '');
  const repo = await Repository.open(fx.dir, o());
  const r = await repo.fsck();
  const measured = fsverityHex(Buffer.from('FILE ONE '.repeat(10)), 'sha256');
  assert.equal(
    formatFsck(r),
    [
      'meta.json: ok',
      'objects: 11/13 ok',
      'streams: 3/3 ok',
      'images: 2/3 ok',
      'broken symlinks: 1',
      'missing objects: 2',
      'status: 5 error(s)',
      '  - fsck: object-invalid-name: objects/00/x: not a sha256 object name',
      `  - fsck: object-digest-mismatch: objects/${f1.slice(0, 2)}/${f1.slice(2)}: measured ${measured}`,
      `  - fsck: missing-object-ref: streams/oci-layer-sha256:d1: ${f2}`,
      `  - fsck: broken-symlink: images/${img2}`,
      `  - fsck: image-missing-object: images/${fx.ids.img3}: ${f5}`,
      '',
    ].join('\n'),
  );
  assert.deepEqual(JSON.parse(fsckJson(r)), {
    ok: false,
    has_metadata: true,
    objects_checked: 13,
    objects_corrupted: 2,
    streams_checked: 3,
    streams_corrupted: 0,
    images_checked: 3,
    images_corrupted: 1,
    broken_links: 1,
    missing_objects: 2,
    errors: formatFsck(r).split('\n').filter((l) => l.startsWith('  - ')).map((l) => l.slice(4)),
  });
  assert.deepEqual(r.errors[2], { type: 'missing-object-ref', path: 'streams/oci-layer-sha256:d1', objectId: f2, message: `fsck: missing-object-ref: streams/oci-layer-sha256:d1: ${f2}` });
  repo.close();
});
