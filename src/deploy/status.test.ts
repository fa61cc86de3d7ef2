import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { TestRoot, LAYOUTS, type Layout } from '../testing/test-root.js';
import { assertGolden, hostSchemaErrors } from '../testing/golden.js';
import { mapImageMetadata } from './image-metadata.js';
import { getStatus } from './status.js';
import { renderHumanStatus } from '../cli/status-human.js';

type Scenario = (t: TestRoot) => Promise<void>;

async function statusOf(t: TestRoot, images = t.imageMetadata()) {
  const r = await getStatus(t.host(), { bootedOnly: false }, { images });
  assert.equal(hostSchemaErrors(r.host), '');
  return r;
}

async function goldenAcrossLayouts(name: string, scenario: Scenario, layouts: readonly Layout[] = LAYOUTS): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const layout of layouts) {
    const t = await TestRoot.create({ layout });
    await scenario(t);
    const r = await statusOf(t);
    out[layout] = { warnings: r.warnings, host: r.host };
  }
  assertGolden(`status/${name}.json`, JSON.stringify(out, null, 2) + '\n');
}

test('status golden: fresh install, every layout', () => goldenAcrossLayouts('fresh', async () => {}));

test('status golden: three upgrades mixing kernel and userspace changes', () =>
  goldenAcrossLayouts('three-upgrades', async (t) => {
    await t.upgrade(1, 'userspace');
    await t.upgrade(2, 'kernel');
    await t.upgrade(3, 'both');
  }));

test('status golden: staged (soft-reboot capable: same kernel) and download-only staged', async () => {
  await goldenAcrossLayouts('staged', async (t) => {
    await t.stage(1, 'userspace');
  });
  await goldenAcrossLayouts('staged-download-only', async (t) => {
    await t.stage(1, 'kernel', { downloadOnly: true });
  });
});

test('status golden: after bootc rollback (entries renamed bootc_bootc-*) the rollback is queued; after reboot it is booted', async () => {
  await goldenAcrossLayouts('bootc-rollback-queued', async (t) => {
    await t.upgrade(1, 'kernel');
    await t.bootcRollback();
  });
  await goldenAcrossLayouts('bootc-rollback-rebooted', async (t) => {
    await t.upgrade(1, 'kernel');
    await t.bootcRollback();
    await t.reboot();
  });
});

test('status: the booted slot and rollbackQueued are right in all four layouts after each step', async () => {
  for (const layout of LAYOUTS) {
    const t = await TestRoot.create({ layout });
    const b0 = t.booted.verity;
    const b1 = (await t.upgrade(1, 'kernel')).verity;
    let h = (await statusOf(t)).host;
    assert.deepEqual([h.status.booted?.composefs?.verity, h.status.rollback?.composefs?.verity, h.status.rollbackQueued, h.spec.bootOrder], [b1, b0, false, 'default'], layout);
    await t.bootcRollback();
    h = (await statusOf(t)).host;
    assert.deepEqual([h.status.booted?.composefs?.verity, h.status.rollback?.composefs?.verity, h.status.rollbackQueued, h.spec.bootOrder], [b1, b0, true, 'rollback'], layout);
    await t.reboot();
    h = (await statusOf(t)).host;
    assert.deepEqual([h.status.booted?.composefs?.verity, h.status.rollback?.composefs?.verity, h.status.rollbackQueued], [b0, b1, false], layout);
  }
});

test('status survives foreign entries, a malformed entry, a missing origin, an unknown manifest and several os_ids', async () => {
  for (const layout of ['systemd-type1', 'grub-type1', 'systemd-uki'] as const) {
    const t = await TestRoot.create({ layout });
    const b1 = await t.upgrade(1, 'userspace');
    const b2 = await t.upgrade(2, 'kernel');
    const dir = `${t.bootDir}/loader/entries`;
    await t.write(`${dir}/memtest86+.conf`, 'title Memtest86+\nversion 7.20\nlinux /memtest/memtest.efi\n');
    await t.write(`${dir}/fwupd.conf`, 'title Firmware updater\nversion 2\nefi /EFI/fedora/fwupdx64.efi\n');
    await t.write(`${dir}/other-os.conf`, 'title Debian\nversion 12\nlinux /vmlinuz-6.1\ninitrd /initrd.img-6.1\noptions root=/dev/vda5 ro\n');
    await t.write(`${dir}/broken.conf`, 'title Broken\nlinux /x\n');
    // An entry of a deployment whose state dir is gone (interrupted cleanup), with another os_id.
    const ghost = 'e'.repeat(128);
    await t.write(`${dir}/bootc_centos-10-0.conf`, `title CentOS\nversion 10\nlinux /EFI/Linux/bootc_composefs-${ghost}/vmlinuz\noptions composefs=${ghost}\nsort-key bootc-centos-1\n`);
    // The rollback's manifest is unknown to the repository.
    const images = mapImageMetadata(new Map(t.builds.filter((b) => b !== b1).map((b) => [b.manifestDigest, b.meta])));
    const r = await statusOf(t, images);
    assert.equal(r.host.status.booted?.composefs?.verity, b2.verity, layout);
    assert.equal(r.host.status.rollback?.composefs?.verity, b1.verity, layout);
    assert.equal(r.host.status.rollback?.image, null);
    assert.deepEqual(r.host.spec.image, { image: 'quay.io/example/os:latest', transport: 'registry' });
    assert.equal(r.host.status.rollbackQueued, false, layout);
    const firstWarning = {
      'systemd-type1': ['bootc_centos-10-0.conf'],
      'systemd-uki': ['bootc_centos-10-0.conf'],
      'grub-type1': ['memtest86+.conf'],
    }[layout].map((f) => `The bootloader's first entry ${f} is not a deployment; it may boot by default`);
    assert.deepEqual([...r.warnings].sort(), [
      `Parsing ${dir}/broken.conf: missing version`,
      `No origin file for deployment ${ghost} (MESSAGE_ID=d264f924dadb4c31bff0412107d391fb)`,
      `Deployment ${b1.verity}: image ${b1.manifestDigest} not found in the composefs repository; image details unavailable`,
      ...firstWarning,
    ].sort(), layout);
  }
});

test('status: a malformed origin or staged marker is a warning, not a failure', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  const b1 = await t.stage(1, 'userspace');
  await t.write(`/sysroot/state/deploy/${b1.verity}/${b1.verity}.origin`, '[origin]\ncontainer-image-reference = x\n');
  let r = await statusOf(t);
  assert.deepEqual(r.warnings, [
    `Deployment ${b1.verity}: Reading origin state/deploy/${b1.verity}/${b1.verity}.origin: missing [boot] boot_type`,
    `/run/composefs/staged-deployment names ${b1.verity}, which has no staged boot entry or origin`,
  ]);
  assert.equal(r.host.status.staged, null);
  await t.write('/run/composefs/staged-deployment', '{"depl');
  r = await statusOf(t);
  assert.match(r.warnings[1] ?? '', /^Reading \/run\/composefs\/staged-deployment: invalid JSON/);
  assert.ok(r.host.status.booted !== null);
});

test('status: not booted via composefs, /usr overlay, composefs.digest= and soft-reboot mount source', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.write('/proc/cmdline', 'root=/dev/vda3 ro\n');
  assert.equal((await getStatus(t.host(), { bootedOnly: false })).deployed, false);
  const v = t.booted.verity;
  await t.write('/proc/cmdline', `composefs.digest=v1-sha512-12:${v} rw\n`);
  const { mountinfo } = await import('../testing/test-root.js');
  await t.write('/proc/self/mountinfo', mountinfo(v, '/boot', ['40 22 0:50 / /usr rw,relatime - overlay overlay rw,lowerdir=/usr,upperdir=/run/x']));
  const r = await statusOf(t);
  assert.equal(r.host.status.booted?.composefs?.verity, v);
  assert.deepEqual(r.host.status.usrOverlay, { accessMode: 'readWrite', persistence: 'transient' });
  assert.equal(
    renderHumanStatus(r.host, false),
    `● Booted image: quay.io/example/os:latest\n        Digest: ${t.booted.manifestDigest} (amd64)\n        Verity: ${v}\n       Version: 44.20260100.0 (2026-01-01T12:00:00Z)\n  /usr overlay: transient, read/write\n`,
  );
});

test('status with many entries and several os_ids: rollback first in boot order, the rest in otherDeployments', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  for (let n = 1; n <= 3; n++) await t.upgrade(n, n % 2 === 0 ? 'kernel' : 'userspace');
  // Keep entries for builds 0 and 1 too, under other os_ids and versions (e.g. after switches).
  const dir = '/boot/loader/entries';
  const text1 = (await t.read(`${dir}/bootc_fedora-44-0.conf`)).replace(t.builds[2]!.verity, t.builds[1]!.verity).replace(/sort-key .*/, 'sort-key bootc-centos-1');
  await t.write(`${dir}/bootc_centos-10-0.conf`, text1.replace(/composefs=\S+/, `composefs=${t.builds[1]!.verity}`));
  await t.write(`${dir}/bootc_bootc-44-0.conf`, text1.replace(/sort-key .*/, 'sort-key bootc-bootc-1').replace(/composefs=\S+/, `composefs=${t.builds[0]!.verity}`));
  const r = await statusOf(t);
  const ids = (e: { composefs: { verity: string } | null } | null | undefined) => t.builds.findIndex((b) => b.verity === e?.composefs?.verity);
  assert.deepEqual(
    { booted: ids(r.host.status.booted), rollback: ids(r.host.status.rollback), others: (r.host.status.otherDeployments ?? []).map(ids), queued: r.host.status.rollbackQueued },
    // systemd-boot order: bootc-bootc-1 < bootc-centos-1 < bootc-fedora-0 < bootc-fedora-1: build 0's entry is the default.
    { booted: 3, rollback: 0, others: [1, 2], queued: true },
  );
  assert.deepEqual(r.warnings, []);
});

test('status -v human output for a staged host', async () => {
  const t = await TestRoot.create({ layout: 'grub-uki' });
  await t.stage(1, 'userspace', { downloadOnly: true });
  const r = await statusOf(t);
  assertGolden('status/human-verbose-staged.txt', renderHumanStatus(r.host, true).replace(/[0-9a-f]{128}/g, (v) => `<verity of build ${t.builds.findIndex((b) => b.verity === v)}>`));
});
