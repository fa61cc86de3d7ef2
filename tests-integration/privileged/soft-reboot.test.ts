/**
 * Soft reboot on a fake root for real: `upgrade --soft-reboot=required
 * --apply` to an image with the booted kernel mounts the new deployment on
 * <root>/run/nextroot (EROFS + overlay over the repository objects, /etc and
 * /var bound from the state dir, /sysroot bound read-only), whose tree is
 * the image's (compared with umoci's unpack of the same layout); it prints
 * the soft-reboot it would run; `prep-soft-reboot --reset` unmounts it all.
 * Nothing is mounted outside the root.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { writeUnder } from '../helpers/host.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { bootRealImage, buildOsImage, snapshotTree } from '../helpers/os-image.js';
import { MNT_DETACH, umount } from '../../src/sys/libc.js';
import { parseMountinfo } from '../../src/deploy/detect.js';

const filesystems = fs.existsSync('/proc/filesystems') ? fs.readFileSync('/proc/filesystems', 'utf8') : '';
const skip =
  privilegedSkipReason(['umoci', 'skopeo']) ?? (!/\toverlay\n/.test(filesystems) ? 'the kernel lacks overlayfs' : !/\terofs\n/.test(filesystems) ? 'the kernel lacks erofs' : undefined);
if (skip !== undefined) console.log(`# soft-reboot privileged tests skipped: ${skip}`);

const mountPoints = () => parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint);

/** The tree under `dir` without the subtrees that are mount points of their own. */
function imageTree(dir: string): string[] {
  return snapshotTree(dir).filter((l) => !/^(etc|var|sysroot)\//.test(l));
}

/** What the boot image holds of an unpacked image: /boot emptied (composefs-rs `transform_for_boot`). */
function bootImageTree(unpacked: string): string[] {
  return imageTree(unpacked).filter((l) => !/^boot\/[^ ]/.test(l));
}

test('upgrade --soft-reboot=required --apply mounts the deployment on <root>/run/nextroot; --reset unmounts it', { skip: skip ?? false }, async () => {
  const layout = path.join(tempDir('tsbootc-sr-img-'), 'oci');
  const common = { kernel: '1', etc: { hostname: 'v1\n', 'conf/a': 'a\n' }, kargs: ['quiet'] };
  await buildOsImage(layout, 'v1', { ...common, version: '1.0', extra: [{ path: 'var/.keep', content: '' }] });
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  writeUnder(h.t.dir, '/usr/lib/systemd/system/soft-reboot.target', '[Unit]\n');
  await buildOsImage(layout, 'v1', { ...common, version: '1.1', extra: [{ path: 'var/.keep', content: '' }, { path: 'usr/lib/new', content: 'new\n' }] });
  const unpacked = path.join(tempDir('tsbootc-sr-unpack-'), 'bundle');
  execFileSync('umoci', ['raw', 'unpack', '--image', `${layout}:v1`, unpacked], { stdio: ['ignore', 'pipe', 'pipe'] });

  const nextroot = h.t.p('/run/nextroot');
  const before = mountPoints();
  try {
    const up = runCli(['--root', h.t.dir, 'upgrade', '--quiet', '--soft-reboot=required', '--apply']);
    assert.deepEqual(
      [up.status, up.stdout, up.stderr],
      [0, `Queued for next boot: oci:${layout}:v1\nSoft reboot setup complete\nWould soft-reboot now (systemctl soft-reboot), but ${h.t.dir} is not the running system\n`, ''],
    );
    const staged = (JSON.parse(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8')) as { depl_id: string }).depl_id;
    const added = mountPoints().filter((m) => !before.includes(m));
    assert.deepEqual(added, [nextroot, `${nextroot}/sysroot`, `${nextroot}/etc`, `${nextroot}/var`]);
    assert.deepEqual(fs.existsSync(h.t.p('/run/tsbootc')) ? fs.readdirSync(h.t.p('/run/tsbootc')) : [], [], 'the EROFS scratch mount point is removed');
    // The image itself, read-only.
    assert.deepEqual(imageTree(nextroot), bootImageTree(unpacked));
    assert.equal(fs.readFileSync(`${nextroot}/usr/lib/new`, 'utf8'), 'new\n');
    assert.throws(() => fs.writeFileSync(`${nextroot}/usr/x`, 'x'), /EROFS/);
    // /etc is the staged state dir's, writable; /var the shared one.
    const sd = h.t.p(`/sysroot/state/deploy/${staged}`);
    assert.deepEqual(snapshotTree(`${nextroot}/etc`), snapshotTree(`${sd}/etc`));
    fs.writeFileSync(`${nextroot}/var/written`, 'v\n');
    assert.equal(fs.readFileSync(h.t.p('/sysroot/state/os/default/var/written'), 'utf8'), 'v\n');
    // /sysroot is the physical root, read-only.
    assert.deepEqual(fs.readdirSync(`${nextroot}/sysroot`).sort(), fs.readdirSync(h.t.p('/sysroot')).sort());
    assert.throws(() => fs.writeFileSync(`${nextroot}/sysroot/x`, 'x'), /EROFS/);

    const reset = runCli(['--root', h.t.dir, 'internals', 'prep-soft-reboot', '--reset']);
    assert.deepEqual([reset.status, reset.stdout, reset.stderr], [0, 'Cleared soft reboot queued state\n', '']);
    assert.deepEqual(mountPoints().filter((m) => !before.includes(m)), []);
    assert.deepEqual(fs.readdirSync(nextroot), []);

    // The internals verb does the same; a second preparation replaces the first.
    const prep = runCli(['--root', h.t.dir, 'internals', 'prep-soft-reboot', staged]);
    assert.deepEqual([prep.status, prep.stdout, prep.stderr], [0, 'Soft reboot setup complete\n', '']);
    const again = runCli(['--root', h.t.dir, 'internals', 'prep-soft-reboot', staged, '--reboot']);
    assert.deepEqual([again.status, again.stdout, again.stderr], [0, `Soft reboot setup complete\nWould soft-reboot now (systemctl soft-reboot), but ${h.t.dir} is not the running system\n`, '']);
    assert.deepEqual(mountPoints().filter((m) => !before.includes(m)), [nextroot, `${nextroot}/sysroot`, `${nextroot}/etc`, `${nextroot}/var`]);
    assert.deepEqual(imageTree(nextroot), bootImageTree(unpacked));
    const reset2 = runCli(['--root', h.t.dir, 'internals', 'prep-soft-reboot', '--reset']);
    assert.deepEqual([reset2.status, reset2.stdout], [0, 'Cleared soft reboot queued state\n']);
    assert.deepEqual(mountPoints().filter((m) => !before.includes(m)), []);
  } finally {
    for (const m of mountPoints().reverse()) if (m.startsWith(`${h.t.dir}/`)) umount(m, MNT_DETACH);
  }
});
