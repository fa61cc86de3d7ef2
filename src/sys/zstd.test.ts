import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { zstdCompress, zstdCompressor, zstdDecompress } from './zstd.js';

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

test('the streaming compressor writes the same frame however the input is split', () => {
  const data = Buffer.alloc(3 << 20);
  let x = 0x1234567;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = (i >> 10) % 3 === 0 ? x & 0xff : 0x61 + (i % 7);
  }
  const want = zstdCompress(data);
  for (const step of [1, 511, 4096, 130_000, 1 << 20]) {
    const c = zstdCompressor();
    for (let off = 0; off < data.length; off += step * (1 + (off % 3))) c.write(data.subarray(off, Math.min(data.length, off + step * (1 + (off % 3)))));
    assert.ok(Buffer.concat(c.finish()).equals(want), `pieces of ${step}`);
    c.dispose();
  }
  const empty = zstdCompressor();
  assert.equal(Buffer.concat(empty.finish()).toString('hex'), '28b52ffd2000010000');
});
