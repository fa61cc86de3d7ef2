/**
 * Hostile images through `tsbootc switch` on a fake booted host (a TestRoot
 * booted into a real umoci image, helpers/os-image.ts): a layer escaping the
 * root must fail with one line and leave the host's deployments, entries and
 * state as they were; an image full of device nodes, fifos, setuid files and
 * escaping symlinks must stage, keep them as data in the composefs image, and
 * create no device node or setuid file on the host.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/run-cli.js';
import { bootRealImage, buildOsImage, snapshotTree } from '../helpers/os-image.js';
import { rawEntry, TAR_END, writeOciLayout } from '../../src/composefs/oci/test-fixtures.js';
import { assertError, cli, skipReason, specialFiles, Tally } from './lib.js';

const missing = skipReason ?? (spawnSync('umoci', ['--version']).status !== 0 ? 'umoci is not installed' : undefined);
const T = { mtime: 1700000000 };
const d = (name: string, mode = 0o755): Buffer => rawEntry({ ...T, name, type: '5', mode });
const f = (name: string, data: string, mode = 0o644): Buffer => rawEntry({ ...T, name, data, mode });
const tally = new Tally();

/** A bootable base layer (kernel, initramfs, os-release, kargs, /etc). */
function baseLayer(version: string): Buffer[] {
  return [
    d('boot/'),
    d('sysroot/'),
    d('etc/'),
    f('etc/hostname', 'hostile\n'),
    d('usr/'),
    d('usr/bin/'),
    d('usr/lib/'),
    f('usr/lib/os-release', `NAME="Hostile OS"\nID=hostile\nVERSION_ID=${version}\n`),
    d('usr/lib/modules/'),
    d('usr/lib/modules/6.9.0/'),
    f('usr/lib/modules/6.9.0/vmlinuz', 'vmlinuz hostile\n'),
    f('usr/lib/modules/6.9.0/initramfs.img', 'initramfs hostile\n'),
  ];
}

/** The host's tree minus the repository's content (a failed pull may leave unreferenced objects) and the proc/sys fakes. */
function hostTree(dir: string): string[] {
  return snapshotTree(dir).filter((l) => !/^(proc|sys)\//.test(l) && (!l.startsWith('sysroot/composefs/') || l.startsWith('sysroot/composefs/streams/refs')));
}

test('switch to hostile images on a booted host', { skip: missing ?? false, timeout: 300_000 }, async () => {
  const src = tempDir('tsbootc-hostile-switch-');
  try {
    const layout = path.join(src, 'oci');
    await buildOsImage(layout, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n' } });
    const h = await bootRealImage('systemd-type1', layout, 'v1');
    try {
      // 1. A second layer that escapes the root: one line, nothing on the host changed.
      const escape = path.join(src, 'escape');
      const l = writeOciLayout(escape, [Buffer.concat([...baseLayer('2'), TAR_END]), Buffer.concat([f('usr/../../../etc/cron.d/evil', '* * * * * root sh\n'), TAR_END])], { tag: 'x' });
      const before = hostTree(h.t.dir);
      const r = cli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${escape}:x`]);
      assertError(r, new RegExp(`^error: Switching: .*layer ${l.layers[1]!}: entry usr/\\.\\./\\.\\./\\.\\./etc/cron\\.d/evil: path usr/\\.\\./\\.\\./\\.\\./etc/cron\\.d/evil contains "\\.\\." \\(escapes the root\\)\\n$`));
      assert.deepEqual(hostTree(h.t.dir), before, 'a failed switch changed the host');
      assert.deepEqual(specialFiles(h.t.dir), []);
      tally.add('switch');

      // 2. Devices, fifos, setuid files and escaping symlinks: data in the image, never files on the host.
      const special = path.join(src, 'special');
      const layer = Buffer.concat([
        ...baseLayer('3'),
        rawEntry({ ...T, name: 'etc/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 }),
        rawEntry({ ...T, name: 'etc/sda', type: '4', mode: 0o660, devmajor: 8, devminor: 0 }),
        rawEntry({ ...T, name: 'etc/fifo', type: '6', mode: 0o644 }),
        rawEntry({ ...T, name: 'etc/escape', type: '2', linkname: '../../../../../../root/.ssh' }),
        rawEntry({ ...T, name: 'usr/bin/kmem', type: '3', mode: 0o640, devmajor: 1, devminor: 2 }),
        f('usr/bin/su', 'x'.repeat(200), 0o4755),
        f('usr/bin/wall', 'w', 0o2755),
        TAR_END,
      ]);
      writeOciLayout(special, [layer], { tag: 's' });
      const s = cli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${special}:s`]);
      assert.equal(s.stderr, '');
      assert.deepEqual([s.status, s.stdout], [0, `Queued for next boot: oci:${special}:s\n`]);
      assert.deepEqual(specialFiles(h.t.dir), [], 'a device node, fifo or setuid file on the host');
      const status = JSON.parse(cli(['--root', h.t.dir, 'status', '--json']).stdout) as { status: { staged: { composefs: { verity: string } } } };
      const staged = status.status.staged.composefs.verity;
      const etc = h.t.p(`/sysroot/state/deploy/${staged}/etc`);
      // The new deployment's /etc: devices and fifos skipped, the symlink kept as a symlink (not followed).
      assert.deepEqual(snapshotTree(etc), ['escape -> ../../../../../../root/.ssh', `hostname 644 ${Buffer.from('hostile\n').toString('base64')}`]);
      // The staged deployment's boot image (its id is the deployment id) holds them as inodes.
      const dump = cli(['internals', 'cfs', 'composefs-info', 'dump', h.t.p(`/sysroot/composefs/images/${staged}`)]);
      assert.equal(dump.stderr, '');
      const lines = dump.stdout.split('\n').filter((x) => /^\/(etc\/(null|sda|fifo|escape)|usr\/bin\/(kmem|su|wall)) /.test(x)).map((x) => x.split(' ').slice(0, 7).join(' '));
      assert.deepEqual(lines, [
        '/etc/escape 27 120644 1 0 0 0', // the tar header's mode, as composefs keeps it
        '/etc/fifo 0 10644 1 0 0 0',
        '/etc/null 0 20666 1 0 0 259',
        '/etc/sda 0 60660 1 0 0 2048',
        '/usr/bin/kmem 0 20640 1 0 0 258',
        '/usr/bin/su 200 104755 1 0 0 0',
        '/usr/bin/wall 1 102755 1 0 0 0',
      ]);
      tally.add('switch');
    } finally {
      fs.rmSync(h.t.dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
  tally.print('host-switch');
});
