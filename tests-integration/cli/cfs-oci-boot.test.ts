/**
 * `internals cfs oci` boot-related verbs as a subprocess on a tiny bootable
 * image in a temporary insecure repository: `layer --dumpfile`,
 * `compute-id --bootable` per xattr mode, and `pull --bootable
 * --expected-digest` (cfsctl's search over xattr mode × EROFS version).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { paxEntry, rawEntry, sha256, TAR_END, writeOciLayout } from '../../src/composefs/oci/test-fixtures.js';
import { fsverityHex } from '../../src/composefs/index.js';

const cfs = (repo: string, ...args: string[]) => runCli(['internals', 'cfs', '--repo', repo, ...args]);
const c = { mtime: 1700000000 };
const HELLO = '#!/bin/sh\n' + 'echo hello\n'.repeat(20);

function layer(): Buffer {
  return Buffer.concat([
    rawEntry({ ...c, name: 'usr/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/bin/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/bin/hello', mode: 0o755, data: HELLO }),
    rawEntry({ ...c, name: 'usr/bin/hello2', type: '1', linkname: 'usr/bin/hello' }),
    paxEntry([['SCHILY.xattr.user.k', 'v']]),
    rawEntry({ ...c, name: 'usr/bin/small', data: 'tiny\n' }),
    rawEntry({ ...c, name: 'boot/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'boot/junk', data: 'k' }),
    rawEntry({ ...c, name: 'sysroot/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'etc/', type: '5', mode: 0o755 }),
    rawEntry({ name: 'etc/.wh.gone' }),
    TAR_END,
  ]);
}

test('oci layer --dumpfile, compute-id --bootable per xattr mode, pull --bootable --expected-digest', () => {
  const tmp = tempDir('tsbootc-cli-ociboot-');
  const repo = path.join(tmp, 'repo');
  const src = path.join(tmp, 'layout');
  const tar = layer();
  writeOciLayout(src, [tar], { tag: 'v1' });
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const pull = cfs(repo, 'oci', 'pull', '--bootable', `oci:${src}:v1`, 'img');
  assert.deepEqual([pull.status, pull.stderr], [0, '']);
  const bootId = /^Boot image: ([0-9a-f]{128})\n$/m.exec(pull.stdout)?.[1] ?? '';
  assert.equal(bootId.length, 128, pull.stdout);

  const h = fsverityHex(Buffer.from(HELLO), 'sha512');
  assert.equal(
    cfs(repo, 'oci', 'layer', '--dumpfile', sha256(tar)).stdout,
    [
      '/usr 0 40755 1 0 0 0 1700000000.0 - - -',
      '/usr/bin 0 40755 1 0 0 0 1700000000.0 - - -',
      `/usr/bin/hello 230 100755 1 0 0 0 1700000000.0 ${h.slice(0, 2)}/${h.slice(2)} - ${h}`,
      '/usr/bin/hello2 0 @120000 - - - - 0.0 /usr/bin/hello - -',
      '/usr/bin/small 5 100644 1 0 0 0 1700000000.0 - tiny\\n - user.k=v',
      '/boot 0 40755 1 0 0 0 1700000000.0 - - -',
      '/boot/junk 1 100644 1 0 0 0 1700000000.0 - k -',
      '/sysroot 0 40755 1 0 0 0 1700000000.0 - - -',
      '/etc 0 40755 1 0 0 0 1700000000.0 - - -',
      '/etc/.wh.gone 0 100644 1 0 0 0 0.0 - - -',
      '',
    ].join('\n'),
  );
  const both = cfs(repo, 'oci', 'layer', '--dumpfile', '--json', sha256(tar));
  assert.equal(both.status, 2);

  assert.equal(cfs(repo, 'oci', 'compute-id', '--bootable', 'img').stdout, `${bootId}\n`);
  const userId = cfs(repo, 'oci', 'compute-id', '--bootable', '--xattrs', 'keep-user-xattrs', 'img').stdout.trim();
  assert.match(userId, /^[0-9a-f]{128}$/);
  assert.notEqual(userId, bootId);
  assert.equal(fs.existsSync(path.join(repo, 'images', userId)), false);

  const head = (r: { stdout: string }) => r.stdout.split('\n').slice(0, 5).join('\n') + '\n';
  const again = cfs(repo, 'oci', 'pull', '--bootable', '--expected-digest', userId, `oci:${src}:v1`, 'img');
  assert.deepEqual([again.status, again.stderr], [0, '']);
  assert.equal(again.stdout, `${head(again)}Boot image: ${userId} (xattr-mode=keep-user-xattrs, format-version=V1)\n`);
  assert.equal(fs.existsSync(path.join(repo, 'images', userId)), true, 'the recovered boot image is stored');
  const cached = cfs(repo, 'oci', 'pull', '--bootable', '--expected-digest', bootId, `oci:${src}:v1`, 'img');
  assert.equal(cached.stdout, `${head(cached)}Boot image: ${bootId} (xattr-mode=allowlist-only, format-version=V1)\n`);

  const none = cfs(repo, 'oci', 'pull', '--bootable', '--expected-digest', '0'.repeat(128), `oci:${src}:v1`, 'img');
  assert.deepEqual([none.status, none.stderr], [1, `error: No boot image configuration matched expected digest ${'0'.repeat(128)} (tried 4 mode/version combinations)\n`]);
  const bad = cfs(repo, 'oci', 'pull', '--bootable', '--expected-digest', 'abc', `oci:${src}:v1`, 'other');
  assert.deepEqual([bad.status, bad.stdout, bad.stderr], [1, '', 'error: Parsing --expected-digest: "abc" is not a sha512 object id (128 hex digits)\n']);
  assert.equal(fs.existsSync(path.join(repo, 'streams/refs/oci/other')), false, 'nothing pulled');
  const noBoot = cfs(repo, 'oci', 'pull', '--expected-digest', bootId, `oci:${src}:v1`, 'other');
  assert.deepEqual([noBoot.status, noBoot.stdout, noBoot.stderr], [2, '', 'error: oci pull: --expected-digest requires --bootable\n']);
});

test('oci prepare-boot writes the kernel, initramfs and a BLS entry with the composefs karg, and the state directory', () => {
  const tmp = tempDir('tsbootc-cli-prepboot-');
  const repo = path.join(tmp, 'sysroot/composefs');
  const src = path.join(tmp, 'layout');
  const kernel = 'MZ' + 'k'.repeat(100);
  const tar = Buffer.concat([
    rawEntry({ ...c, name: 'usr/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/lib/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/lib/modules/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/lib/modules/6.1.0/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/lib/modules/6.1.0/vmlinuz', mode: 0o755, data: kernel }),
    rawEntry({ ...c, name: 'usr/lib/modules/6.1.0/initramfs.img', data: 'initrd' }),
    rawEntry({ ...c, name: 'boot/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'sysroot/', type: '5', mode: 0o755 }),
    TAR_END,
  ]);
  const l = writeOciLayout(src, [tar], { tag: 'v1' });
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  assert.equal(cfs(repo, 'oci', 'pull', `oci:${src}:v1`, 'img').status, 0);
  const id = cfs(repo, 'oci', 'compute-id', '--bootable', 'img').stdout.trim();
  const bootdir = path.join(tmp, 'boot');
  const r = cfs(repo, 'oci', 'prepare-boot', '--bootdir', bootdir, '--cmdline', 'rw', '--cmdline', 'quiet', 'img');
  assert.deepEqual([r.status, r.stderr, r.stdout], [0, '', '']);
  const entry = `# File created by composefs\ntitle todoOS\nversion 0-todo\nlinux /6.1.0/vmlinuz\ninitrd /6.1.0/initramfs.img\n`;
  assert.equal(fs.readFileSync(path.join(bootdir, 'loader/entries/6.1.0.conf'), 'utf8'), `${entry}options composefs.digest=?v1-sha512-12:${id} rw quiet\n`);
  assert.equal(fs.readFileSync(path.join(bootdir, '6.1.0/vmlinuz'), 'utf8'), kernel);
  assert.equal(fs.readFileSync(path.join(bootdir, '6.1.0/initramfs.img'), 'utf8'), 'initrd');
  assert.equal(fs.existsSync(path.join(repo, 'images', id)), true, 'the boot image is committed');
  assert.deepEqual(['var', 'etc/upper', 'etc/work'].map((d) => fs.statSync(path.join(tmp, 'sysroot/state/deploy', id, d)).isDirectory()), [true, true, true]);
  // --entry-id renames the entry and its directory; @CONFIG names the image by config digest.
  assert.equal(cfs(repo, 'oci', 'prepare-boot', '--bootdir', bootdir, '--entry-id', 'mine', `@${l.config}`).status, 0);
  assert.equal(fs.readFileSync(path.join(bootdir, 'loader/entries/mine.conf'), 'utf8'), entry.replaceAll('/6.1.0/', '/mine/') + `options composefs.digest=?v1-sha512-12:${id}\n`);
  // A V2 image gets the plain composefs= karg.
  const id2 = cfs(repo, '--erofs-version', '2', 'oci', 'compute-id', '--bootable', 'img').stdout.trim();
  assert.notEqual(id2, id);
  assert.equal(cfs(repo, '--erofs-version', '2', 'oci', 'prepare-boot', '--bootdir', bootdir, '--entry-id', 'v2', 'img').status, 0);
  assert.equal(fs.readFileSync(path.join(bootdir, 'loader/entries/v2.conf'), 'utf8'), entry.replaceAll('/6.1.0/', '/v2/') + `options composefs=?${id2}\n`);
});
