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
