import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { tempDirForTest } from '../testing/fake-runner.js';
import { copyIntoFile, createSparseFile, statTarget, truncateFile } from './image-file.js';

const dir = () => tempDirForTest('tsbootc-image-file-');

test('statTarget tells files, devices and missing paths apart', async () => {
  const d = dir();
  writeFileSync(path.join(d, 'f'), 'abc');
  assert.deepEqual(await statTarget(path.join(d, 'f')), { kind: 'file', size: 3 });
  assert.deepEqual(await statTarget(path.join(d, 'nope')), { kind: 'missing', size: 0 });
  assert.deepEqual(await statTarget(d), { kind: 'other', size: 0 });
});

test('createSparseFile refuses an existing file; truncateFile sizes a scratch file', async () => {
  const d = dir();
  const p = path.join(d, 'disk.img');
  await createSparseFile(p, 64 << 20);
  assert.equal(statSync(p).size, 64 << 20);
  assert.ok(statSync(p).blocks * 512 < 1 << 20, 'sparse');
  await assert.rejects(createSparseFile(p, 1), { message: `Creating disk image ${p}` });
  await truncateFile(path.join(d, 'scratch'), 4096);
  assert.equal(statSync(path.join(d, 'scratch')).size, 4096);
});

test('copyIntoFile copies the data extents at the offset and keeps holes', async () => {
  const d = dir();
  const src = path.join(d, 'fs.img');
  const dest = path.join(d, 'disk.img');
  await createSparseFile(src, 8 << 20);
  await createSparseFile(dest, 16 << 20);
  const fh = await open(src, 'r+');
  await fh.write(Buffer.from('superblock'), 0, 10, 1024);
  await fh.write(Buffer.alloc(4096, 0), 0, 4096, 2 << 20); // allocated but zero: not written
  await fh.write(Buffer.from('tail'), 0, 4, (8 << 20) - 4);
  await fh.close();
  const n = await copyIntoFile(src, dest, 3 << 20);
  const out = readFileSync(dest);
  assert.equal(out.subarray((3 << 20) + 1024, (3 << 20) + 1034).toString(), 'superblock');
  assert.equal(out.subarray((11 << 20) - 4, 11 << 20).toString(), 'tail');
  assert.equal(out.length, 16 << 20);
  const nonZero = out.reduce((c, b) => c + (b !== 0 ? 1 : 0), 0);
  assert.equal(nonZero, 14);
  assert.ok(n <= 2 << 20, `only data extents are written (${n} bytes)`);
  assert.ok(statSync(dest).blocks * 512 <= 4 << 20, 'the destination stays sparse');
});
