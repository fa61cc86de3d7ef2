import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FakeRunner, fakeHost } from '../../testing/fake-runner.js';
import { TestRoot } from '../../testing/test-root.js';
import { memoryOutput } from '../output.js';
import type { Context } from '../context.js';
import { deployHandlers, maybeReboot, ROLLBACK_SOFT_REBOOT_NOTICE } from './deploy.js';

function ctxOf(t: TestRoot | undefined, run: FakeRunner): Context & { out: ReturnType<typeof memoryOutput> } {
  // Without a TestRoot: the real `/` with a fake Runner (only maybeReboot is given it).
  const host = t === undefined ? fakeHost(run, { rootDir: '/' }) : t.host(run);
  return { host, out: memoryOutput(), argv0: 'tsbootc', verbose: false };
}

test('rollback --soft-reboot: accepted, ignored with a notice on stderr, the rollback happens', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.upgrade(1, 'kernel');
  const run = new FakeRunner({ strict: true });
  const ctx = ctxOf(t, run);
  assert.equal(await deployHandlers.rollback!(ctx, { 'soft-reboot': 'auto' }), 0);
  assert.deepEqual([ctx.out.text(), ctx.out.warnings, run.argvs], ['Next boot: rollback deployment\n', [ROLLBACK_SOFT_REBOOT_NOTICE], []]);
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
