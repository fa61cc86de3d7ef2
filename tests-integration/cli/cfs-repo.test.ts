/**
 * The `internals cfs` repository verbs as a subprocess, on temporary
 * repositories, compared with cfsctl's output formats.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, runCli, tempDir } from '../helpers/run-cli.js';
import { Repository, CONTENT_TYPE } from '../../src/composefs/repository/index.js';
import { fsverityHex } from '../../src/composefs/index.js';
import { realRepoSyscalls } from '../../src/sys/repo-syscalls.js';
import { libzstdCodec } from '../../src/sys/zstd.js';

const cfs = (repo: string, ...args: string[]) => runCli(['internals', 'cfs', '--repo', repo, ...args]);

function sourceTree(root: string): { big: Buffer } {
  fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'run/junk'), { recursive: true });
  const big = Buffer.from('#!/bin/sh\n' + 'echo hello\n'.repeat(20));
  fs.writeFileSync(path.join(root, 'usr/bin/hello'), big, { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'usr/bin/small'), 'tiny\n');
  fs.symlinkSync('hello', path.join(root, 'usr/bin/hi'));
  for (const p of ['usr/bin/hello', 'usr/bin/small', 'usr/bin', 'usr', 'run/junk', 'run', '']) fs.utimesSync(path.join(root, p), 1700000000, 1700000000);
  return { big };
}

test('cfs init: cfsctl messages; secure on a filesystem without fs-verity fails naming --insecure', () => {
  const dir = path.join(tempDir(), 'repo');
  const secure = runCli(['internals', 'cfs', 'init', dir]);
  if (secure.status === 0) return; // this filesystem has fs-verity: nothing more to check here
  assert.deepEqual([secure.status, secure.stdout], [1, '']);
  assert.match(secure.stderr, /^error: .*\/repo: cannot create a secure repository: the filesystem does not support fs-verity \((EOPNOTSUPP|ENOTTY)\); use --insecure to create a repository without fs-verity\nhint: pass --insecure/);
  assert.equal(fs.existsSync(dir), false);
  const r = runCli(['internals', 'cfs', 'init', '--insecure', '--algorithm', 'fsverity-sha256-12', dir]);
  assert.deepEqual([r.status, r.stderr, r.stdout], [0, '', `Initialized composefs repository at ${dir}\n  algorithm: fsverity-sha256-12\n  verity:    not required (insecure)\n`]);
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', '--algorithm', 'fsverity-sha256-12', dir]).stdout, `Repository already initialized at ${dir}\n`);
  assert.equal(runCli(['internals', 'cfs', 'init', '--ensure', '--insecure', '--algorithm', 'fsverity-sha256-12', dir]).stdout, `Repository already initialized at ${dir} (existing configuration preserved)\n`);
  const other = path.join(path.dirname(dir), 'other');
  assert.equal(runCli(['internals', 'cfs', 'init', '--ensure', '--insecure', other]).stdout, `Initialized composefs repository at ${other}\n  algorithm: fsverity-sha512-12\n  verity:    not required (insecure)\n`);
  const mismatch = cfs(dir, '--hash', 'sha512', 'images');
  assert.deepEqual([mismatch.status, mismatch.stderr], [1, `error: ${dir}: repository algorithm fsverity-sha256-12 does not match expected fsverity-sha512-12\n`]);
});

test('cfs create-image, images, image-objects, compute-id, create-dumpfile, fsck and gc on an insecure repository', () => {
  const tmp = tempDir();
  const repo = path.join(tmp, 'repo');
  const src = path.join(tmp, 'src');
  const { big } = sourceTree(src);
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const created = cfs(repo, 'create-image', src, 'os/1');
  assert.deepEqual([created.status, created.stderr], [0, '']);
  const id = created.stdout.trim().replace(/^sha512:/, '');
  assert.match(created.stdout, /^sha512:[0-9a-f]{128}\n$/);
  assert.equal(cfs(repo, 'compute-id', src).stdout, `${id}\n`);
  assert.equal(
    cfs(repo, 'images').stdout,
    ['┌──────┬──────────────┐', '│ NAME ┆ DIGEST       │', '╞══════╪══════════════╡', `│ os/1 ┆ ${id.slice(0, 12)} │`, '└──────┴──────────────┘', ''].join('\n'),
  );
  assert.equal(cfs(repo, 'images', '--json').stdout, `{\n  "images": [\n    {\n      "name": "os/1",\n      "digest": "${id}"\n    }\n  ]\n}\n`);
  const bigId = fsverityHex(big, 'sha512');
  assert.equal(cfs(repo, 'image-objects', 'refs/os/1').stdout, `sha512:${bigId}\n`);
  // A name with a slash is only looked up under refs/ when spelled refs/… (as cfsctl).
  assert.deepEqual([cfs(repo, 'image-objects', 'os/1').stderr], ['error: image not found: os/1\n']);
  assert.equal(cfs(repo, 'image-objects', id).stdout, `sha512:${bigId}\n`);
  assert.equal(
    cfs(repo, 'create-dumpfile', src).stdout,
    [
      '/ 0 40755 4 0 0 0 1700000000.0 - - -',
      '/run 0 40755 2 0 0 0 1700000000.0 - - -',
      '/usr 0 40755 3 0 0 0 1700000000.0 - - -',
      '/usr/bin 0 40755 2 0 0 0 1700000000.0 - - -',
      `/usr/bin/hello ${big.length} 100755 1 0 0 0 1700000000.0 ${bigId.slice(0, 2)}/${bigId.slice(2)} - ${bigId}`,
      `/usr/bin/hi 5 120777 1 0 0 0 ${Math.floor(fs.lstatSync(path.join(src, 'usr/bin/hi')).mtimeMs / 1000)}.${String(fs.lstatSync(path.join(src, 'usr/bin/hi'), { bigint: true }).mtimeNs % 1_000_000_000n)} hello - -`,
      '/usr/bin/small 5 100644 1 0 0 0 1700000000.0 - tiny\\n -',
      '',
    ].join('\n'),
  );
  assert.equal(cfs(repo, 'fsck').stdout, 'meta.json: ok\nobjects: 2/2 ok\nstreams: 0/0 ok\nimages: 1/1 ok\nstatus: ok\n');
  // An anonymous image is garbage unless named as a root.
  const anon = cfs(repo, 'create-image', '--no-propagate-usr-to-root', src).stdout.trim().replace(/^sha512:/, '');
  assert.equal(cfs(repo, 'gc', '--dry-run', '-r', anon).stdout, 'Dry run (no files deleted):\nObjects: 0 removed (0 bytes)\n');
  const anonSize = fs.statSync(path.join(repo, 'images', anon)).size;
  // cfsctl's `gc --root NAME` (after gc) is a GC root; tsbootc's global --root DIR (before gc) is the host root, never a GC root.
  const kept = 'Dry run (no files deleted):\nObjects: 0 removed (0 bytes)\n';
  const swept = `Dry run (no files deleted):\nObjects: 1 removed (${anonSize} bytes)\n`;
  assert.equal(cfs(repo, 'gc', '--dry-run', '--root', anon).stdout, kept);
  assert.equal(cfs(repo, 'gc', '--dry-run', `--root=${anon}`).stdout, kept);
  assert.equal(cfs(repo, 'gc', '--dry-run', '--additional-root', anon).stdout, kept);
  assert.equal(runCli(['--root', tmp, 'internals', 'cfs', '--repo', repo, 'gc', '--dry-run']).stdout, swept);
  assert.equal(runCli(['--root', tmp, 'internals', 'cfs', '--repo', repo, 'gc', '--dry-run', '--gc-root', anon]).stdout, kept);
  const cfsctl = path.join(tmp, 'cfsctl');
  fs.symlinkSync(BIN, cfsctl);
  assert.equal(runCli(['--repo', repo, 'gc', '--dry-run', '--root', anon], { argv0Path: cfsctl }).stdout, kept);
  assert.equal(cfs(repo, 'gc').stdout, `Objects: 1 removed (${anonSize} bytes)\nPruned symlinks: 1 images, 0 streams\n`);
  fs.writeFileSync(path.join(repo, 'objects', bigId.slice(0, 2), bigId.slice(2)), 'broken');
  const bad = cfs(repo, 'fsck');
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, 'error: repository integrity check failed\n');
  assert.match(bad.stdout, new RegExp(`^meta\\.json: ok\\nobjects: 1/2 ok\\nstreams: 0/0 ok\\nimages: 1/1 ok\\nstatus: 1 error\\(s\\)\\n  - fsck: object-digest-mismatch: objects/${bigId.slice(0, 2)}/${bigId.slice(2)}: measured [0-9a-f]{128}\\n$`));
  const json = cfs(repo, 'fsck', '--json');
  assert.equal(json.status, 0);
  assert.deepEqual((JSON.parse(json.stdout) as { ok: boolean; objects_corrupted: number }).objects_corrupted, 1);
});

test('cfs cat reassembles a stream; a repository without meta.json is upgraded unless --no-upgrade', async () => {
  const tmp = tempDir();
  const repo = path.join(tmp, 'repo');
  const { repo: r } = await Repository.init(repo, { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true, algorithm: 'sha256' });
  const w = r.createStream(CONTENT_TYPE.ociLayer);
  w.writeInline(Buffer.from('head:'));
  await r.writeExternal(w, Buffer.from('x'.repeat(1000)));
  w.writeInline(Buffer.from(':tail'));
  await r.writeStream(w, 'oci-layer-sha256:aa', 'oci/t');
  r.close();
  const cat = cfs(repo, 'cat', 'refs/oci/t');
  assert.deepEqual([cat.status, cat.stderr, cat.stdout], [0, '', `head:${'x'.repeat(1000)}:tail`]);
  assert.equal(cfs(repo, 'cat', 'oci-layer-sha256:aa').stdout.length, 1010);
  fs.rmSync(path.join(repo, 'meta.json'));
  const noUp = cfs(repo, '--no-upgrade', 'cat', 'oci-layer-sha256:aa');
  assert.equal(noUp.status, 1);
  assert.match(noUp.stderr, /meta\.json not found; this appears to be an old-format repository/);
  assert.equal(cfs(repo, 'cat', 'oci-layer-sha256:aa').stdout.length, 1010);
  assert.equal(
    fs.readFileSync(path.join(repo, 'meta.json'), 'utf8'),
    '{\n  "version": 1,\n  "algorithm": "fsverity-sha256-12",\n  "features": {\n    "compatible": [],\n    "read-only-compatible": [],\n    "incompatible": []\n  },\n  "erofs_formats": {\n    "default": 2\n  }\n}\n',
  );
  assert.equal(cfs(repo, 'gc').stdout, 'Objects: 0 removed (0 bytes)\n');
});

test('cfs transaction holds the shared lock until interrupted; import-image stores stdin as a named image', async () => {
  const { spawn } = await import('node:child_process');
  const { BIN } = await import('../helpers/run-cli.js');
  const repo = path.join(tempDir(), 'repo');
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const sys = realRepoSyscalls();
  const child = spawn(process.execPath, [BIN, 'internals', 'cfs', '--repo', repo, 'transaction'], { stdio: 'ignore' });
  const probe = fs.openSync(repo, 'r');
  try {
    let held = false;
    for (let i = 0; i < 100 && !held; i++) {
      held = !sys.tryFlockSync(probe, 'exclusive');
      if (!held) {
        sys.tryFlockSync(probe, 'unlock');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(held, 'the transaction holds a lock that excludes GC');
    const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal === 'SIGINT' ? 130 : null))));
    child.kill('SIGINT');
    await exited;
    assert.equal(sys.tryFlockSync(probe, 'exclusive'), true, 'released after the interrupt');
  } finally {
    fs.closeSync(probe);
    child.kill('SIGKILL');
  }
  const image = Buffer.from('pretend this is an EROFS image');
  const r = runCli(['internals', 'cfs', '--repo', repo, 'import-image', 'imported'], { input: image });
  const id = fsverityHex(image, 'sha512');
  assert.deepEqual([r.status, r.stderr, r.stdout], [0, '', `sha512:${id}\n`]);
  assert.equal(fs.readlinkSync(path.join(repo, 'images/refs/imported')), `../${id}`);
});
