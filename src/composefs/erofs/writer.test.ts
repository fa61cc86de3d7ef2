import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FormatError } from '../../util/errors.js';
import { parseDumpfile, printDumpfile } from '../dumpfile.js';
import { C_ASSETS, NON_STRICT_ASSETS } from '../test-assets.js';
import { device, externalFile, fifo, inlineFile, insertAt, newDir, socket, symlink, whiteout, type Dir } from '../tree.js';
import { erofsImageId, resolveVersion, writeErofs } from './writer.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function readDump(file: string): Buffer {
  const data = readFileSync(file);
  return file.endsWith('.gz') ? gunzipSync(data) : data;
}

/** The C harness's version arguments: `.version` → min = max = it; otherwise min 0 / max 1. */
function assetVersion(name: string): { minVersion: number; maxVersion: number } {
  const vf = path.join(C_ASSETS, name + '.version');
  if (!existsSync(vf)) return { minVersion: 0, maxVersion: 1 };
  const v = Number(readFileSync(vf, 'utf8').trim());
  return { minVersion: v, maxVersion: v };
}

const ASSETS = readdirSync(C_ASSETS)
  .filter((f) => f.endsWith('.sha256'))
  .map((f) => f.slice(0, -'.sha256'.length))
  .sort();

test('the conformance directory holds the 14 C assets with an expected sha256', () => {
  assert.deepEqual(ASSETS.filter((a) => existsSync(path.join(C_ASSETS, a))).length, 14);
});

for (const name of ASSETS) {
  const file = path.join(C_ASSETS, name);
  const skip = existsSync(file) ? false : `${name} has a .sha256 but no dump in the snapshot`;
  test(`C asset ${name}: sha256 of the image equals mkcomposefs's`, { skip }, () => {
    const expected = readFileSync(file + '.sha256', 'utf8').trim().split(/\s+/)[0];
    const tree = parseDumpfile(readDump(file), { strict: !NON_STRICT_ASSETS.has(name) });
    assert.equal(sha256(writeErofs(tree, assetVersion(name))), expected);
  });
}

// ---------------------------------------------------------------- composefs-rs pinned vectors

/** composefs-rs tests/mkfs.rs `empty`: a root with mode 0755, ids 0, mtime 0. */
function emptyTree(): Dir {
  return newDir({ mode: 0o755 });
}

/** composefs-rs tests/mkfs.rs `simple`: leaves with all-zero stat. */
function simpleTree(): Dir {
  const root = emptyTree();
  root.setKey('fifo', fifo({}));
  root.setKey('regular-inline', inlineFile({}, Buffer.from('hihi')));
  root.setKey('regular-external', externalFile({}, Buffer.alloc(32, 0x5a), 1234));
  root.setKey('chrdev', device('chr', {}, 123));
  root.setKey('blkdev', device('blk', {}, 123));
  root.setKey('socket', socket({}));
  root.setKey('symlink', symlink({}, '/target'));
  return root;
}

const PINNED: Array<[string, () => Dir, 0 | 1 | 2, string]> = [
  ['empty', emptyTree, 0, '8f589e8f57ecb88823736b0d857ddca1e1068a23e264fad164b28f7038eb3682'],
  ['simple', simpleTree, 0, '9f3f5620ee0c54708516467d0d58741e7963047c7106b245d94c298259d0fa01'],
  ['empty', emptyTree, 1, '14a26c957c84f6eb774b91205476adc13196c7c33b9dd97d08d43725ecb90b63'],
  ['simple', simpleTree, 1, 'ad6db6427568a1e4fdc772cbab7b6063f5eb4b33cb62982a740ba9213e5962b5'],
  ['empty', emptyTree, 2, '086b702a519b57d6ef5aea6f8b3f2be24355cd1fb835cd80fb4e3d388b24d5a5'],
  ['simple', simpleTree, 2, 'a8fcd41f8b313bede69f462f2af0a38d64b99a6333f5df884ea9ab4037fac722'],
];

for (const [name, make, version, expected] of PINNED) {
  test(`composefs-rs mkfs.rs ${name} V${version}: fs-verity image id is pinned`, () => {
    assert.equal(erofsImageId(writeErofs(make(), { version })), expected);
  });
}

test('composefs-rs special_v1.dump (C special.dump without inline-large*) as V1 has the pinned id', () => {
  const text = readFileSync(path.join(C_ASSETS, 'special.dump'), 'latin1')
    .split('\n')
    .filter((l) => !l.startsWith('/inline-large'))
    .join('\n');
  const img = writeErofs(parseDumpfile(text, { strict: true }), { version: 1 });
  assert.equal(erofsImageId(img), 'b1c78c25db8638be5b9b483472d32ee9624d8d32ded626a91cd536116e8df97c');
});

/** composefs-rs cli.rs create_oci_layout: /usr, a 22-byte file and a hardlink to it, mtime 1234567890. */
function ociLayoutTree(): Dir {
  const stat = { mode: 0o755, mtimeSec: 1234567890 };
  const root = newDir(stat);
  insertAt(root, '/usr', newDir(stat));
  const hello = inlineFile({ mode: 0o644, mtimeSec: 1234567890 }, Buffer.from('hello from test layer\n'));
  insertAt(root, '/hello.txt', hello);
  insertAt(root, '/hello-link.txt', hello);
  return root;
}

test('composefs-rs OCI layout fixture: V1 and V2 sha512 image ids are pinned', () => {
  assert.equal(
    erofsImageId(writeErofs(ociLayoutTree(), { version: 1 }), 'sha512'),
    'd06f1f6a73f62ed48e05ce9442ff045cdf2a9f5ba1ec623795de3d6177a253d91076459795d94f55d8c3d71dab458bb3fc0071255a50c0a4896d86ffdc870b9a',
  );
  assert.equal(
    erofsImageId(writeErofs(ociLayoutTree(), { version: 2 }), 'sha512'),
    'f7684c21050615c02cec250e0c7d4118fb0ff6340af5039e06f2f372a7614fff25dfd38cf7f28ad67d8b86e86371b7deafa9ae4bf543630322aee6196417de92',
  );
});

test('derived empty-tree images: V1 is 16384 bytes with root nid 36, V2 is 4096 bytes', () => {
  const v1 = writeErofs(emptyTree(), { version: 1 });
  assert.equal(sha256(v1), '18e13c704e2aae7f84be9fda89fdc4c5001c184d279b90a93434e872e5e7c190');
  assert.deepEqual([v1.length, v1.readUInt16LE(1024 + 14), v1.readUInt16LE(36 * 32 + 2), v1.readUInt32LE(12)], [16384, 36, 6, 1]);
  const v2 = writeErofs(emptyTree(), { version: 2 });
  assert.equal(sha256(v2), '1cc80c021ae1b35fd70913e82854b0c4ac9046a6774f746c0cbb963ede54af45');
  // root nid 36, FLAT_INLINE extended (format 5), size 27 (". .." dirents), composefs_version 2
  assert.deepEqual([v2.length, v2.readUInt16LE(1024 + 14), v2.readUInt16LE(36 * 32), v2.readBigUInt64LE(36 * 32 + 8), v2.readUInt32LE(12)], [4096, 36, 5, 27n, 2]);
});

// ---------------------------------------------------------------- versions and inputs

test('version selection follows C mkcomposefs: V0 by default, bumped to V1 by a whiteout', () => {
  const plain = simpleTree();
  const withWhiteout = simpleTree();
  insertAt(withWhiteout, '/.wh', whiteout({}));
  assert.deepEqual(
    [resolveVersion(plain), resolveVersion(withWhiteout), resolveVersion(withWhiteout, { maxVersion: 0 }), resolveVersion(plain, { minVersion: 1 }), resolveVersion(plain, { version: 2 })],
    [0, 1, 0, 1, 2],
  );
  assert.equal(writeErofs(withWhiteout).readUInt32LE(12), 1);
  assert.deepEqual(writeErofs(withWhiteout), writeErofs(withWhiteout, { version: 1 }));
  assert.throws(() => writeErofs(plain, { minVersion: 3 }), (e: Error) => e instanceof FormatError && e.message === 'unsupported composefs format version range 3..3 (0, 1 or 2)');
});

test('writing leaves the input tree unchanged and is deterministic', () => {
  const tree = parseDumpfile(readFileSync(path.join(C_ASSETS, 'special.dump')), { strict: true });
  const before = printDumpfile(tree);
  for (const version of [0, 1, 2] as const) assert.deepEqual(writeErofs(tree, { version }), writeErofs(tree, { version }));
  assert.deepEqual(printDumpfile(tree), before);
});

test('invalid trees are rejected with a FormatError naming the path', () => {
  const root = newDir({ mode: 0o755 });
  insertAt(root, '/d', newDir({}));
  insertAt(root, '/d/bad', symlink({}, ''));
  assert.throws(() => writeErofs(root), (e: Error) => e instanceof FormatError && e.message === 'invalid tree at /d/bad: empty symlink target');
  const big = newDir({});
  big.setKey('f', inlineFile({}, Buffer.alloc(5001)));
  assert.throws(() => writeErofs(big, { version: 2 }), (e: Error) => e instanceof FormatError && e.message === 'invalid tree at /f: inline content of 5001 bytes exceeds 5000');
});

test('a hardlink whose @ line precedes its target in DFS order gets its inode at the target, as in C', () => {
  // /a/x is the @ line and /z the real node: C numbers the inode among /'s children
  // (before /zz), not under /a. The expected value is C mkcomposefs's sha256 for this dump.
  const dump =
    '/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 40755 2 0 0 0 0.0 - - -\n/a/x 0 @100644 - - - - 0.0 /z - -\n' +
    '/a/y 0 10644 1 0 0 0 0.0 - - -\n/z 3 100644 2 0 0 0 0.0 - abc -\n/zz 0 10644 1 0 0 0 0.0 - - -\n';
  const tree = parseDumpfile(dump, { strict: true });
  assert.equal(sha256(writeErofs(tree)), '56491d513ff4386e8ebae530668547ef1cadfbce1535c8257bb7523613bdb141');
  // Without the dumpfile's home, the first DFS occurrence (composefs-rs's rule) owns the inode.
  const z = tree.getKey('z');
  assert.ok(z?.kind === 'leaf');
  z.home = undefined;
  assert.equal(sha256(writeErofs(tree)), 'f5c210c97a0d27c6be892a26721c3ff37368245e7bfb5d942d968957fd27bff8');
});
