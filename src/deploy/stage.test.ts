import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { TestRoot, LAYOUTS } from '../testing/test-root.js';
import { openBootState } from './boot-state.js';
import { finalizeStaged, installDeployment, stageDeployment, bootTargetFor } from './stage.js';
import { getStatus } from './status.js';
import { Root } from '../sys/root.js';
import { rejectsWith } from '../testing/assert.js';

async function contents(t: TestRoot, skip: (p: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const p of await t.tree()) {
    if (skip(p)) continue;
    if (p.endsWith('/') || p.includes(' -> ')) out.push(p);
    else out.push(`${p}: ${(await fs.readFile(t.p(p))).toString('base64')}`);
  }
  return out;
}

const notRepo = (p: string) => p.startsWith('/sysroot/composefs');

test('stageDeployment writes exactly what bootc writes (TestRoot templates), and finalize commits it, in every layout', async () => {
  for (const layout of LAYOUTS) {
    for (const change of ['userspace', 'kernel'] as const) {
      const a = await TestRoot.create({ layout });
      await a.upgrade(1, 'userspace');
      await a.stage(2, change);
      const b = await TestRoot.create({ layout });
      await b.upgrade(1, 'userspace');
      const b2 = b.prepareBuild(2, change);
      const st = (await openBootState(b.host()))!;
      await stageDeployment(st, b.deploymentSpec(b2), { downloadOnly: false });
      assert.deepEqual(await contents(b, notRepo), await contents(a, notRepo), `${layout} ${change}: staged tree`);
      assert.equal(await finalizeStaged(st), 'finalized');
      await a.reboot();
      const bootOnly = (p: string) => !(p.startsWith(a.bootDir) || p.startsWith(a.espMount));
      assert.deepEqual(await contents(b, bootOnly), await contents(a, bootOnly), `${layout} ${change}: finalized boot tree`);
    }
  }
});

test('kernel dirs are shared: a userspace-only upgrade points at the older kernel dir', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  const b1 = t.prepareBuild(1, 'userspace');
  const st = (await openBootState(t.host()))!;
  await stageDeployment(st, t.deploymentSpec(b1), { downloadOnly: false });
  const entry = await t.read('/boot/loader/entries.staged/bootc_fedora-44-1.conf');
  assert.match(entry, new RegExp(`^linux /EFI/Linux/bootc_composefs-${t.builds[0]!.verity}/vmlinuz$`, 'm'));
  assert.match(entry, new RegExp(`^options .* composefs=${b1.verity}$`, 'm'));
  assert.deepEqual((await t.tree('/boot/EFI/Linux')).filter((p) => p.endsWith('/')), [`/boot/EFI/Linux/bootc_composefs-${t.builds[0]!.verity}/`]);
});

test('download-only staging is not finalized; staging refuses the booted id and a host without the booted entry', async () => {
  const t = await TestRoot.create({ layout: 'grub-uki' });
  const st = (await openBootState(t.host()))!;
  const b1 = t.prepareBuild(1, 'kernel');
  await stageDeployment(st, t.deploymentSpec(b1), { downloadOnly: true });
  assert.equal(await t.read('/run/composefs/staged-deployment'), `{"depl_id":"${b1.verity}","finalization_locked":true}`);
  assert.equal(await finalizeStaged(st), 'download-only');
  const h = (await getStatus(t.host(), { bootedOnly: false }, { images: t.imageMetadata() })).host;
  assert.equal(h.status.staged?.downloadOnly, true);
  await rejectsWith(stageDeployment(st, t.deploymentSpec(t.builds[0]!), { downloadOnly: false }), /is the booted one/);
  await fs.rm(t.p('/sysroot/boot/grub2/user.cfg'));
  await fs.writeFile(t.p('/sysroot/boot/grub2/user.cfg'), '');
  await rejectsWith(stageDeployment(st, t.deploymentSpec(t.prepareBuild(2, 'kernel')), { downloadOnly: false }), /No boot entry for the booted deployment/);
});

test('installDeployment writes the first deployment like a bootc install', async () => {
  for (const layout of LAYOUTS) {
    const a = await TestRoot.create({ layout });
    const b = await TestRoot.create({ layout });
    // Wipe b's boot side and state, then install build 0 with production code.
    for (const p of ['/boot', '/sysroot/boot', '/sysroot/state']) await fs.rm(b.p(p), { recursive: true, force: true });
    await fs.mkdir(b.p(b.espMount), { recursive: true });
    const st = (await openBootState(b.host()))!;
    const target = await bootTargetFor(st, layout.endsWith('uki'));
    await installDeployment(target, new Root(b.p('/sysroot')), b.deploymentSpec(b.builds[0]!), layout === 'grub-uki' ? 'ABCD-1234' : undefined);
    const skip = (p: string) => notRepo(p) || p === '/boot/' || p === '/boot/efi/';
    assert.deepEqual(await contents(b, skip), await contents(a, skip), layout);
  }
});

test('the UKI entry key follows the booted entry (uki for systemd >= 258)', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki', efiKey: 'uki' });
  const b1 = t.prepareBuild(1, 'kernel');
  await stageDeployment((await openBootState(t.host()))!, t.deploymentSpec(b1), { downloadOnly: false });
  assert.equal(
    await t.read('/boot/loader/entries.staged/bootc_fedora-44-1.conf'),
    `title Fedora Linux 44 (Forty Four) 44\nversion 44\nuki /EFI/Linux/bootc/bootc_composefs-${b1.verity}.efi\nsort-key bootc-fedora-0\n`,
  );
});

test('GRUB: the secondary entry is named with the primary version so blscfg keeps the new deployment first', async () => {
  const t = await TestRoot.create({ layout: 'grub-type1' });
  const b1 = t.prepareBuild(1, 'kernel');
  const spec = t.deploymentSpec(b1);
  // The new image is older (VERSION_ID 43): bootc would name the booted entry bootc_fedora-44-0.conf, which GRUB sorts first.
  const payload = spec.payload.kind === 'type1' ? { ...spec.payload, osRelease: 'ID=fedora\nVERSION_ID=43\n' } : spec.payload;
  await stageDeployment((await openBootState(t.host()))!, { ...spec, payload }, { downloadOnly: false });
  assert.deepEqual((await t.tree('/sysroot/boot/loader/entries.staged')).map((p) => p.split('/').pop()), ['bootc_fedora-43-0.conf', 'bootc_fedora-43-1.conf']);
  assert.match(await t.read('/sysroot/boot/loader/entries.staged/bootc_fedora-43-0.conf'), /^version 44$/m);
  const { sortBlsEntries } = await import('../boot/entry-order.js');
  const { parseBls } = await import('../boot/bls.js');
  const names = ['bootc_fedora-43-0.conf', 'bootc_fedora-43-1.conf'];
  const sorted = sortBlsEntries(await Promise.all(names.map(async (fileName) => ({ fileName, entry: parseBls(await t.read(`/sysroot/boot/loader/entries.staged/${fileName}`)) }))), 'grub');
  assert.equal(sorted[0]!.fileName, 'bootc_fedora-43-1.conf');
});

test('an upgrade interrupted before the /run marker is garbage: status ignores it and the next open removes the staged set', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.stage(1, 'kernel');
  await fs.rm(t.p('/run/composefs/staged-deployment'));
  const before = await getStatus(t.host(), { bootedOnly: false }, { images: t.imageMetadata() });
  assert.equal(before.host.status.staged, null);
  assert.deepEqual((await t.tree('/boot/loader')).filter((p) => p.includes('entries.staged')), []);
  assert.equal(before.host.status.rollback, null);
});
