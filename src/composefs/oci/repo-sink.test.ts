import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsverityDigest } from '../fsverity.js';
import { Repository } from '../repository/index.js';
import { fakeSyscalls, rawZstdCodec, tempDir } from '../repository/test-support.js';
import { newImportStats, RepoObjectSink } from './repo-sink.js';

test('RepoObjectSink stores under the digest of the bytes, never under an id claimed from outside', async () => {
  const dir = await tempDir();
  const { repo } = await Repository.init(path.join(dir, 'r'), { sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true, algorithm: 'sha256' });
  try {
    const stats = newImportStats();
    const sink = new RepoObjectSink(repo, stats, { maxPendingBytes: 4096 });
    const data = Buffer.from('x'.repeat(1000));
    const w = await sink.begin(BigInt(data.length));
    await w.write(data);
    const own = w.digest!();
    assert.ok(own.equals(fsverityDigest(data, 'sha256')));
    const forged = Buffer.alloc(32, 0xee);
    await w.finish(forged);
    await sink.drain();
    assert.equal(fs.existsSync(repo.objectPath(forged.toString('hex'))), false);
    assert.ok(fs.readFileSync(repo.objectPath(own.toString('hex'))).equals(data));
    assert.equal(stats.objectsCopied, 1);
    // A second object of the same content is already present; memory bound by bytes, not count.
    for (let i = 0; i < 10; i++) {
      const w2 = await sink.begin(BigInt(data.length));
      await w2.write(data);
      await w2.finish(w2.digest!());
    }
    await sink.drain();
    assert.equal(stats.objectsAlreadyPresent, 10);
  } finally {
    repo.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
