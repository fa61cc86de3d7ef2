import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as libc from './libc.js';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-libc-'));
}

test('renameExchange swaps two directories atomically', () => {
  const d = tmp();
  try {
    fs.mkdirSync(path.join(d, 'a'));
    fs.mkdirSync(path.join(d, 'b'));
    fs.writeFileSync(path.join(d, 'a', 'from-a'), '');
    fs.writeFileSync(path.join(d, 'b', 'from-b'), '');
    libc.renameExchange(path.join(d, 'a'), path.join(d, 'b'));
    assert.deepEqual([fs.readdirSync(path.join(d, 'a')), fs.readdirSync(path.join(d, 'b'))], [['from-b'], ['from-a']]);
    assert.throws(() => libc.renameExchange(path.join(d, 'a'), path.join(d, 'missing')), /renameat2\(RENAME_EXCHANGE\) .*missing: ENOENT/);
    fs.mkdirSync(path.join(d, 'c'));
    assert.throws(() => libc.renameNoReplace(path.join(d, 'a'), path.join(d, 'c')), (e: unknown) => e instanceof libc.SyscallError && /EEXIST|ENOTEMPTY/.test(e.errnoName));
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('flock interoperates with util-linux flock(1) and waits off the main thread', async () => {
  const d = tmp();
  const fd = fs.openSync(d, 'r');
  try {
    libc.flockSync(fd, libc.LOCK_EX | libc.LOCK_NB);
    const other = spawnSync('flock', ['--nonblock', '--shared', d, 'true']);
    assert.equal(other.status, 1, 'flock(1) must see our exclusive lock');
    const fd2 = fs.openSync(d, 'r');
    let got = false;
    const waiting = libc.flock(fd2, libc.LOCK_SH, d).then(() => (got = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, false);
    libc.flockSync(fd, libc.LOCK_UN);
    await waiting;
    assert.equal(got, true);
    fs.closeSync(fd2);
    await assert.rejects(libc.flock(987654, libc.LOCK_SH, 'bogus'), /flock bogus: EBADF/);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('xattrs round trip with byte-exact values, not following symlinks', () => {
  const d = tmp();
  try {
    const f = path.join(d, 'f');
    fs.writeFileSync(f, 'x');
    fs.symlinkSync('f', path.join(d, 'l'));
    libc.setXattr(f, 'user.b', Buffer.from([0, 1, 255]));
    libc.setXattr(f, 'user.a', Buffer.alloc(0));
    assert.deepEqual(libc.listXattrs(f).filter((n) => n.startsWith('user.')).sort(), ['user.a', 'user.b']);
    assert.deepEqual(libc.getXattr(f, 'user.b'), Buffer.from([0, 1, 255]));
    assert.deepEqual(libc.getXattr(f, 'user.a'), Buffer.alloc(0));
    assert.deepEqual(libc.listXattrs(path.join(d, 'l')).filter((n) => n.startsWith('user.')), []);
    assert.throws(() => libc.getXattr(f, 'user.none'), /lgetxattr .*user\.none: ENODATA/);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('fs-verity ioctls report the kernel errno when unsupported', () => {
  const d = tmp();
  const f = path.join(d, 'f');
  fs.writeFileSync(f, 'data');
  const fd = fs.openSync(f, 'r');
  try {
    try {
      libc.fsverityEnable(fd, 'sha256', f);
      // A kernel and filesystem with fs-verity: the measured digest is the userspace one.
      const m = libc.fsverityMeasure(fd, f);
      assert.equal(m.alg, 'sha256');
      assert.equal(m.digest.length, 32);
    } catch (e) {
      assert.ok(e instanceof libc.SyscallError, String(e));
      assert.match(e.errnoName, /^(EOPNOTSUPP|ENOTTY|ENOTSUP)$/);
      assert.match(e.message, new RegExp(`^ioctl\\(FS_IOC_ENABLE_VERITY\\) ${f}: `));
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(d, { recursive: true, force: true });
  }
});
