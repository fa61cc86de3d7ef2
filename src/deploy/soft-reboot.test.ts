import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { TestRoot } from '../testing/test-root.js';
import { recordingMounts } from '../sys/mount-port.js';
import { formatErrorChain } from '../util/errors.js';
import type { Repository } from '../composefs/repository/index.js';
import { openBootState, type BootState } from './boot-state.js';
import type { RepoAccess } from './repo-access.js';
import { checkSoftRebootTarget, prepareSoftReboot, resetSoftReboot, NEXTROOT, NOT_CAPABLE_MESSAGE, SOFT_REBOOT_UNIT } from './soft-reboot.js';
import * as C from './constants.js';

async function opened(t: TestRoot, isRoot = true): Promise<BootState> {
  const st = await openBootState({ ...t.host(), isRoot });
  assert.ok(st !== undefined);
  return st;
}

/** A repository stand-in: images are files under the TestRoot's composefs dir. */
function fakeRepo(t: TestRoot, opens: string[]): RepoAccess {
  const repoPath = t.p('/sysroot/composefs');
  const repo = {
    path: repoPath,
    insecure: false,
    openImage: async (id: string) => {
      opens.push(id);
      return { id, data: Buffer.alloc(0), verified: true, via: `images/${id}` };
    },
    objectPath: (id: string) => `${repoPath}/objects/${id.slice(0, 2)}/${id.slice(2)}`,
    close: () => undefined,
  } as unknown as Repository;
  return { path: '/sysroot/composefs', open: async () => repo, openOrCreate: async () => repo };
}

async function withSoftRebootUnit(t: TestRoot): Promise<void> {
  await t.write(SOFT_REBOOT_UNIT, '[Unit]\n');
}

test('soft-reboot checks: no systemd support, the booted id, an unknown id', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  const staged = await t.stage(1, 'userspace');
  const st = await opened(t);
  const err = async (id: string, mode: 'required' | 'auto') => checkSoftRebootTarget(st, id, mode).then(() => 'ok', formatErrorChain);
  assert.equal(await err(staged.verity, 'auto'), `System does not support soft reboots (no ${SOFT_REBOOT_UNIT})`);
  await withSoftRebootUnit(t);
  assert.equal(await err(t.booted.verity, 'auto'), 'Cannot soft-reboot to currently booted deployment');
  assert.equal(await err('ab'.repeat(64), 'required'), `Deployment '${'ab'.repeat(64)}' not found`);
  assert.deepEqual(await checkSoftRebootTarget(st, staged.verity, 'required'), { capable: true });
});

test('soft-reboot capability: a new kernel is an error for required and "not capable" for auto, on every layout', async () => {
  for (const layout of ['systemd-type1', 'systemd-uki', 'grub-type1', 'grub-uki'] as const) {
    const t = await TestRoot.create({ layout });
    await withSoftRebootUnit(t);
    const same = await t.upgrade(1, 'userspace');
    const kernel = await t.stage(2, 'kernel');
    const st = await opened(t);
    await assert.rejects(checkSoftRebootTarget(st, kernel.verity, 'required'), (e: unknown) => formatErrorChain(e) === NOT_CAPABLE_MESSAGE, layout);
    const auto = await checkSoftRebootTarget(st, kernel.verity, 'auto');
    assert.deepEqual(auto, { capable: false, reason: 'its kernel, initramfs, kernel arguments or SELinux policy differ from the booted one' }, layout);
    // The rollback (build 0) has the booted kernel and kernel arguments.
    assert.deepEqual(await checkSoftRebootTarget(st, t.builds[0]!.verity, 'required'), { capable: true }, layout);
    assert.notEqual(same.verity, kernel.verity);
  }
});

test('prepareSoftReboot mounts the image read-only on /run/nextroot with /sysroot, /etc and /var bound', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await withSoftRebootUnit(t);
  const staged = await t.stage(1, 'userspace');
  await fs.mkdir(t.p('/sysroot/state/os/default/var'), { recursive: true });
  const st = await opened(t);
  const nextroot = t.p(NEXTROOT);
  // The recording port mounts nothing: the image's mount points are made by hand.
  const mounts = recordingMounts();
  await fs.mkdir(`${nextroot}/etc`, { recursive: true });
  await fs.mkdir(`${nextroot}/var`, { recursive: true });
  await fs.mkdir(`${nextroot}/sysroot`, { recursive: true });
  const opens: string[] = [];
  const r = await prepareSoftReboot(st, { repo: fakeRepo(t, opens), mounts }, { deployment: staged.verity, mode: 'required' });
  assert.deepEqual(r, { kind: 'prepared', deployment: staged.verity, nextroot });
  assert.deepEqual(opens, [staged.verity]);
  const scratch = mounts.calls[0]![3]!;
  assert.match(scratch, new RegExp(`^${t.p('/run/tsbootc')}/nextroot-erofs\\.[0-9a-f]{12}$`));
  const obj = `${t.p('/sysroot/composefs')}/objects/${staged.verity.slice(0, 2)}/${staged.verity.slice(2)}`;
  const sd = t.p(`/sysroot/${C.stateDirOf(staged.verity)}`);
  assert.deepEqual(mounts.calls, [
    ['mount', 'erofs', obj, scratch, '1', ''],
    ['mount', 'overlay', `composefs:${staged.verity}`, nextroot, '1', `metacopy=on,redirect_dir=on,lowerdir=${scratch}::${t.p('/sysroot/composefs')}/objects,verity=require`],
    ['umount', scratch, '2'],
    ['mount', 'none', t.p('/sysroot'), `${nextroot}/sysroot`, '4096', ''],
    ['mount', 'none', 'none', `${nextroot}/sysroot`, String(4096 | 32 | 1), ''],
    ['mount', 'none', `${sd}/etc`, `${nextroot}/etc`, '4096', ''],
    ['mount', 'none', `${sd}/var`, `${nextroot}/var`, '4096', ''],
  ]);
  // The scratch dir is gone; nothing was written outside the root.
  assert.deepEqual(await fs.readdir(t.p('/run/tsbootc')), []);
});

test('prepareSoftReboot: auto on a new kernel mounts nothing; non-root is refused before mounting; a failure detaches', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await withSoftRebootUnit(t);
  const kernel = await t.stage(1, 'kernel');
  const mounts = recordingMounts();
  const r = await prepareSoftReboot(await opened(t), { repo: fakeRepo(t, []), mounts }, { deployment: kernel.verity, mode: 'auto' });
  assert.equal(r.kind, 'not-capable');
  assert.deepEqual(mounts.calls, []);

  const u = await TestRoot.create({ layout: 'systemd-type1' });
  await withSoftRebootUnit(u);
  const same = await u.stage(1, 'userspace');
  await assert.rejects(prepareSoftReboot(await opened(u, false), { repo: fakeRepo(u, []), mounts }, { deployment: same.verity, mode: 'auto' }), (e: unknown) => {
    return formatErrorChain(e) === `Soft rebooting: Preparing ${u.p(NEXTROOT)}: mounting the deployment needs root`;
  });
  assert.deepEqual(mounts.calls, []);
  // The image has no /etc to bind onto: the overlay is detached again.
  await assert.rejects(prepareSoftReboot(await opened(u), { repo: fakeRepo(u, []), mounts }, { deployment: same.verity, mode: 'auto' }), (e: unknown) => {
    return formatErrorChain(e) === `Soft rebooting: Preparing ${u.p(NEXTROOT)}: the image of ${same.verity} has no /etc to mount on`;
  });
  assert.deepEqual(mounts.calls.at(-1), ['umount', u.p(NEXTROOT), '2']);
});

test('resetSoftReboot: nothing prepared when /run/nextroot is missing or not a mount point', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  const mounts = recordingMounts();
  assert.equal(await resetSoftReboot(t.root, mounts), 'not-prepared');
  await fs.mkdir(t.p(NEXTROOT), { recursive: true });
  assert.equal(await resetSoftReboot(t.root, mounts), 'not-prepared');
  assert.deepEqual(mounts.calls, []);
});
