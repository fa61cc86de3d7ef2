import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { parseDumpfile, printDumpfile, escapeField, unescapeField } from './dumpfile.js';
import { lookup, type Leaf } from './tree.js';
import { C_ASSETS as ASSETS } from './test-assets.js';


test('escapes round-trip every byte and write the composefs-rs dialect', () => {
  let all = '';
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  const esc = escapeField(all, true);
  assert.equal(unescapeField(esc), all);
  assert.equal(escapeField('a b=c\\\n\t\r\x7f-'), 'a\\x20b=c\\\\\\n\\t\\r\\x7f-');
  assert.equal(escapeField('a=b', true), 'a\\x3db');
  assert.equal(unescapeField('\\X41'.replace('X', 'x')), 'A');
  assert.equal(unescapeField('\\xAb'), '\xab');
  assert.throws(() => unescapeField('abc\\'), /no character after escape/);
  assert.throws(() => unescapeField('\\q'), /unsupported escape/);
});

const SAMPLE =
  '/ 4096 40755 3 0 0 0 1234567890.5 - - - user.a=x\\x3dy\n' +
  '/a\\x20b 5 100644 2 1000 70000 0 1.000000001 - hello - security.selinux=foo\\x00\n' +
  '/dir 0 40700 2 0 0 0 1.0 - - -\n' +
  '/dir/ext 4097 100600 1 0 0 0 1.0 5a/5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a - 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\n' +
  '/dir/link 0 @100644 - - - - 0.0 /a\\x20b - -\n' +
  '/dir/sym 7 120777 1 0 0 0 1.0 /target - -\n' +
  '/dev 0 20644 1 0 0 259 1.0 - - -\n' +
  '/\\xff\\xfe 0 10644 1 0 0 0 1.0 - - -\n';

test('parses a dumpfile with escapes, xattrs and a hardlink, and prints the Rust dialect', () => {
  const root = parseDumpfile(SAMPLE, { strict: true });
  const a = lookup(root, 'a b') as Leaf;
  assert.equal(lookup(root, 'dir/link'), a);
  assert.equal(a.stat.gid, 70000);
  assert.equal(a.stat.mtimeNsec, 1);
  assert.deepEqual(a.data, { type: 'reg', size: 5n, content: Buffer.from('hello'), payload: null, digest: null });
  assert.deepEqual(root.stat.xattrs.get('user.a'), Buffer.from('x=y'));
  const out = printDumpfile(root).toString('latin1');
  assert.equal(
    out,
    '/ 0 40755 3 0 0 0 1234567890.5 - - - user.a=x\\x3dy\n' +
      '/a\\x20b 5 100644 2 1000 70000 0 1.1 - hello - security.selinux=foo\\x00\n' +
      '/dev 0 20644 1 0 0 259 1.0 - - -\n' +
      '/dir 0 40700 2 0 0 0 1.0 - - -\n' +
      '/dir/ext 4097 100600 1 0 0 0 1.0 5a/5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a - 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\n' +
      '/dir/link 0 @120000 - - - - 0.0 /a\\x20b - -\n' +
      '/dir/sym 7 120777 1 0 0 0 1.0 /target - -\n' +
      '/\\xff\\xfe 0 10644 1 0 0 0 1.0 - - -\n',
  );
  assert.equal(printDumpfile(parseDumpfile(out, { strict: true })).toString('latin1'), out);
});

test('hardlink targets may come later and chains resolve to the real leaf', () => {
  const root = parseDumpfile('/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 @100644 0 0 0 0 0.0 /b - -\n/b 0 @100644 0 0 0 0 0.0 /c - -\n/c 0 100644 3 0 0 0 0.0 - - -\n');
  assert.equal(lookup(root, 'a'), lookup(root, 'c'));
  assert.equal(lookup(root, 'b'), lookup(root, 'c'));
  assert.equal((lookup(root, 'c') as Leaf).nlink, 3);
});

test('strict and non-strict parsing differ only where C does', () => {
  const noNl = '/ 0 40755 2 0 0 0 0.0 - - -\n/l 99 120777 1 0 0 0 0.0 /t - -';
  assert.throws(() => parseDumpfile(noNl.replace(' 99 ', ' 2 '), { strict: true }), /^FormatError: line 2: missing trailing newline$/);
  assert.throws(() => parseDumpfile(noNl + '\n', { strict: true }), /line 2: invalid symlink size 99, must match target length 2/);
  const root = parseDumpfile(noNl);
  assert.deepEqual((lookup(root, 'l') as Leaf).data, { type: 'symlink', target: Buffer.from('/t') });
  assert.throws(() => parseDumpfile('/ 0 40755 2 0 0 5 0.0 - - -\n', { strict: true }), /line 1: non-zero devnum on non-device/);
});

test('rejects malformed lines naming the line and the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['/a 0 100644 1 0 0 0 0.0 - - -\n', /line 1: root node not present/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x/y 0 100644 1 0 0 0 0.0 - - -\n', /line 2: parent directory missing for \/x\/y/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - -\n', /line 3: path \/x already exists/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0 - - -\n', /line 2: invalid mtime 0/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 1x0644 1 0 0 0 0.0 - - -\n', /line 2: invalid integer 1x0644 for mode/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x 3 100644 1 0 0 0 0.0 - ab -\n', /line 2: invalid content size 2, must match size 3/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - - novalue\n', /line 2: missing = in xattr novalue/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 @100644 1 0 0 0 0.0 /nope - -\n', /line 2: no target at \/nope for hardlink/],
    ['/ 0 40755 2 0 0 0 0.0 - - -\n\n', /line 2: invalid empty path/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseDumpfile(text), re, text);
});

test('every should-fail asset is rejected with its line and reason', () => {
  const expected: Record<string, RegExp> = {
    'should-fail-big-inline.dump': /^line 2: inline content size 5004 exceeds maximum 5000$/,
    'should-fail-dir-hardlink.dump': /^line 2: directories can not be hardlinked$/,
    'should-fail-dot-name.dump': /^line 2: invalid \. or \.\. in path: \/\.$/,
    'should-fail-dotdot-name.dump': /^line 2: invalid \. or \.\. in path: \/\.\.$/,
    'should-fail-empty-link-name.dump': /^line 2: invalid symlink: empty target$/,
    'should-fail-empty-name.dump': /^line 2: invalid empty name in path \/\/$/,
    'should-fail-empty-xattr-key.dump': /^line 2: invalid xattr key {2}\(must be 1\.\.255 bytes\)$/,
    'should-fail-honggfuzz-long-xattr.dump': /^line 1: (xattrs too large|too many xattrs|invalid xattr key)/,
    'should-fail-long-link.dump': /^line 2: invalid symlink: target of \d+ bytes is too long$/,
    'should-fail-long-xattr-key.dump': /^line 2: (too many xattrs|invalid xattr key a+ \(must be 1\.\.255 bytes\))$/,
    'should-fail-long-xattr-value.dump': /^line 2: invalid mode 644 \(no file type\)$/,
    'should-fail-no-ftype.dump': /^line 2: invalid mode 0 \(no file type\)$/,
    'should-fail-self-hardlink.dump': /^line 2: self-referential hardlink \/037blockdev$/,
    'should-fail-too-big.dump': /^line 2: file size 9500000000000000 is too big \(more than 1024 chunks\)$/,
  };
  const names = readdirSync(ASSETS).filter((n) => n.startsWith('should-fail-')).sort();
  assert.deepEqual(names, Object.keys(expected).sort());
  for (const n of names) {
    const data = readFileSync(path.join(ASSETS, n));
    for (const strict of [true, false]) {
      assert.throws(() => parseDumpfile(data, { strict }), (err: Error) => {
        assert.equal(err.name, 'FormatError', n);
        assert.match(err.message, expected[n]!, n);
        return true;
      });
    }
  }
});
