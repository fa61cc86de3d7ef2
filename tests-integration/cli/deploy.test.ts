import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { TestRoot } from '../../src/testing/test-root.js';

test('rollback, then rollback again, through the CLI', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  await t.upgrade(1, 'kernel');
  const r1 = runCli(['--root', t.dir, 'rollback']);
  assert.deepEqual([r1.status, r1.stdout, r1.stderr], [0, 'Next boot: rollback deployment\n', '']);
  const s = JSON.parse(runCli(['--root', t.dir, 'status', '--json']).stdout) as { spec: { bootOrder: string }; status: { rollbackQueued: boolean } };
  assert.deepEqual([s.spec.bootOrder, s.status.rollbackQueued], ['rollback', true]);
  const r2 = runCli(['--root', t.dir, 'rollback']);
  assert.deepEqual([r2.status, r2.stdout], [0, 'notice: Reverting queued rollback state\nNext boot: current deployment\n']);
});

test('rollback on a host not deployed via bootc, and with nothing to roll back to', async () => {
  const r = runCli(['--root', tempDir(), 'rollback']);
  assert.deepEqual([r.status, r.stderr], [1, 'error: System is not deployed via bootc (no composefs= on the kernel command line)\n']);
  const t = await TestRoot.create({ layout: 'grub-type1' });
  const n = runCli(['--root', t.dir, 'rollback']);
  assert.deepEqual([n.status, n.stderr], [1, 'error: Rolling back: No rollback available\n']);
});

test('internals composefs-gc: dry run, assert-no-op, then the real thing; delete-deployment', async () => {
  const t = await TestRoot.create({ layout: 'grub-type1' });
  await t.upgrade(1, 'kernel');
  await t.upgrade(2, 'kernel');
  const kdir = `/sysroot/boot/bootc_composefs-${t.builds[0]!.verity}`;
  const dry = runCli(['--root', t.dir, 'internals', 'composefs-gc', '--dry-run']);
  assert.deepEqual([dry.status, dry.stdout], [0, `Would remove ${kdir}\nDry run (no files deleted)\n`]);
  const noop = runCli(['--root', t.dir, 'internals', 'composefs-gc', '--assert-no-op']);
  assert.deepEqual([noop.status, noop.stderr], [1, 'error: composefs-gc --assert-no-op: 1 item(s) would be removed\n']);
  const gc = runCli(['--root', t.dir, 'internals', 'composefs-gc', '--prune-repo']);
  assert.equal(gc.status, 0);
  assert.equal(gc.stdout, `Removed ${kdir}\nRemoved /sysroot/state/deploy/${t.builds[0]!.verity}\n`);
  assert.equal(gc.stderr, 'warning: no composefs repository at /sysroot/composefs; only boot artifacts and state dirs were collected\n');
  assert.equal(runCli(['--root', t.dir, 'internals', 'composefs-gc', '--assert-no-op']).status, 0);
  const del = runCli(['--root', t.dir, 'delete-deployment', t.builds[1]!.verity]);
  assert.equal(del.status, 0, del.stderr);
  assert.equal(
    del.stdout,
    `Removed boot entry /sysroot/boot/loader/entries/bootc_fedora-44-0.conf\nRemoved /sysroot/boot/bootc_composefs-${t.builds[1]!.verity}\nRemoved /sysroot/state/deploy/${t.builds[1]!.verity}\n`,
  );
});

test('status on a deployed host: YAML in bootc field order, --format-version 0 equals 1, --booted nulls staged and rollback', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.upgrade(1, 'userspace');
  await t.stage(2, 'kernel');
  const y = runCli(['--root', t.dir, 'status', '--format', 'yaml']);
  assert.equal(y.status, 0);
  assert.match(y.stdout, /^apiVersion: org\.containers\.bootc\/v1\nkind: BootcHost\nmetadata:\n {2}name: host\nspec:\n {2}image:\n {4}image: quay\.io\/example\/os:latest\n {4}transport: registry\n {2}bootOrder: default\nstatus:\n {2}staged:\n {4}image: null\n/);
  const v0 = runCli(['--root', t.dir, 'status', '--json', '--format-version', '0']);
  const v1 = runCli(['--root', t.dir, 'status', '--json', '--format-version', '1']);
  assert.equal(v0.stdout, v1.stdout);
  const b = JSON.parse(runCli(['--root', t.dir, 'status', '--json', '--booted']).stdout) as { status: { staged: unknown; rollback: unknown; booted: { composefs: { verity: string } } } };
  assert.deepEqual([b.status.staged, b.status.rollback, b.status.booted.composefs.verity], [null, null, t.builds[1]!.verity]);
});
