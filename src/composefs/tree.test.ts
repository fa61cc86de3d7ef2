import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { newDir, inlineFile, externalFile, symlink, whiteout, insertAt, removeAt, lookup, lookupParent, splitPath, linkCounts, walk, byteKey, objectPath, type Leaf } from './tree.js';
import { validateTree } from './validate.js';

test('directories sort names by bytes and accept non-UTF-8 names', () => {
  const root = newDir({ mode: 0o755 });
  for (const n of [Buffer.from([0xff]), Buffer.from('b'), Buffer.from('-x'), Buffer.from('.a'), Buffer.from('B'), Buffer.from([0x80, 0x01])]) root.set(n, newDir());
  assert.deepEqual(root.sortedEntries().map(([n]) => n.toString('hex')), ['2d78', '2e61', '42', '62', '8001', 'ff']);
  assert.throws(() => root.set(Buffer.from('a/b'), newDir()), /contains \/ or NUL/);
  assert.throws(() => root.set(Buffer.from('..'), newDir()), /invalid file name \.\./);
  assert.throws(() => root.set(Buffer.alloc(256, 0x61), newDir()), /longer than 255 bytes/);
});

test('path helpers build, look up, replace and remove entries; hardlinks share a leaf', () => {
  const root = newDir();
  assert.deepEqual(splitPath('/./usr//lib/'), ['usr', 'lib']);
  assert.throws(() => splitPath('/usr/../etc'), /contains \.\./);
  insertAt(root, '/usr', newDir({ mode: 0o755 }));
  const f = inlineFile({ mode: 0o644 }, Buffer.from('hi'));
  insertAt(root, 'usr/f', f);
  insertAt(root, 'usr/g', f);
  insertAt(root, 'usr/.wh.x', whiteout({}));
  assert.equal(lookup(root, '/usr/g'), f);
  assert.equal(linkCounts(root).get(f), 2);
  assert.throws(() => lookupParent(root, '/nope/x'), /parent directory missing for nope\/x/);
  assert.throws(() => insertAt(root, '/usr/f/x', f), /parent of x is not a directory: f/);
  assert.equal(removeAt(root, '/usr/g'), true);
  assert.equal(lookup(root, '/usr/g'), undefined);
  const ext = externalFile({}, Buffer.alloc(32, 0xab), 5000) as Leaf;
  assert.equal(objectPath(Buffer.alloc(32, 0xab)), 'ab/' + 'ab'.repeat(31));
  assert.deepEqual(ext.data, { type: 'reg', size: 5000n, content: null, payload: Buffer.from('ab/' + 'ab'.repeat(31)), digest: Buffer.alloc(32, 0xab) });
  insertAt(root, '/usr/sym', symlink({}, 'f'));
  const seen: string[] = [];
  walk(root, (p, _i, _parent, first) => seen.push(`${p}${first ? '' : '*'}`));
  assert.deepEqual(seen, ['/', '/usr', '/usr/.wh.x', '/usr/f', '/usr/sym']);
  assert.equal(byteKey(Buffer.from([0xc3, 0xa9])), byteKey('é'));
});

test('validation rejects trees the writer cannot write, naming the path', () => {
  const root = newDir();
  const d = newDir();
  insertAt(root, '/a', d);
  insertAt(root, '/b', d);
  assert.throws(() => validateTree(root), /invalid tree at \/[ab]: directory appears twice/);
  const r2 = newDir();
  insertAt(r2, '/s', symlink({}, ''));
  assert.throws(() => validateTree(r2), /invalid tree at \/s: empty symlink target/);
  const r3 = newDir();
  const f = inlineFile({}, Buffer.alloc(10));
  f.stat.xattrs.set('', Buffer.alloc(0));
  insertAt(r3, '/f', f);
  assert.throws(() => validateTree(r3), /invalid tree at \/f: xattr key {2}must be 1\.\.255 bytes/);
  const r4 = newDir();
  insertAt(r4, '/big', externalFile({}, Buffer.alloc(32), 2n ** 60n));
  assert.throws(() => validateTree(r4), /invalid tree at \/big: file size 1152921504606846976 is too big/);
});
