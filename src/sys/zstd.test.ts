import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { zstdCompress, zstdDecompress } from './zstd.js';

test('libzstd writes the frames composefs-rs writes (dependencies.md, spec 3.3)', () => {
  assert.equal(zstdCompress(Buffer.alloc(0)).toString('hex'), '28b52ffd2000010000');
  assert.equal(zstdCompress(Buffer.alloc(8)).toString('hex'), '28b52ffd0058410000' + '00'.repeat(8));
});

test('zstd round trips, multi-block and concatenated frames; a truncated frame is an error', () => {
  const random = randomBytes(300_000);
  const text = Buffer.from('abcdefgh'.repeat(200_000));
  for (const b of [Buffer.alloc(0), Buffer.from('x'), random, text]) assert.ok(zstdDecompress(zstdCompress(b)).equals(b));
  const c = zstdCompress(text);
  assert.equal(c[4], 0x00, 'no content size in the frame header');
  assert.equal(zstdDecompress(Buffer.concat([zstdCompress(Buffer.from('ab')), zstdCompress(Buffer.from('cd'))])).toString(), 'abcd');
  assert.throws(() => zstdDecompress(zstdCompress(random).subarray(0, 1000)), /zstd decompress: truncated frame \(1000 bytes of input\)/);
  assert.throws(() => zstdDecompress(Buffer.from('not zstd')), /zstd decompress: Unknown frame descriptor/);
});
