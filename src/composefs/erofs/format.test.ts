import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { inodeFormat, metacopyValue, xattrBodySize, xattrEntrySize, xattrFilterBit, xattrIcount, xattrPrefix, XATTR_FILTER_SEED } from './format.js';
import { xxh32 } from './xxh32.js';

test('xxh32 matches the reference vectors', () => {
  assert.deepEqual(
    [xxh32('', 0), xxh32('a', 0), xxh32('abc', 0), xxh32('Nobody inspects the spammish repetition', 0)].map((h) => h.toString(16)),
    ['2cc5d05', '550d7456', '32d153ff', 'e2293b2f'],
  );
});

test('xattr filter bits match composefs.md §5.3.5', () => {
  assert.deepEqual(
    [xattrFilterBit('overlay.metacopy', 4), xattrFilterBit('overlay.redirect', 4), xattrFilterBit('overlay.opaque', 4), xattrFilterBit('selinux', 6), xattrFilterBit('capability', 6)],
    [31, 17, 20, 11, 29],
  );
  assert.equal(XATTR_FILTER_SEED, 0x25bbe08f);
});

test('xattr prefixes: epoch 1 has no lustre., ACL names are exact-prefix matches', () => {
  const keys = ['user.a', 'system.posix_acl_access', 'system.posix_acl_default', 'trusted.overlay.x', 'lustre.lov', 'security.selinux', 'foo'];
  assert.deepEqual(keys.map((k) => [xattrPrefix(k).index, xattrPrefix(k).prefixLen]), [[1, 5], [2, 23], [3, 24], [4, 8], [0, 0], [6, 9], [0, 0]]);
  assert.deepEqual(xattrPrefix('lustre.lov', true), { index: 5, prefixLen: 7 });
});

test('xattr sizes, icount, inode format and metacopy encoding', () => {
  assert.deepEqual([xattrEntrySize(7, 27), xattrEntrySize(0, 0), xattrBodySize(0, 0), xattrBodySize(2, 40), xattrIcount(0), xattrIcount(60)], [40, 4, 0, 60, 0, 13]);
  assert.deepEqual([inodeFormat(0, false), inodeFormat(2, false), inodeFormat(4, true)], [0, 4, 9]);
  assert.equal(metacopyValue(Buffer.alloc(32, 0x5a)).toString('hex'), '00240001' + '5a'.repeat(32));
  assert.equal(metacopyValue(Buffer.alloc(64, 0x01)).toString('hex'), '00440002' + '01'.repeat(64));
});
