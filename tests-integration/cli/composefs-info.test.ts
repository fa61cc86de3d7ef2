import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir, BIN } from '../helpers/run-cli.js';
import { cComposefsInfo, cMkcomposefs, conformanceCases, cToolsMissing } from '../../src/composefs/erofs/test-images.js';

const skip = cToolsMissing();
const INFO = ['internals', 'cfs', 'composefs-info'];

const D1 = '1'.repeat(64);
const D2 = 'ab'.repeat(32);
const OBJECTS_DUMP =
  '/ 4096 40755 3 0 0 0 5.5 - - -\n' +
  `/a 100 100644 1 0 0 0 1.0 ${D1.slice(0, 2)}/${D1.slice(2)} - ${D1}\n` +
  `/b 5000 100644 1 0 0 0 1.0 /${D2.slice(0, 2)}/${D2.slice(2)} - -\n` +
  '/c 9 100644 1 0 0 0 1.0 not-an-object - -\n' +
  '/sub 4096 40755 2 0 0 0 1.0 - - -\n' +
  `/sub/again 100 100644 1 0 0 0 1.0 ${D1.slice(0, 2)}/${D1.slice(2)} - ${D1}\n`;

function images(): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of conformanceCases()) {
    if (['special_v1', 'special', 'config-with-hard-link', 'honggfuzz-long-symlink', 'bigfile-xattr', 'no-newline', 'honggfuzz-chardev-nonzero-size'].includes(c.name)) {
      out.set(c.name, cMkcomposefs(`it-${c.name}`, c.dump, { version: c.version, strict: c.strict }));
    }
  }
  out.set('objects', cMkcomposefs('it-objects', Buffer.from(OBJECTS_DUMP)));
  return out;
}

function assertSameAsC(args: string[], tsArgs: string[] = [...INFO, ...args], opts: { argv0Path?: string } = {}): void {
  const want = cComposefsInfo(args);
  const got = runCli(tsArgs, opts);
  assert.equal(got.stderr, '', `stderr for ${args.join(' ')}`);
  assert.equal(got.status, 0, `status for ${args.join(' ')}`);
  assert.ok(got.stdoutBytes.equals(want), `output of composefs-info ${args.join(' ')} differs from C:\n${got.stdout.slice(0, 400)}\n---\n${want.toString('latin1').slice(0, 400)}`);
}

test('ls, dump and objects print exactly what C composefs-info prints', { skip }, () => {
  for (const [, img] of images()) {
    for (const cmd of ['ls', 'dump', 'objects']) assertSameAsC([cmd, img]);
  }
});

test('several images at once, and --filter, as C', { skip }, () => {
  const imgs = images();
  const all = [...imgs.values()];
  assertSameAsC(['dump', ...all]);
  assertSameAsC(['objects', ...all]);
  const special = imgs.get('special')!;
  assertSameAsC(['--filter=chardev', '--filter=inline', '--filter=whiteout', 'dump', special]);
  assertSameAsC(['--filter=inline', 'ls', special]);
});

test('missing-objects checks --basedir, and without it lists every object, as C', { skip }, () => {
  const img = images().get('objects')!;
  const store = tempDir();
  mkdirSync(path.join(store, D1.slice(0, 2)));
  writeFileSync(path.join(store, D1.slice(0, 2), D1.slice(2)), 'x');
  assertSameAsC([`--basedir=${store}`, 'missing-objects', img]);
  assertSameAsC(['missing-objects', img]);
  const r = runCli([...INFO, '--basedir', store, 'missing-objects', img]);
  assert.equal(r.stdout, `/${D2.slice(0, 2)}/${D2.slice(2)}\nnot-an-object\n`);
});

test('measure-file prints the fs-verity digest of each file, as C', { skip }, () => {
  const dir = tempDir();
  const files = [0, 1, 4096, 4097, 3 * 1024 * 1024 + 5].map((n, i) => {
    const p = path.join(dir, `f${i}`);
    writeFileSync(p, Buffer.alloc(n, i + 1));
    return p;
  });
  assertSameAsC(['measure-file', ...files]);
  const hello = path.join(dir, 'hello');
  writeFileSync(hello, 'hello world');
  const r = runCli([...INFO, 'measure-file', files[0]!, hello]);
  // The empty-file digest and the upstream "hello world" vector (composefs.md §2).
  assert.equal(r.stdout, '3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95\n1e2eaa4202d750a41174ee454970b92c1bc2f925b1e35076d8c7d5f56362ba64\n');
});

test('a symlink named composefs-info runs tsbootc as composefs-info', { skip }, () => {
  const img = images().get('special_v1')!;
  const link = path.join(tempDir(), 'composefs-info');
  symlinkSync(BIN, link);
  assertSameAsC(['dump', img], ['dump', img], { argv0Path: link });
  assertSameAsC(['--filter=inline', 'ls', img], ['--filter=inline', 'ls', img], { argv0Path: link });
});

test('unreadable or corrupt images fail with exit code 1 and say why', { skip }, () => {
  const dir = tempDir();
  const missing = runCli([...INFO, 'dump', path.join(dir, 'nope.img')]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, '');
  assert.equal(missing.stderr, `error: Loading '${path.join(dir, 'nope.img')}': ENOENT: no such file or directory, open '${path.join(dir, 'nope.img')}'\n`);
  const bad = path.join(dir, 'bad.img');
  writeFileSync(bad, Buffer.alloc(8192));
  const r = runCli([...INFO, 'ls', bad]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `error: Loading '${bad}': EROFS image: bad composefs magic 0x0 at offset 0 (expected 0xd078629a)\n`);
  const f = runCli([...INFO, '--filter=a/b', 'ls', bad]);
  assert.equal(f.status, 1);
  assert.equal(f.stderr, 'error: Filter must be a single name: a/b\n');
});
