import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, linkSync, rmSync, utimesSync, lutimesSync, readdirSync, readFileSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { printDumpfile } from './dumpfile.js';
import { fsverityHex } from './fsverity.js';
import { scanDirectory, type XattrSource } from './scan.js';
import { formatErrorChain } from '../util/errors.js';

async function chainOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return formatErrorChain(err);
  }
  return 'no error';
}

/** An in-memory xattr source keyed by the path relative to `base`. */
function fakeXattrs(base: string, table: Record<string, Record<string, string>>): XattrSource & { calls: string[] } {
  const calls: string[] = [];
  const rel = (p: Buffer) => path.relative(base, p.toString('latin1')) || '.';
  return {
    calls,
    list: (p) => {
      calls.push(rel(p));
      return Object.keys(table[rel(p)] ?? {});
    },
    get: (p, n) => Buffer.from(table[rel(p)]![n]!),
  };
}

function build(): { dir: string; src: string; big: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-scan-'));
  const src = path.join(dir, 'src');
  mkdirSync(path.join(src, 'sub'), { recursive: true });
  const big = Buffer.alloc(5000, 0x41);
  writeFileSync(path.join(src, 'empty'), '');
  writeFileSync(path.join(src, 'small'), 'x'.repeat(64));
  writeFileSync(path.join(src, 'sub', 'big'), big);
  linkSync(path.join(src, 'sub', 'big'), path.join(src, 'a-link'));
  writeFileSync(Buffer.concat([Buffer.from(src + '/'), Buffer.from([0x6e, 0xff, 0x20])]), '65 bytes'.padEnd(65, '.'));
  symlinkSync('sub/big', path.join(src, 'ln'));
  chmodSync(path.join(src, 'small'), 0o4755);
  for (const p of ['empty', 'small', 'sub/big', 'sub', '.']) utimesSync(path.join(src, p), 1000, 1234.5);
  utimesSync(Buffer.concat([Buffer.from(src + '/'), Buffer.from([0x6e, 0xff, 0x20])]), 1, 2);
  lutimesSync(path.join(src, 'ln'), 7, 8);
  return { dir, src, big };
}

test('scanDirectory builds the whole tree: inline ≤ 64, external by digest, shared hardlinks, raw names', async () => {
  const { dir, src, big } = build();
  try {
    const xattrs = fakeXattrs(src, { small: { 'user.a': '1', 'trusted.t': 'T' }, '.': { 'security.x': 'S' } });
    const root = await scanDirectory(src, { xattrs });
    const id = fsverityHex(big, 'sha256');
    const nid = fsverityHex(Buffer.from('65 bytes'.padEnd(65, '.')), 'sha256');
    const uid = process.getuid!();
    const gid = process.getgid!();
    const want = [
      `/ 4096 40755 3 ${uid} ${gid} 0 1234.500000000 - - - security.x=S`,
      `/a-link 5000 100644 2 ${uid} ${gid} 0 1234.500000000 ${id.slice(0, 2)}/${id.slice(2)} - ${id}`,
      `/empty 0 100644 1 ${uid} ${gid} 0 1234.500000000 - - -`,
      `/ln 7 120777 1 ${uid} ${gid} 0 8.0 sub/big - -`,
      `/n\\xff\\x20 65 100644 1 ${uid} ${gid} 0 2.0 ${nid.slice(0, 2)}/${nid.slice(2)} - ${nid}`,
      `/small 64 104755 1 ${uid} ${gid} 0 1234.500000000 - ${'x'.repeat(64)} - trusted.t=T user.a=1`,
      `/sub 4096 40755 2 ${uid} ${gid} 0 1234.500000000 - - -`,
      `/sub/big 0 @120000 - - - - 0.0 /a-link - -`,
    ];
    const got = printDumpfile(root).toString('latin1').trimEnd().split('\n');
    assert.deepEqual(got.map((l) => l.replace(/^(\/(?:sub)? )\d+/, '$14096')), want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('copy hardlinks, --user-xattrs, --use-epoch and --digest-store', async () => {
  const { dir, src, big } = build();
  try {
    const store = path.join(dir, 'store');
    const xattrs = fakeXattrs(src, { small: { 'user.a': '1', 'trusted.t': 'T' } });
    const root = await scanDirectory(src, { xattrs, xattrFilter: 'user', useEpoch: true, hardlinks: 'copy', digestStore: store });
    const text = printDumpfile(root).toString('latin1');
    assert.match(text, /^\/a-link 5000 100644 1 .* 0\.0 /m);
    assert.match(text, /^\/sub\/big 5000 100644 1 .* 0\.0 /m);
    assert.match(text, /^\/small 64 104755 1 .* 0\.0 - x{64} - user\.a=1$/m);
    const id = fsverityHex(big, 'sha256');
    const nid = fsverityHex(Buffer.from('65 bytes'.padEnd(65, '.')), 'sha256');
    const files = readdirSync(store, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(store, path.join(e.parentPath, e.name)))
      .sort();
    assert.deepEqual(files, [`${id.slice(0, 2)}/${id.slice(2)}`, `${nid.slice(0, 2)}/${nid.slice(2)}`].sort());
    assert.deepEqual(readFileSync(path.join(store, id.slice(0, 2), id.slice(2))), big);
    assert.equal(statSync(path.join(store, id.slice(0, 2), id.slice(2))).mode & 0o7777, 0o644);
    const none = await scanDirectory(src, { xattrs, xattrFilter: 'none' });
    assert.equal(printDumpfile(none).toString('latin1').includes('user.a'), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors name the path', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-scan-'));
  try {
    const nope = path.join(dir, 'nope');
    assert.equal(await chainOf(scanDirectory(nope)), `reading metadata of ${nope}: ENOENT: no such file or directory, lstat '${nope}'`);
    writeFileSync(path.join(dir, 'f'), 'x');
    assert.equal(await chainOf(scanDirectory(path.join(dir, 'f'))), `scanning ${path.join(dir, 'f')}: not a directory`);
    const bad: XattrSource = {
      list: () => {
        throw new Error('EOPNOTSUPP');
      },
      get: () => Buffer.alloc(0),
    };
    assert.equal(await chainOf(scanDirectory(dir, { xattrs: bad })), `listing xattrs of ${dir}: EOPNOTSUPP`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
