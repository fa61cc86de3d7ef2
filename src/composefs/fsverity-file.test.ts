import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fsverityDigest, digestFromLeafHashes, hashLeafBlocks, leafBlockCount } from './fsverity.js';
import { fsverityDigestFile, fsverityDigestFdSync, newReadBuffer, VerityPool, PARALLEL_MIN_SIZE } from './fsverity-file.js';

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 12)) & 0xff;
  return b;
}

test('leaf hashes + upper levels give the streaming digest', () => {
  for (const n of [0, 1, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 300000]) {
    const data = pattern(n);
    for (const alg of ['sha256', 'sha512'] as const) {
      const leaves = Buffer.alloc(leafBlockCount(n) * (alg === 'sha256' ? 32 : 64));
      hashLeafBlocks(alg, data, leaves, 0);
      assert.deepEqual(digestFromLeafHashes(leaves, BigInt(n), alg), fsverityDigest(data, alg), `${alg} ${n}`);
    }
  }
});

test('file digests (one thread, small buffer, and the worker pool) equal the in-memory digest', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-fv-'));
  const pool = new VerityPool(2);
  try {
    // 600000 bytes i % 251: environment.md §4 vector.
    const v = Buffer.alloc(600000);
    for (let i = 0; i < v.length; i++) v[i] = i % 251;
    writeFileSync(path.join(dir, 'v'), v);
    assert.equal((await fsverityDigestFile(path.join(dir, 'v'), 'sha256')).toString('hex'), '06d5be5c1f84f55006b5826aec720b80e5d95f30e170be7e1d6aae61755f1ae4');
    const big = pattern(PARALLEL_MIN_SIZE + 16 * 1024 * 1024 + 12345);
    const p = path.join(dir, 'big');
    writeFileSync(p, big);
    for (const alg of ['sha256', 'sha512'] as const) {
      const want = fsverityDigest(big, alg);
      assert.deepEqual(await pool.digestFile(p, alg), want, `pool ${alg}`);
      assert.deepEqual(await pool.digestFile(Buffer.from(p), alg), want, `pool, path as bytes ${alg}`);
      const fd = openSync(p, 'r');
      try {
        assert.deepEqual(fsverityDigestFdSync(fd, big.length, alg, newReadBuffer(3 * 4096)), want, `sync ${alg}`);
      } finally {
        closeSync(fd);
      }
    }
    await assert.rejects(pool.digestLarge(path.join(dir, 'missing'), PARALLEL_MIN_SIZE, 'sha256'), /missing/);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('many files in flight at once, one of them missing: each promise settles on its own', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-fv-'));
  const pool = new VerityPool(2);
  try {
    const sizes = [1, 4096, 300000, 17 << 20, 5, 2 << 20];
    const datas = sizes.map((n, i) => {
      const b = pattern(n + i);
      writeFileSync(path.join(dir, `f${i}`), b);
      return b;
    });
    const jobs = datas.map((b, i) => pool.submit(path.join(dir, `f${i}`), b.length, i % 2 === 0 ? 'sha256' : 'sha512'));
    const bad = assert.rejects(pool.submit(path.join(dir, 'missing'), 1 << 20, 'sha256'), new RegExp(`hashing ${path.join(dir, 'missing')}: ENOENT`));
    assert.equal(pool.busy, true);
    const got = await Promise.all(jobs);
    assert.deepEqual(
      got.map((d) => d.toString('hex')),
      datas.map((b, i) => fsverityDigest(b, i % 2 === 0 ? 'sha256' : 'sha512').toString('hex')),
    );
    await bad;
    assert.equal(pool.busy, false);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
