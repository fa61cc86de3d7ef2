import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CONTENT_TYPE, contentTypeOf, SplitStreamWriter } from './splitstream.js';
import { parseSplitStream } from './splitstream-reader.js';
import { rawZstdCodec } from './test-support.js';

const zstd = rawZstdCodec();
const id = (c: string, n = 64) => c.repeat(n);

function u64(...xs: number[]): Buffer {
  const b = Buffer.alloc(8 * xs.length);
  xs.forEach((x, i) => b.writeBigUInt64LE(BigInt(x), 8 * i));
  return b;
}

test('content types are the 8 ASCII bytes read as u64 LE', () => {
  assert.equal(CONTENT_TYPE.ociLayer, 0x7265_7961_6c69_636fn);
  assert.equal(contentTypeOf('ociconfg'), CONTENT_TYPE.ociConfig);
  assert.equal(u64(0).fill(0).length, 8);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(CONTENT_TYPE.ociManifest);
  assert.equal(b.toString('latin1'), 'ocimanif');
});

test('the spec 3.6 worked example: config splitstream, sha256, two layers and a V1 image', () => {
  const [l1, l2, erofs, cfg, d1, d2] = [id('1'), id('2'), id('e'), id('c'), id('a'), id('b')];
  const config = Buffer.from('{"rootfs":{"diff_ids":[]}}');
  const w = new SplitStreamWriter('sha256', CONTENT_TYPE.ociConfig, zstd);
  w.addNamedStreamRef(`sha256:${d1}`, l1);
  w.addNamedStreamRef(`sha256:${d2}`, l2);
  w.addNamedStreamRef('composefs.image.v1', erofs);
  w.writeExternalRef(cfg, config.length);
  const bytes = w.finish();

  const table = Buffer.from(`2:composefs.image.v1\x000:sha256:${d1}\x001:sha256:${d2}\x00`);
  const named = Buffer.concat([Buffer.from('28b52ffd0058', 'hex'), Buffer.from([((table.length << 3) | 1) & 0xff, (table.length << 3) >> 8, 0]), table]);
  const stream = Buffer.from('28b52ffd00584100000000000000000000', 'hex');
  const Lr = named.length;
  const expected = Buffer.concat([
    Buffer.from('SplitStream\x00\x00\x00\x01\x0c', 'latin1'),
    u64(32, 112),
    u64(112, 208, 208, 240, 240 + Lr, 240 + Lr + 17, 240, 240 + Lr),
    Buffer.from('ociconfg', 'latin1'),
    u64(config.length),
    Buffer.from(l1 + l2 + erofs, 'hex'),
    Buffer.from(cfg, 'hex'),
    named,
    stream,
  ]);
  assert.equal(bytes.toString('hex'), expected.toString('hex'));

  const ss = parseSplitStream(bytes, 'sha256', zstd, 'cfg', CONTENT_TYPE.ociConfig);
  assert.deepEqual(
    { ...ss, chunks: ss.chunks() },
    {
      contentType: CONTENT_TYPE.ociConfig,
      streamSize: BigInt(config.length),
      streamRefs: [l1, l2, erofs],
      objectRefs: [cfg],
      namedRefs: new Map([
        ['composefs.image.v1', erofs],
        [`sha256:${d1}`, l1],
        [`sha256:${d2}`, l2],
      ]),
      legacyHeader: false,
      chunks: [{ kind: 'external', id: cfg }],
    },
  );
  assert.throws(() => parseSplitStream(bytes, 'sha256', zstd, 'cfg', CONTENT_TYPE.ociLayer), /cfg: invalid splitstream content type/);
  assert.throws(() => parseSplitStream(bytes, 'sha512', zstd, 'cfg'), /cfg: splitstream fs-verity algorithm 1 does not match the repository \(sha512\)/);
});

test('writer coalesces inline data, dedups object refs, and a layer stream has the 9-byte empty named-refs frame', () => {
  const w = new SplitStreamWriter('sha512', CONTENT_TYPE.ociLayer, zstd);
  const a = id('a', 128);
  const b = id('b', 128);
  w.writeInline(Buffer.from('hea'));
  w.writeInline(Buffer.from('der'));
  w.writeExternalRef(a, 100);
  w.writeInline(Buffer.alloc(0));
  w.writeExternalRef(b, 5);
  w.writeExternalRef(a, 100);
  w.writeInline(Buffer.from('end'));
  const bytes = w.finish();
  const chunkStream = Buffer.concat([
    Buffer.from('faffffffffffffff', 'hex'),
    Buffer.from('header'),
    u64(0, 1, 0),
    Buffer.from('fdffffffffffffff', 'hex'),
    Buffer.from('end'),
  ]);
  const frame = rawZstdCodec().compress(chunkStream);
  const expected = Buffer.concat([
    Buffer.from('SplitStream\x00\x00\x00\x02\x0c', 'latin1'),
    u64(32, 112),
    u64(112, 112, 112, 240, 249, 249 + frame.length, 240, 249),
    Buffer.from('ocilayer', 'latin1'),
    u64(6 + 100 + 5 + 100 + 3),
    Buffer.from(a + b, 'hex'),
    Buffer.from('28b52ffd2000010000', 'hex'),
    frame,
  ]);
  assert.equal(bytes.toString('hex'), expected.toString('hex'));
  const ss = parseSplitStream(bytes, 'sha512', zstd, 'layer');
  assert.deepEqual(ss.chunks(), [
    { kind: 'inline', data: Buffer.from('header') },
    { kind: 'external', id: a },
    { kind: 'external', id: b },
    { kind: 'external', id: a },
    { kind: 'inline', data: Buffer.from('end') },
  ]);
});

test('the legacy (bootc <= 1.15) header layout is read: info at 0, flags at 16, magic at 18', () => {
  const w = new SplitStreamWriter('sha256', CONTENT_TYPE.ociBlob, zstd);
  w.addNamedStreamRef('config:sha256:x', id('9'));
  w.writeExternalRef(id('7'), 3);
  const current = w.finish();
  const legacy = Buffer.from(current);
  legacy.fill(0, 0, 32);
  current.copy(legacy, 0, 16, 32); // info range
  legacy.writeUInt16LE(0, 16);
  current.copy(legacy, 18, 0, 11); // magic
  legacy[29] = 0;
  legacy[30] = 1;
  legacy[31] = 12;
  const a = parseSplitStream(current, 'sha256', zstd, 'x');
  const b = parseSplitStream(legacy, 'sha256', zstd, 'x');
  assert.equal(b.legacyHeader, true);
  assert.deepEqual({ ...b, legacyHeader: false, chunks: b.chunks() }, { ...a, chunks: a.chunks() });
  legacy[20] = 0x58;
  assert.throws(() => parseSplitStream(legacy, 'sha256', zstd, 'x'), /x: invalid splitstream header magic value/);
});

test('reader errors name the file: bad version, out-of-range refs, named ref without colon', () => {
  const w = new SplitStreamWriter('sha256', 0n, zstd);
  w.writeInline(Buffer.from('x'));
  const ok = w.finish();
  const badVersion = Buffer.from(ok);
  badVersion[11] = 1;
  assert.throws(() => parseSplitStream(badVersion, 'sha256', zstd, 'f'), /f: invalid splitstream version 1/);
  const withRef = new SplitStreamWriter('sha256', 0n, zstd);
  withRef.addNamedStreamRef('n', id('1'));
  const bytes = withRef.finish();
  // Rewrite the named-refs frame to "5:n\0" (index out of bounds).
  const table = rawZstdCodec().compress(Buffer.from('5:n\0'));
  const broken = Buffer.concat([bytes.subarray(0, 144), table, bytes.subarray(144 + table.length)]);
  assert.throws(() => parseSplitStream(broken, 'sha256', zstd, 'f'), /f: named reference "5:n" is out of bounds or not an index/);
});
