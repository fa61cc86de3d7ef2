/**
 * `internals cfs mount`: a repository image mounted as erofs + overlay with
 * the objects directory as data-only lower layer shows the source tree back.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { umount } from '../../src/sys/libc.js';

const filesystems = fs.existsSync('/proc/filesystems') ? fs.readFileSync('/proc/filesystems', 'utf8') : '';
const skip = process.getuid?.() !== 0 ? 'needs root (erofs and overlay mounts)' : !/\terofs\n/.test(filesystems) || !/\toverlay\n/.test(filesystems) ? 'the kernel lacks erofs or overlay' : false;

test('cfs mount NAME MOUNTPOINT shows the image content, metadata and external files', { skip }, () => {
  const tmp = tempDir('tsbootc-cfs-mount-');
  const repo = path.join(tmp, 'repo');
  const src = path.join(tmp, 'src');
  fs.mkdirSync(path.join(src, 'usr/bin'), { recursive: true });
  const big = Buffer.alloc(100_000, 'z');
  fs.writeFileSync(path.join(src, 'usr/bin/big'), big, { mode: 0o755 });
  fs.writeFileSync(path.join(src, 'usr/bin/small'), 'tiny\n');
  fs.symlinkSync('big', path.join(src, 'usr/bin/link'));
  const cfs = (...args: string[]) => runCli(['internals', 'cfs', '--repo', repo, ...args]);
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const id = cfs('create-image', src, 'img').stdout.trim();
  assert.match(id, /^sha512:[0-9a-f]{128}$/);
  const mnt = path.join(tmp, 'mnt');
  fs.mkdirSync(mnt);
  for (const name of ['img', id.slice('sha512:'.length)]) {
    const r = cfs('mount', name, mnt);
    assert.deepEqual([r.status, r.stderr, r.stdout], [0, '', '']);
    try {
      assert.deepEqual(fs.readdirSync(path.join(mnt, 'usr/bin')).sort(), ['big', 'link', 'small']);
      assert.ok(fs.readFileSync(path.join(mnt, 'usr/bin/big')).equals(big));
      assert.equal(fs.readFileSync(path.join(mnt, 'usr/bin/small'), 'utf8'), 'tiny\n');
      assert.equal(fs.readlinkSync(path.join(mnt, 'usr/bin/link')), 'big');
      assert.equal(fs.statSync(path.join(mnt, 'usr/bin/big')).mode & 0o777, 0o755);
      assert.throws(() => fs.writeFileSync(path.join(mnt, 'new'), 'x'), /EROFS/);
    } finally {
      umount(mnt);
    }
  }
  const missing = cfs('mount', 'nope', mnt);
  assert.deepEqual([missing.status, missing.stderr], [1, 'error: image not found: nope\n']);
  assert.deepEqual(fs.readdirSync(mnt), []);
});
