import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { TestRoot, LAYOUTS, type Layout } from '../testing/test-root.js';
import { assertGolden, hostSchemaErrors } from '../testing/golden.js';
import { rejectsWith } from '../testing/assert.js';
import { openBootState, type BootState } from './boot-state.js';
import { migrateLegacyLayout } from './migrate.js';
import { rollback } from './rollback.js';
import { composefsGc } from './gc.js';
import { deleteDeployment } from './delete.js';
import { getStatus } from './status.js';

async function open(t: TestRoot): Promise<BootState> {
  const st = (await openBootState(t.host()))!;
  await migrateLegacyLayout(st);
  return st;
}

async function status(t: TestRoot) {
  const r = await getStatus(t.host(), { bootedOnly: false }, { images: t.imageMetadata() });
  assert.equal(hostSchemaErrors(r.host), '');
  return r;
}

const slots = async (t: TestRoot) => {
  const h = (await status(t)).host;
  const n = (v: string | undefined) => (v === undefined ? null : t.builds.findIndex((b) => b.verity === v));
  return { booted: n(h.status.booted?.composefs?.verity), staged: n(h.status.staged?.composefs?.verity), rollback: n(h.status.rollback?.composefs?.verity), queued: h.status.rollbackQueued, others: (h.status.otherDeployments ?? []).length };
};

/** Boot dir + ESP + state, with file contents for entries and origins. */
async function bootTree(t: TestRoot): Promise<string[]> {
  const out: string[] = [];
  for (const p of await t.tree()) {
    if (!/^\/(boot|sysroot\/boot|sysroot\/state|run)\//.test(p)) continue;
    if (/\.(conf|cfg|staged|origin)$|staged-deployment$/.test(p)) out.push(`${p}\n  ${(await t.read(p)).trimEnd().replace(/\n/g, '\n  ')}`);
    else out.push(p);
  }
  return out.map((l) => l.replace(/[0-9a-f]{128}/g, (v) => `<build ${t.builds.findIndex((b) => b.verity === v)}>`));
}

async function goldenScenario(name: string, scenario: (t: TestRoot, layout: Layout) => Promise<void>, opts: { legacy?: boolean } = {}) {
  const out: Record<string, unknown> = {};
  for (const layout of LAYOUTS) {
    const t = await TestRoot.create({ layout, legacy: opts.legacy ?? false });
    await scenario(t, layout);
    const r = await status(t);
    out[layout] = { tree: await bootTree(t), warnings: r.warnings, host: r.host };
  }
  assertGolden(`lifecycle/${name}.json`, JSON.stringify(out, null, 2) + '\n');
}

test('rollback queues the previous deployment; a second rollback restores the original entries byte for byte', async () => {
  for (const layout of LAYOUTS) {
    const t = await TestRoot.create({ layout });
    await t.upgrade(1, 'kernel');
    const before = await bootTree(t);
    assert.deepEqual((await rollback(await open(t))).messages, ['Next boot: rollback deployment']);
    assert.deepEqual(await slots(t), { booted: 1, staged: null, rollback: 0, queued: true, others: 0 }, layout);
    assert.deepEqual((await rollback(await open(t))).messages, ['notice: Reverting queued rollback state', 'Next boot: current deployment']);
    assert.deepEqual(await slots(t), { booted: 1, staged: null, rollback: 0, queued: false, others: 0 }, layout);
    assert.deepEqual(await bootTree(t), before, layout);
  }
});

test('lifecycle golden: rollback, then reboot into it', () =>
  goldenScenario('rollback-rebooted', async (t) => {
    await t.upgrade(1, 'kernel');
    await rollback(await open(t));
    await t.bootInto(t.builds[0]!);
  }));

test('lifecycle golden: staged then rollback drops the staged deployment', () =>
  goldenScenario('staged-then-rollback', async (t) => {
    await t.upgrade(1, 'userspace');
    await t.stage(2, 'kernel');
    const r = await rollback(await open(t));
    assert.deepEqual(r.messages, ['Next boot: rollback deployment']);
  }));

test('lifecycle golden: three upgrades then GC keeps exactly booted + rollback (shared kernel dirs kept while referenced)', () =>
  goldenScenario('three-upgrades-gc', async (t) => {
    await t.upgrade(1, 'userspace');
    await t.upgrade(2, 'userspace');
    await t.upgrade(3, 'kernel');
    // Build 2 shares build 0's kernel dir: it must survive although builds 0 and 1 are gone.
    const dry = await composefsGc(await open(t), { dryRun: true, pruneRepo: true });
    const gc = await composefsGc(await open(t), { dryRun: false, pruneRepo: true });
    assert.deepEqual(gc.removed, dry.removed);
    assert.deepEqual(gc.removed.map((p) => p.replace(/[0-9a-f]{128}/g, (v) => `<build ${t.builds.findIndex((b) => b.verity === v)}>`)).sort(), [
      ...(t.uki ? [`${t.espMount}/EFI/Linux/bootc/bootc_composefs-<build 0>.efi`, `${t.espMount}/EFI/Linux/bootc/bootc_composefs-<build 1>.efi`] : []),
      '/sysroot/state/deploy/<build 0>',
      '/sysroot/state/deploy/<build 1>',
    ]);
    assert.deepEqual(gc.roots, { verities: [t.builds[2]!.verity, t.builds[3]!.verity].sort(), manifestDigests: [t.builds[2]!, t.builds[3]!].sort((a, b) => (a.verity < b.verity ? -1 : 1)).map((b) => b.manifestDigest) });
    assert.deepEqual((await composefsGc(await open(t), { dryRun: true, pruneRepo: true })).removed, []);
  }));

test('GC without prune removes only unreferenced boot binaries; it refuses to touch the booted deployment', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.upgrade(1, 'kernel');
  await t.upgrade(2, 'kernel');
  const gc = await composefsGc(await open(t), { dryRun: false, pruneRepo: false });
  assert.deepEqual(gc.removed, [`/boot/EFI/Linux/bootc_composefs-${t.builds[0]!.verity}`]);
  // An entry set that lost the booted entry: GC must refuse rather than delete the booted kernel.
  await fs.rm(t.p('/boot/loader/entries/bootc_fedora-44-1.conf'));
  const before = await t.tree();
  await rejectsWith(composefsGc(await open(t), { dryRun: false, pruneRepo: true }), new RegExp(`Inconsistent state. Booted binaries '${t.builds[2]!.verity}' found for cleanup`));
  assert.deepEqual(await t.tree(), before);
});

test('delete-deployment removes the rollback, refuses the booted one and unknown ids, un-queues a queued rollback', async () => {
  for (const layout of LAYOUTS) {
    const t = await TestRoot.create({ layout });
    await t.upgrade(1, 'kernel');
    await rejectsWith(deleteDeployment(await open(t), t.builds[1]!.verity), /Cannot delete the booted deployment/);
    await rejectsWith(deleteDeployment(await open(t), 'f'.repeat(128)), /No deployment f+/);
    await rollback(await open(t));
    await deleteDeployment(await open(t), t.builds[0]!.verity);
    assert.deepEqual(await slots(t), { booted: 1, staged: null, rollback: null, queued: false, others: 0 }, layout);
    assert.equal((await t.tree('/sysroot/state/deploy')).filter((p) => p.endsWith('.origin')).length, 1, layout);
  }
});

test('rollback refuses when there is nothing to roll back to, and names a malformed entry file', async () => {
  const t = await TestRoot.create({ layout: 'grub-type1' });
  await rejectsWith(rollback(await open(t)), /^Rolling back: No rollback available$/);
  await t.upgrade(1, 'kernel');
  await t.write('/sysroot/boot/loader/entries/zz.conf', 'title x\n');
  const before = await t.tree();
  await rejectsWith(rollback(await open(t)), /^Rolling back: Parsing \/sysroot\/boot\/loader\/entries\/zz.conf: missing version$/);
  assert.deepEqual(await t.tree(), before);
});

test('rollback keeps foreign entries and handles more than two deployments', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.upgrade(1, 'kernel');
  await t.write('/boot/loader/entries/memtest.conf', 'title Memtest86+\nversion 7\nlinux /memtest.efi\n');
  await t.write('/boot/loader/entries/bootc_fedora-43-0.conf', (await t.read('/boot/loader/entries/bootc_fedora-44-0.conf')).replace('version 44', 'version 43'));
  const r = await rollback(await open(t));
  assert.deepEqual(r.messages, [
    'Next boot: rollback deployment',
    `Dropping the boot entry of deployment ${t.builds[0]!.verity} (bootc_fedora-43-0.conf); only the default and the rollback are kept`,
  ]);
  assert.deepEqual((await t.tree('/boot/loader')).filter((p) => p.endsWith('.conf')), ['/boot/loader/entries/bootc_fedora-44-0.conf', '/boot/loader/entries/bootc_fedora-44-1.conf', '/boot/loader/entries/memtest.conf']);
  assert.deepEqual(await slots(t), { booted: 1, staged: null, rollback: 0, queued: true, others: 0 });
});

test('lifecycle golden: migration of a bootc 1.12–1.15 layout (unprefixed artifacts, old names, .imginfo, UKI digest back-fill)', () =>
  goldenScenario('legacy-migrated', async (t) => {
    await t.upgrade(1, 'kernel');
    const st = (await openBootState(t.host()))!;
    const r = await migrateLegacyLayout(st);
    assert.ok(r.changes.length > 0);
    assert.deepEqual(await migrateLegacyLayout((await openBootState(t.host()))!), { changes: [], warnings: [] }, 'idempotent');
  }, { legacy: true }));

test('migration is crash-safe: interrupted at any point the host still boots and the next open finishes', async () => {
  for (const layout of ['systemd-type1', 'grub-type1', 'systemd-uki'] as const) {
    const ref = await TestRoot.create({ layout, legacy: true });
    await ref.upgrade(1, 'kernel');
    await migrateLegacyLayout((await openBootState(ref.host()))!);
    const want = await bootTree(ref);
    const steps: string[] = [];
    const probe = await TestRoot.create({ layout, legacy: true });
    await probe.upgrade(1, 'kernel');
    await migrateLegacyLayout((await openBootState(probe.host()))!, { step: (s) => steps.push(s) });
    for (const s of steps) {
      const t = await TestRoot.create({ layout, legacy: true });
      await t.upgrade(1, 'kernel');
      await rejectsWith(migrateLegacyLayout((await openBootState(t.host()))!, { step: (x) => { if (x === s) throw new Error('crash'); } }), /crash/);
      // Every live entry still points at files that exist.
      for (const e of (await t.tree()).filter((p) => /\/loader\/entries\/[^/]+\.conf$/.test(p))) {
        for (const m of (await t.read(e)).matchAll(/^(?:linux|initrd|efi|uki) (\S+)$/gm)) await fs.access(t.p((t.grub ? '/sysroot' : t.espMount) + m[1]!));
      }
      await migrateLegacyLayout((await openBootState(t.host()))!);
      assert.deepEqual(await bootTree(t), want, `${layout}: crash at ${s}`);
    }
  }
});
