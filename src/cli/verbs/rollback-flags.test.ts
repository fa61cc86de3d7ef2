import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FakeRunner, fakeHost } from '../../testing/fake-runner.js';
import { TestRoot } from '../../testing/test-root.js';
import { memoryOutput } from '../output.js';
import type { Context } from '../context.js';
import { deployHandlers, maybeReboot } from './deploy.js';
import { formatErrorChain } from '../../util/errors.js';
import { SOFT_REBOOT_UNIT } from '../../deploy/soft-reboot.js';

function ctxOf(t: TestRoot | undefined, run: FakeRunner): Context & { out: ReturnType<typeof memoryOutput> } {
  // Without a TestRoot: the real `/` with a fake Runner (only maybeReboot is given it).
  const host = t === undefined ? fakeHost(run, { rootDir: '/' }) : t.host(run);
  return { host, out: memoryOutput(), argv0: 'tsbootc', verbose: false };
}

test('rollback --soft-reboot=required to a new kernel fails before anything changes; auto falls back to --apply', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.write(SOFT_REBOOT_UNIT, '');
  await t.upgrade(1, 'kernel');
  const before = await t.tree();
  const run = new FakeRunner({ strict: true });
  const ctx = ctxOf(t, run);
  await assert.rejects(deployHandlers.rollback!(ctx, { 'soft-reboot': 'required' }), (e: unknown) => formatErrorChain(e) === 'Cannot soft-reboot to deployment with a different kernel state');
  assert.deepEqual(await t.tree(), before);
  assert.equal(await deployHandlers.rollback!(ctx, { 'soft-reboot': 'auto', apply: true }), 0);
  const rollback = t.builds[0]!.verity;
  assert.deepEqual(
    [ctx.out.text(), ctx.out.warnings, run.argvs],
    [
      `Next boot: rollback deployment\nDeployment ${rollback} cannot be soft-rebooted into (its kernel, initramfs, kernel arguments or SELinux policy differ from the booted one); rebooting instead\nWould reboot now (systemctl reboot), but ${t.dir} is not the running system\n`,
      [],
      [],
    ],
  );
});

test('rollback --soft-reboot when reverting a queued rollback: the booted deployment needs no soft reboot', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.write(SOFT_REBOOT_UNIT, '');
  await t.upgrade(1, 'userspace');
  await t.bootcRollback();
  const run = new FakeRunner({ strict: true });
  const ctx = ctxOf(t, run);
  await assert.rejects(deployHandlers.rollback!(ctx, { 'soft-reboot': 'required' }), (e: unknown) => formatErrorChain(e) === 'Cannot soft-reboot to currently booted deployment');
  assert.equal(await deployHandlers.rollback!(ctx, { 'soft-reboot': 'auto' }), 0);
  assert.deepEqual([ctx.out.text(), run.argvs], ['notice: Reverting queued rollback state\nNext boot: current deployment\n', []]);
});

test('rollback --apply on --root ≠ /: says what it would do, runs nothing', async () => {
  const t = await TestRoot.create({ layout: 'grub-uki' });
  await t.upgrade(1, 'both');
  const run = new FakeRunner({ strict: true });
  const ctx = ctxOf(t, run);
  assert.equal(await deployHandlers.rollback!(ctx, { apply: true }), 0);
  assert.equal(ctx.out.text(), `Next boot: rollback deployment\nWould reboot now (systemctl reboot), but ${t.dir} is not the running system\n`);
  assert.deepEqual(run.argvs, []);
});

test('maybeReboot: on the real root --apply reboots through the Runner; without --apply nothing', async () => {
  const run = new FakeRunner({ strict: true }).on(['systemctl', 'reboot'], {});
  const ctx = ctxOf(undefined, run);
  await maybeReboot(ctx, false);
  assert.deepEqual(run.argvs, []);
  await maybeReboot(ctx, true);
  assert.deepEqual([run.argvs, ctx.out.text()], [[['systemctl', 'reboot']], '']);
});
