import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDumpfile, printDumpfile } from '../dumpfile.js';
import { lookup, type Leaf } from '../tree.js';
import { collectObjects, readErofs } from './reader.js';
import { formatInfoDump, formatInfoLs, listInfoObjects } from './info.js';
import { writeErofs } from './writer.js';
import { cComposefsInfo, cMkcomposefs, conformanceCases, cToolsMissing } from './test-images.js';

const skip = cToolsMissing();

/**
 * Turns C `composefs-info dump` output into the composefs-rs dialect that
 * printDumpfile writes. The known dialect differences:
 * 1. C prints a directory's inode size; Rust prints 0.
 * 2. C prints a hardlink with the target's fields after `@MODE`; Rust prints
 *    `PATH 0 @120000 - - - - 0.0 TARGET - -`.
 * 3. C prints xattrs in load order (inline, then shared); Rust sorts them.
 * 4. C keeps the V1 markers `trusted.overlay.opaque=x` / `user.overlay.opaque=x`
 *    on a directory holding a whiteout; the tree reader drops them.
 */
function normaliseCDump(c: Buffer): Buffer {
  const lines = c.toString('latin1').split('\n');
  lines.pop();
  const rows = lines.map((l) => l.split(' '));
  const dirsWithWhiteouts = new Set<string>();
  for (const f of rows) {
    if (/^2[0-7]{4}$/.test(f[2]!) && f[6] === '0') {
      dirsWithWhiteouts.add(f[0]!.replace(/\/[^/]*$/, '') || '/');
    }
  }
  const out = rows.map((f) => {
    if (f[2]!.startsWith('@')) return `${f[0]} 0 @120000 - - - - 0.0 ${f[8]} - -`;
    if (f[2]!.startsWith('4')) f[1] = '0';
    let xattrs = f.slice(11);
    if (f[2]!.startsWith('4') && dirsWithWhiteouts.has(f[0]!)) xattrs = xattrs.filter((x) => x !== 'trusted.overlay.opaque=x' && x !== 'user.overlay.opaque=x');
    xattrs.sort();
    return [...f.slice(0, 11), ...xattrs].join(' ');
  });
  return Buffer.from(out.map((l) => l + '\n').join(''), 'latin1');
}

for (const c of skip === undefined ? conformanceCases() : []) {
  test(`conformance ${c.name}: C image → readErofs equals the dump and C composefs-info`, () => {
    const imgPath = cMkcomposefs(c.name, c.dump, { version: c.version, strict: c.strict });
    const image = readFileSync(imgPath);
    const tree = readErofs(image);
    const printed = printDumpfile(tree);
    const cdump = cComposefsInfo(['dump', imgPath]);
    assert.equal(printed.toString('latin1'), normaliseCDump(cdump).toString('latin1'));
    assert.equal(printed.toString('latin1'), printDumpfile(parseDumpfile(c.dump, { strict: c.strict })).toString('latin1'));
    assert.ok(formatInfoDump(image).equals(cdump), 'formatInfoDump differs from C composefs-info dump');
    assert.ok(formatInfoLs(image).equals(cComposefsInfo(['ls', imgPath])), 'formatInfoLs differs from C composefs-info ls');
    assert.equal(listInfoObjects([image]).map((p) => p + '\n').join(''), cComposefsInfo(['objects', imgPath]).toString('latin1'));
  });
}

test('conformance tests', { skip }, () => {
  assert.ok(conformanceCases().length >= 14);
});

const D1 = '1'.repeat(64);
const D2 = 'ab'.repeat(32);
const OBJECTS_DUMP =
  '/ 4096 40755 3 0 0 0 5.5 - - -\n' +
  `/a 100 100644 2 0 0 0 1.0 ${D1.slice(0, 2)}/${D1.slice(2)} - ${D1}\n` +
  `/b 5000 100644 1 0 0 0 1.0 ${D2.slice(0, 2)}/${D2.slice(2)} - -\n` +
  `/c 7 100644 1 0 0 0 1.0 - - ${'cd'.repeat(32)}\n` +
  '/d 9 100644 1 0 0 0 1.0 not-an-object - -\n' +
  '/e 9 100644 1 0 0 0 1.0 - - -\n' +
  '/sub 4096 40755 2 0 0 0 1.0 - - - trusted.overlay.x=1 user.y=2\n' +
  '/sub/link 100 @100644 - - - - 0.0 /a - -\n' +
  '/sub/wh 0 20000 1 0 0 0 1.0 - - -\n';

test('collectObjects: metacopy digests and object-path redirects, as hex ids', { skip }, () => {
  const image = readFileSync(cMkcomposefs('objects', Buffer.from(OBJECTS_DUMP)));
  assert.deepEqual([...collectObjects(image)].sort(), [D1, D2, 'cd'.repeat(32)].sort());
  assert.deepEqual(listInfoObjects([image]), [`${D1.slice(0, 2)}/${D1.slice(2)}`, `${D2.slice(0, 2)}/${D2.slice(2)}`, 'not-an-object']);
  assert.deepEqual(listInfoObjects([image], (rel) => rel.startsWith('11/')), [`${D2.slice(0, 2)}/${D2.slice(2)}`, 'not-an-object']);
});

test('readErofs: externals, sparse files, hardlinks, escaped xattrs and whiteouts come back as the tree', { skip }, () => {
  const image = readFileSync(cMkcomposefs('objects', Buffer.from(OBJECTS_DUMP)));
  const tree = readErofs(image);
  assert.equal(printDumpfile(tree).toString('latin1'), printDumpfile(parseDumpfile(OBJECTS_DUMP)).toString('latin1'));
  const a = lookup(tree, 'a') as Leaf;
  assert.equal(lookup(tree, 'sub/link'), a);
  assert.deepEqual(a.data, { type: 'reg', size: 100n, content: null, payload: Buffer.from(`11/${D1.slice(2)}`), digest: Buffer.from(D1, 'hex') });
  assert.deepEqual((lookup(tree, 'e') as Leaf).data, { type: 'reg', size: 9n, content: null, payload: null, digest: null });
  assert.deepEqual([...(lookup(tree, 'sub')!.stat.xattrs)], [['trusted.overlay.x', Buffer.from('1')], ['user.y', Buffer.from('2')]]);
  assert.deepEqual((lookup(tree, 'sub/wh') as Leaf).data, { type: 'chr', rdev: 0 });
  assert.equal(tree.get(Buffer.from('00')), undefined);
});

test("formatInfoDump mirrors C's redirect quirk, readErofs does not", { skip }, () => {
  const dump = '/ 4096 40755 2 0 0 0 0.0 - - -\n/a 5 100644 1 0 0 0 0.0 foo - - user.x=y\n';
  const imgPath = cMkcomposefs('quirk', Buffer.from(dump));
  const image = readFileSync(imgPath);
  assert.equal(formatInfoDump(image).toString('latin1'), '/ 4096 40755 2 0 0 0 0.0 - - -\n/a 5 100644 1 0 0 0 0.0 foo\\x01\\x01 - - user.x=y\n');
  assert.ok(formatInfoDump(image).equals(cComposefsInfo(['dump', imgPath])));
  assert.deepEqual((lookup(readErofs(image), 'a') as Leaf).data, { type: 'reg', size: 5n, content: null, payload: Buffer.from('foo'), digest: null });
});

test('--filter keeps only the named top-level entries, like C', { skip }, () => {
  const c = conformanceCases().find((x) => x.name === 'special')!;
  const imgPath = cMkcomposefs('special-filter', c.dump, { version: c.version, strict: true });
  const image = readFileSync(imgPath);
  const filter = ['chardev', 'inline', 'whiteout'];
  const got = formatInfoDump(image, { filter });
  assert.ok(got.equals(cComposefsInfo([...filter.map((f) => `--filter=${f}`), 'dump', imgPath])));
  assert.equal(got.toString('latin1').split('\n').length - 1, 4);
  assert.ok(formatInfoLs(image, { filter }).equals(cComposefsInfo([...filter.map((f) => `--filter=${f}`), 'ls', imgPath])));
});

test('V2: whiteouts stay char devices 0/0 in the tree; the C view skips them as C does', () => {
  const dump = '/ 4096 40755 2 0 0 0 0.0 - - -\n/wh 0 20000 1 0 0 0 0.0 - - - user.k=v\n/x 2 100644 1 0 0 0 0.0 - hi -\n';
  const image = writeErofs(parseDumpfile(dump), { version: 2 });
  assert.equal(image.readUInt32LE(12), 2);
  assert.equal(printDumpfile(readErofs(image)).toString(), '/ 0 40755 2 0 0 0 0.0 - - -\n/wh 0 20000 1 0 0 0 0.0 - - - user.k=v\n/x 2 100644 1 0 0 0 0.0 - hi -\n');
  assert.equal(formatInfoLs(image).toString(), '/x\n');
  const v3 = Buffer.from(image);
  v3.writeUInt32LE(3, 12);
  assert.throws(() => readErofs(v3), { name: 'FormatError', message: 'EROFS image: unsupported composefs_version 3 at offset 12' });
});
