/**
 * `usr-overlay [--read-only]` on a fake root: a transient overlay on
 * <root>/usr whose writes vanish with it, reported by `status`, and no mount
 * outside the root. The fake root's mountinfo is the real one (a symlink), so
 * status sees the mount the verb made.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../helpers/run-cli.js';
import { umount } from '../../src/sys/libc.js';
import { parseMountinfo } from '../../src/deploy/detect.js';
import { TestRoot } from '../../src/testing/test-root.js';
import { hostSchemaErrors } from '../../src/testing/golden.js';

const filesystems = fs.existsSync('/proc/filesystems') ? fs.readFileSync('/proc/filesystems', 'utf8') : '';
const skip = process.getuid?.() !== 0 ? 'needs root (overlay and tmpfs mounts)' : !/\toverlay\n/.test(filesystems) ? 'the kernel lacks overlayfs' : false;
if (skip !== false) console.log(`# usr-overlay privileged tests skipped: ${skip}`);

/**
 * Mount points at or below `dir` (the fake root): other jobs on the machine
 * mount and unmount elsewhere while this runs, so the global table is not stable.
 */
const mountPoints = (dir: string) =>
  parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .map((m) => m.mountPoint)
    .filter((m) => m === dir || m.startsWith(dir + '/'));

async function fakeRoot(): Promise<TestRoot> {
  const t = await TestRoot.create({ layout: 'grub-type1' });
  fs.mkdirSync(t.p('/usr/lib'), { recursive: true });
  fs.writeFileSync(t.p('/usr/lib/hello.txt'), 'lower\n');
  fs.chmodSync(t.p('/usr'), 0o755);
  fs.rmSync(t.p('/proc/self/mountinfo'));
  fs.symlinkSync('/proc/self/mountinfo', t.p('/proc/self/mountinfo'));
  return t;
}

function statusOverlay(t: TestRoot): unknown {
  const r = runCli(['--root', t.dir, 'status', '--format', 'json']);
  assert.equal(r.status, 0, r.stderr);
  const host = JSON.parse(r.stdout) as { status: { usrOverlay: unknown } };
  assert.equal(hostSchemaErrors(host), '');
  return host.status.usrOverlay;
}

for (const readOnly of [false, true]) {
  test(`usr-overlay${readOnly ? ' --read-only' : ''} on --root: transient overlay on <root>/usr, shown by status, gone after umount`, { skip }, async () => {
    const t = await fakeRoot();
    const usr = t.p('/usr');
    assert.equal(statusOverlay(t), null);
    const before = mountPoints(t.dir);
    const r = runCli(['--root', t.dir, 'usr-overlay', ...(readOnly ? ['--read-only'] : [])]);
    try {
      assert.deepEqual([r.status, r.stderr, r.stdout], [0, '', `A ${readOnly ? 'read-only' : 'read/write'} overlayfs is now mounted on /usr\nAll changes there will be discarded on reboot.\n`]);
      const added = mountPoints(t.dir).filter((m) => !before.includes(m));
      assert.deepEqual(added, [usr], 'only <root>/usr was mounted; the tmpfs is detached');
      assert.deepEqual(fs.readdirSync(t.p('/run/tsbootc')), [], 'the scratch dir is removed');
      assert.equal(fs.readFileSync(path.join(usr, 'lib/hello.txt'), 'utf8'), 'lower\n');
      if (readOnly) {
        assert.throws(() => fs.writeFileSync(path.join(usr, 'lib/new.txt'), 'x'), /EROFS/);
      } else {
        fs.writeFileSync(path.join(usr, 'lib/new.txt'), 'upper\n');
        fs.writeFileSync(path.join(usr, 'lib/hello.txt'), 'changed\n');
        assert.equal(fs.readFileSync(path.join(usr, 'lib/hello.txt'), 'utf8'), 'changed\n');
      }
      assert.deepEqual(statusOverlay(t), { accessMode: readOnly ? 'readOnly' : 'readWrite', persistence: 'transient' });
      const again = runCli(['--root', t.dir, 'usroverlay']);
      assert.deepEqual([again.status, again.stderr, again.stdout], [0, '', 'An overlayfs is already mounted on /usr\n']);
      assert.deepEqual(mountPoints(t.dir).filter((m) => !before.includes(m)), [usr], 'the second call mounted nothing');
    } finally {
      if (mountPoints(t.dir).includes(usr)) umount(usr);
    }
    assert.deepEqual(fs.readdirSync(t.p('/usr/lib')), ['hello.txt'], 'the lower /usr is untouched');
    assert.equal(fs.readFileSync(t.p('/usr/lib/hello.txt'), 'utf8'), 'lower\n');
    assert.deepEqual(mountPoints(t.dir), before);
  });
}
