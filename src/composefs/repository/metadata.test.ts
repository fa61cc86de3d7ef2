import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { checkCompatible, formatConfigOf, formatMetadata, newMetadata, parseMetadata } from './metadata.js';
import { RepositoryOpenError } from './errors.js';

const DEFAULT_SHA512 = `{
  "version": 1,
  "algorithm": "fsverity-sha512-12",
  "features": {
    "compatible": [],
    "read-only-compatible": [
      "v1_erofs"
    ],
    "incompatible": []
  },
  "erofs_formats": {
    "default": 1
  }
}
`;

const SHA256_V2_EXTRA = `{
  "version": 1,
  "algorithm": "fsverity-sha256-12",
  "features": {
    "compatible": [],
    "read-only-compatible": [],
    "incompatible": []
  },
  "erofs_formats": {
    "default": 2,
    "extra": [
      1
    ]
  }
}
`;

test('meta.json bytes are exactly what composefs-rs writes (default sha512/V1; sha256/V2 with an extra format)', () => {
  assert.equal(formatMetadata(newMetadata('sha512')), DEFAULT_SHA512);
  assert.equal(formatMetadata(newMetadata('sha256', { default: 2, extra: [1, 1] })), SHA256_V2_EXTRA);
  assert.equal(formatMetadata(parseMetadata(DEFAULT_SHA512, '/r')), DEFAULT_SHA512);
  assert.equal(formatMetadata(parseMetadata(SHA256_V2_EXTRA, '/r')), SHA256_V2_EXTRA);
});

test('legacy meta.json without erofs_formats: V1 with the v1_erofs flag, V2 without; features default to empty', () => {
  const withFlag = parseMetadata('{"version":1,"algorithm":"fsverity-sha256-12","features":{"read-only-compatible":["v1_erofs"]}}', '/r');
  assert.deepEqual(formatConfigOf(withFlag), { default: 1, extra: [] });
  const bare = parseMetadata('{"version":1,"algorithm":"fsverity-sha512-12"}', '/r');
  assert.deepEqual(bare.features, { compatible: [], readOnlyCompatible: [], incompatible: [] });
  assert.deepEqual(formatConfigOf(bare), { default: 2, extra: [] });
  // An explicit config wins over the flag.
  assert.deepEqual(formatConfigOf(parseMetadata('{"version":1,"algorithm":"fsverity-sha512-12","erofs_formats":{"default":0}}', '/r')), { default: 0, extra: [] });
});

test('compatibility: newer version and unknown incompatible features refuse; unknown ro-compat means read-only; compat ignored', () => {
  const reason = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof RepositoryOpenError);
      return `${err.reason}: ${err.message}`;
    }
    return 'no error';
  };
  const meta = (extra: string) => parseMetadata(`{"version":1,"algorithm":"fsverity-sha512-12"${extra}}`, '/r');
  assert.equal(reason(() => checkCompatible(parseMetadata('{"version":2,"algorithm":"fsverity-sha512-12"}', '/r'), '/r')), 'unsupported-version: /r: unsupported repository format version 2 (this tool supports up to 1)');
  assert.equal(reason(() => checkCompatible(meta(',"features":{"incompatible":["zoned"]}'), '/r')), 'incompatible-features: /r: repository requires unknown incompatible features: "zoned"');
  assert.equal(reason(() => checkCompatible(meta(''), '/r', 'sha256')), 'algorithm-mismatch: /r: repository algorithm fsverity-sha512-12 does not match expected fsverity-sha256-12');
  assert.deepEqual(checkCompatible(meta(',"features":{"read-only-compatible":["v1_erofs","future"],"compatible":["whatever"]}'), '/r'), { unknownReadOnly: ['future'] });
  assert.equal(reason(() => parseMetadata('{"version":1,"algorithm":"fsverity-sha512-16"}', '/r')), 'metadata-invalid: /r: failed to parse meta.json: unsupported algorithm "fsverity-sha512-16" (fsverity-sha256-12 or fsverity-sha512-12)');
  assert.equal(reason(() => parseMetadata('{', '/r')), 'metadata-invalid: /r: failed to parse meta.json');
  assert.equal(reason(() => meta(',"erofs_formats":{"extra":[1]}')), 'metadata-invalid: /r: failed to parse meta.json: erofs_formats.default is missing');
  assert.equal(reason(() => meta(',"erofs_formats":{"default":7}')), 'metadata-invalid: /r: failed to parse meta.json: unknown EROFS format version 7 in erofs_formats.default');
});
