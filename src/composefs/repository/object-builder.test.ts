import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsverityDigest } from '../fsverity.js';
import type { RepoCore } from './core.js';
import { MEMORY_OBJECT_MAX } from './object-builder.js';
import { publishKnownTemp, tempObjectPath } from './objects.js';
import { Repository } from './repository.js';
import { fakeSyscalls, rawZstdCodec, tempDir } from './test-support.js';

const coreOf = (repo: Repository): RepoCore => (repo as unknown as { core: RepoCore }).core;

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function build(repo: Repository, data: Buffer, piece = 1000): Promise<{ id: string; method: string }> {
  const b = await repo.beginObject(data.length);
  for (let off = 0; off < data.length; off += piece) await b.write(data.subarray(off, off + piece));
  return b.commit();
}

test('known-id objects: a secure repository refuses an id the kernel does not measure', async () => {
  const dir = await tempDir();
  const sys = fakeSyscalls({ verity: true });
  const { repo } = await Repository.init(path.join(dir, 'r'), { sys, zstd: rawZstdCodec(), algorithm: 'sha256' });
  try {
    assert.equal(repo.insecure, false);
    const data = bytes(10_000, 1);
    const want = fsverityDigest(data, 'sha256').toString('hex');
    assert.deepEqual(await build(repo, data), { id: want, method: 'stored' });
    assert.ok(sys.calls.includes('enable-verity sha256'));
    assert.ok(fs.readFileSync(repo.objectPath(want)).equals(data));
    // The internal known-id path with a wrong claim: the kernel's measurement wins.
    const core = coreOf(repo);
    const other = bytes(5000, 2);
    const tmp = tempObjectPath(core);
    fs.writeFileSync(tmp, other);
    const wrong = want;
    const wrongFresh = 'ab'.repeat(32);
    assert.throws(() => publishKnownTemp(core, tmp, wrongFresh, other.length), /kernel fs-verity digest [0-9a-f]{64} differs from the computed ab/);
    assert.equal(fs.existsSync(repo.objectPath(wrongFresh)), false);
    assert.equal(fs.existsSync(tmp), false, 'the temporary is removed');
    // An object present with the same size is taken as it is (no re-hash), as composefs-rs does.
    const tmp2 = tempObjectPath(core);
    fs.writeFileSync(tmp2, data);
    assert.equal(publishKnownTemp(core, tmp2, wrong, data.length), 'already-present');
    assert.equal(fs.existsSync(tmp2), false);
  } finally {
    repo.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('known-id objects: in an insecure repository the id is always the builder\'s own digest', async () => {
  const dir = await tempDir();
  const { repo } = await Repository.init(path.join(dir, 'r'), { sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true, algorithm: 'sha512' });
  try {
    assert.equal(repo.insecure, true);
    for (const n of [0, 65, 4096, 4097, MEMORY_OBJECT_MAX, MEMORY_OBJECT_MAX + 5000]) {
      const data = bytes(n, n);
      const want = fsverityDigest(data, 'sha512').toString('hex');
      const r = await build(repo, data, 300_001);
      assert.equal(r.id, want, `size ${n}`);
      assert.ok(fs.readFileSync(repo.objectPath(want)).equals(data), `size ${n}`);
      assert.equal((await build(repo, data)).method, 'already-present');
    }
    // The builder has no way to take an id; digest() is its own, and the content is frozen once it is taken.
    const b = await repo.beginObject(3);
    await b.write(Buffer.from('ab'));
    assert.throws(() => b.digest(), /truncated: 2 of 3 bytes/);
    await b.write(Buffer.from('c'));
    const id = b.digest().toString('hex');
    assert.throws(() => b.write(Buffer.from('x')), /write after digest/);
    assert.equal((await b.commit()).id, id);
    await assert.rejects(b.commit(), /committed twice/);
    const big = await repo.beginObject(4);
    assert.throws(() => big.write(Buffer.from('12345')), /larger than the 4 bytes announced/);
    await big.abort();
    // Outside src/composefs/repository nothing can reach the id-taking path.
    const api = await import('./index.js');
    for (const name of ['publishKnownTemp', 'tempObjectPath', 'ObjectBuilder']) assert.equal(name in api, false, name);
    const left = fs.readdirSync(path.join(dir, 'r', 'objects')).filter((n) => n.startsWith('.tmp-object-'));
    assert.deepEqual(left, []);
  } finally {
    repo.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
