/**
 * `tsbootc internals cfs mkcomposefs` against C mkcomposefs as the oracle: the
 * image bytes, --print-digest and --digest-store must be identical on the same
 * input, for conformance dumps and for a scanned directory.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, linkSync, chmodSync, utimesSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import * as path from 'node:path';
import { runCli, tempDir, BIN, REPO_ROOT, SHARED } from '../helpers/run-cli.js';

const C_MKCOMPOSEFS = path.join(SHARED, 'tools', 'mkcomposefs', 'mkcomposefs');
const ASSETS = path.join(SHARED, 'reference', 'conformance', 'composefs-c');
const noC = existsSync(C_MKCOMPOSEFS) ? false : `C mkcomposefs not found at ${C_MKCOMPOSEFS}`;
const noAssets = existsSync(ASSETS) ? noC : `conformance assets not found at ${ASSETS}`;
const isRoot = process.getuid?.() === 0;

function runC(args: string[], input?: Buffer, env: Record<string, string> = {}): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(C_MKCOMPOSEFS, args, { input: input ?? Buffer.alloc(0), env: { ...process.env, ...env }, maxBuffer: 1 << 30 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Every file under `dir` as relative path → bytes, sorted. */
function readTree(dir: string): Array<[string, string, number]> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e): [string, string, number] => {
      const p = path.join(e.parentPath, e.name);
      return [path.relative(dir, p), sha256(readFileSync(p)), statSync(p).mode];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

const DUMPS = ['bigfile', 'bigfile-xattr', 'config.dump.gz', 'config-with-hard-link.dump.gz', 'cs9-x86_64-minimal.dump.gz', 'honggfuzz-bigfile-with-acl', 'honggfuzz-long-symlink', 'longlink', 'no-newline', 'special', 'special_v1'];
const NOT_STRICT = new Set(['no-newline', 'longlink', 'honggfuzz-longlink-unterminated']);

for (const name of DUMPS) {
  test(`--from-file ${name}: image bytes and --print-digest equal C mkcomposefs`, { skip: noAssets }, () => {
    const file = name.endsWith('.gz') ? name : `${name}.dump`;
    const base = name.replace(/\.dump\.gz$/, '');
    let dump = readFileSync(path.join(ASSETS, file));
    if (file.endsWith('.gz')) dump = gunzipSync(dump);
    const vfile = path.join(ASSETS, `${file}.version`);
    const vargs = existsSync(vfile) ? [`--min-version=${readFileSync(vfile, 'utf8').trim()}`, `--max-version=${readFileSync(vfile, 'utf8').trim()}`] : [];
    const env: Record<string, string> = NOT_STRICT.has(base) ? {} : { CFS_PARSE_STRICT: '1' };
    const dir = tempDir('tsbootc-mkcfs-');
    try {
      const c = runC([...vargs, '--print-digest', '--from-file', '-', path.join(dir, 'c.img')], dump, env);
      assert.equal(c.status, 0, c.stderr);
      const t = runCli(['internals', 'cfs', 'mkcomposefs', ...vargs, '--print-digest', '--from-file', '-', path.join(dir, 't.img')], { input: dump, env });
      assert.equal(t.stderr, '');
      assert.equal(t.status, 0);
      assert.equal(t.stdout, c.stdout.toString());
      const img = readFileSync(path.join(dir, 't.img'));
      assert.deepEqual(img, readFileSync(path.join(dir, 'c.img')));
      assert.equal(sha256(img), readFileSync(path.join(ASSETS, `${file}.sha256`), 'utf8').trim().split(/\s/)[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('every should-fail dump is rejected with status 1 and a line number', { skip: noAssets }, () => {
  const names = readdirSync(ASSETS).filter((n) => n.startsWith('should-fail-'));
  assert.ok(names.length >= 14);
  for (const n of names) {
    const t = runCli(['internals', 'cfs', 'mkcomposefs', '--from-file', path.join(ASSETS, n), '-'], { env: { CFS_PARSE_STRICT: '1' } });
    assert.equal(t.status, 1, `${n}: ${t.stderr}`);
    assert.match(t.stderr, new RegExp(`^error: Reading dumpfile ${path.join(ASSETS, n)}: `), n);
  }
});

/** A source tree with every kind of entry C mkcomposefs stores. */
function buildSource(src: string): void {
  const w = (rel: string | Buffer, data: Buffer | string) => writeFileSync(typeof rel === 'string' ? path.join(src, rel) : Buffer.concat([Buffer.from(src + '/'), rel]), data);
  mkdirSync(path.join(src, 'usr/lib/deep/er'), { recursive: true });
  mkdirSync(path.join(src, 'empty-dir'));
  const sizes = [0, 1, 2, 63, 64, 65, 100, 2048, 2049, 4095, 4096, 4097, 8191, 65536, 1 << 20, (9 << 20) + 17];
  for (const n of sizes) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 7 + n) & 0xff;
    w(`usr/lib/f${n}`, b);
  }
  w('usr/lib/dup-of-f100', readFileSync(path.join(src, 'usr/lib/f100')));
  linkSync(path.join(src, 'usr/lib/f4097'), path.join(src, 'usr/hard-big'));
  linkSync(path.join(src, 'usr/lib/f2'), path.join(src, 'usr/lib/deep/hard-small'));
  symlinkSync('../usr/lib/f1', path.join(src, 'usr/lib/deep/rel-link'));
  symlinkSync('/nonexistent/target', path.join(src, 'dangling'));
  symlinkSync('x'.repeat(1000), path.join(src, 'long-link'));
  w(Buffer.from('name with spaces=and\nnewline'), 'odd');
  w(Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9, 0xff]), 'not utf-8 name, 65 bytes of content .............................');
  w('usr/lib/deep/er/setuid', '#!/bin/sh\n');
  chmodSync(path.join(src, 'usr/lib/deep/er/setuid'), 0o4755);
  w('sticky-dir-file', '');
  chmodSync(path.join(src, 'empty-dir'), 0o1777);
  spawnSync('mkfifo', ['-m', '0640', path.join(src, 'fifo')]);
  spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(src, 'usr/sock'))})`]);
  spawnSync('setfattr', ['-n', 'user.greeting', '-v', 'hello', path.join(src, 'usr/lib/f65')]);
  spawnSync('setfattr', ['-n', 'user.empty', path.join(src, 'usr/lib/f1')]);
  spawnSync('setfattr', ['-n', 'user.bin', '-v', '0x00ff10', path.join(src, 'usr')]);
  if (isRoot) {
    spawnSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(src, 'empty-dir')]);
    spawnSync('setfattr', ['-n', 'trusted.foo', '-v', 'bar', path.join(src, 'usr/lib/f4096')]);
    spawnSync('mknod', ['-m', '0600', path.join(src, 'null'), 'c', '1', '3']);
    spawnSync('mknod', [path.join(src, 'blk'), 'b', '7', '42']);
    spawnSync('chown', ['-h', '123:456', path.join(src, 'dangling')]);
    spawnSync('chown', ['1000:1000', path.join(src, 'usr/lib/f63')]);
  }
  utimesSync(path.join(src, 'usr/lib/f0'), 0, 0.5);
}

const DIR_VARIANTS: Array<[string, string[]]> = [
  ['defaults', []],
  ['--use-epoch --user-xattrs --min-version=1', ['--use-epoch', '--user-xattrs', '--min-version=1']],
  ['--skip-xattrs --skip-devices --threads=1', ['--skip-xattrs', '--skip-devices', '--threads=1']],
];

test('a scanned directory: image bytes, --print-digest and --digest-store equal C mkcomposefs', { skip: noC }, () => {
  const dir = tempDir('tsbootc-mkcfs-dir-');
  try {
    const src = path.join(dir, 'src');
    mkdirSync(src);
    buildSource(src);
    for (const [label, flags] of DIR_VARIANTS) {
      const out = path.join(dir, label.replace(/\W+/g, '_'));
      mkdirSync(out);
      const c = runC([...flags, `--digest-store=${out}/c-store`, '--print-digest', src, `${out}/c.img`]);
      assert.equal(c.status, 0, c.stderr);
      const t = runCli(['internals', 'cfs', 'mkcomposefs', ...flags, '--digest-store', `${out}/t-store`, '--print-digest', src, `${out}/t.img`]);
      assert.equal(t.stderr, '', label);
      assert.equal(t.status, 0, label);
      assert.equal(t.stdout, c.stdout.toString(), label);
      assert.deepEqual(readFileSync(`${out}/t.img`), readFileSync(`${out}/c.img`), label);
      const cStore = readTree(`${out}/c-store`);
      assert.ok(cStore.length >= 12, `${label}: C stored ${cStore.length} objects`);
      assert.deepEqual(readTree(`${out}/t-store`), cStore, label);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('image to stdout, --print-digest-only, and the mkcomposefs argv[0] alias', { skip: noC }, () => {
  const dir = tempDir('tsbootc-mkcfs-io-');
  try {
    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, 'etc'), { recursive: true });
    writeFileSync(path.join(src, 'etc/a'), 'a'.repeat(500));
    const c = runC(['--print-digest', src, path.join(dir, 'c.img')]);
    const cImg = readFileSync(path.join(dir, 'c.img'));
    const t = runCli(['internals', 'cfs', 'mkcomposefs', src, '-']);
    assert.equal(t.status, 0, t.stderr);
    assert.deepEqual(t.stdoutBytes, cImg);
    const only = runCli(['internals', 'cfs', 'mkcomposefs', '--print-digest-only', src]);
    assert.equal(only.stdout, c.stdout.toString());
    assert.equal(readdirSync(dir).sort().join(','), 'c.img,src');
    const alias = path.join(dir, 'mkcomposefs');
    symlinkSync(BIN, alias);
    const a = runCli(['--print-digest', src, path.join(dir, 'a.img')], { argv0Path: alias });
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, c.stdout.toString());
    assert.deepEqual(readFileSync(path.join(dir, 'a.img')), cImg);
    const both = runCli(['internals', 'cfs', 'mkcomposefs', '--print-digest-only', src, 'x.img']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /cannot specify destination path with --print-digest-only/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors name the path', () => {
  const dir = tempDir('tsbootc-mkcfs-err-');
  try {
    const missing = path.join(dir, 'no-such-dir');
    const r = runCli(['internals', 'cfs', 'mkcomposefs', missing, path.join(dir, 'x.img')]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: Scanning ${missing}: reading metadata of ${missing}: ENOENT: no such file or directory, lstat '${missing}'\n`);
    const dump = path.join(dir, 'bad.dump');
    writeFileSync(dump, '/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 zz - - -\n');
    const b = runCli(['internals', 'cfs', 'mkcomposefs', '--from-file', dump, path.join(dir, 'x.img')]);
    assert.equal(b.status, 1);
    assert.equal(b.stderr, `error: Reading dumpfile ${dump}: line 2: invalid mtime zz\n`);
    const nofile = runCli(['internals', 'cfs', 'mkcomposefs', '--from-file', missing, '-']);
    assert.match(nofile.stderr, new RegExp(`^error: Reading dumpfile ${missing}: ENOENT`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run demo: scripts/demo.mjs prints the digest C mkcomposefs gives for its rootfs', { skip: noC }, () => {
  const dir = tempDir('tsbootc-demo-');
  try {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'demo.mjs')], { env: { ...process.env, TSBOOTC_DEMO_DIR: dir, TSBOOTC_DEMO_DISK: '0' } });
    assert.equal(r.status, 0, r.stderr.toString());
    const digest = /demo: digest\s+([0-9a-f]{64})/.exec(r.stdout.toString())?.[1];
    const c = runC(['--digest-store', path.join(dir, 'c-objects'), '--print-digest', path.join(dir, 'rootfs'), path.join(dir, 'c.cfs')]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(digest, c.stdout.toString().trim());
    assert.deepEqual(readFileSync(path.join(dir, 'demo.cfs')), readFileSync(path.join(dir, 'c.cfs')));
    assert.deepEqual(readTree(path.join(dir, 'objects')), readTree(path.join(dir, 'c-objects')));
    assert.match(r.stdout.toString(), /demo: objects .* \(2 external files\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
