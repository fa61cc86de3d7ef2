/**
 * The update lifecycle of UKI hosts through the built CLI on fake roots
 * (systemd-boot + UKI, GRUB + UKI) booted into real images whose UKI (a
 * minimal PE with .osrel, .cmdline, .linux, .initrd) names the image's boot
 * id: switch, finalize, rollback, upgrade and the GC of a dropped
 * deployment, each checked as whole ESP/boot trees with the entry bytes as
 * bootc.md §3 spells them. UKI addons (`.efi.extra.d`) are not carried to
 * new deployments (bootc writes them at install only) and go with their
 * UKI; a UKI naming another image is refused.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { writeUnder } from '../helpers/host.js';
import { bootRealImage, buildOsImage, osImageUki, snapshotTree, type OsImageSpec } from '../helpers/os-image.js';
import type { Build } from '../../src/testing/test-root.js';

const missing = spawnSync('umoci', ['--version']).status !== 0 ? 'umoci is not installed' : spawnSync('skopeo', ['--version']).status !== 0 ? 'skopeo is not installed' : undefined;
if (missing !== undefined) console.log(`# skipping lifecycle-uki tests: ${missing}`);

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const UKI_DIR = 'EFI/Linux/bootc';

/** A PATH whose bootctl reports systemd 257, so UKI entries use the `efi` key on any machine. */
function bootctl257(): Record<string, string> {
  const bin = tempDir('tsbootc-bootctl-');
  fs.writeFileSync(path.join(bin, 'bootctl'), '#!/bin/sh\necho "systemd 257 (257.7-1)"\n', { mode: 0o755 });
  return { PATH: `${bin}:${process.env['PATH'] ?? ''}` };
}

function blsUki(version: string, verity: string, prio: 0 | 1): string {
  return `title Test OS ${version} ${version}\nversion ${version}\nefi /${UKI_DIR}/bootc_composefs-${verity}.efi\nsort-key bootc-testos-${1 - prio}\n`;
}

const USER_CFG_HEADER = '\nif [ -f ${config_directory}/efiuuid.cfg ]; then\n        source ${config_directory}/efiuuid.cfg\nfi\n';
function menu(version: string, verity: string): string {
  return `menuentry "Test OS ${version} ${version}: (${verity})" {\ninsmod fat\ninsmod chain\nsearch --no-floppy --set=root --fs-uuid "\${EFI_PART_UUID}"\nchainloader /${UKI_DIR}/bootc_composefs-${verity}.efi\n}\n`;
}

interface Dep {
  version: string;
  verity: string;
  uki: Buffer;
}

const dirs = (...ps: string[]) => ps.map((p) => `${p}/ 755`);

/** The expected ESP (+ GRUB boot dir) tree: UKIs, addons of `addons`, and the entry files. */
function expectedTrees(layout: 'systemd-uki' | 'grub-uki', deps: Dep[], addons: Record<string, string>, entries: { live: Array<[Dep, 0 | 1]>; staged?: Array<[Dep, 0 | 1]> }): string[] {
  const esp = [...dirs('EFI', 'EFI/Linux', UKI_DIR), ...deps.map((d) => `${UKI_DIR}/bootc_composefs-${d.verity}.efi 644 ${b64(d.uki)}`)];
  for (const [v, data] of Object.entries(addons)) esp.push(`${UKI_DIR}/bootc_composefs-${v}.efi.extra.d/ 755`, `${UKI_DIR}/bootc_composefs-${v}.efi.extra.d/debug.addon.efi 644 ${b64(data)}`);
  if (layout === 'systemd-uki') {
    esp.push(...dirs('loader', 'loader/entries'), `loader/loader.conf 644 ${b64('timeout 5')}`);
    for (const [d, prio] of entries.live) esp.push(`loader/entries/bootc_testos-${d.version}-${prio}.conf 644 ${b64(blsUki(d.version, d.verity, prio))}`);
    if (entries.staged) {
      esp.push(...dirs('loader/entries.staged'));
      for (const [d, prio] of entries.staged) esp.push(`loader/entries.staged/bootc_testos-${d.version}-${prio}.conf 644 ${b64(blsUki(d.version, d.verity, prio))}`);
    }
    return esp.sort();
  }
  const boot = [...dirs('grub2'), `grub2/efiuuid.cfg 644 ${b64('set EFI_PART_UUID="ABCD-1234"')}`];
  boot.push(`grub2/user.cfg 644 ${b64(USER_CFG_HEADER + entries.live.map(([d]) => menu(d.version, d.verity)).join(''))}`);
  if (entries.staged) boot.push(`grub2/user.cfg.staged 644 ${b64(USER_CFG_HEADER + entries.staged.map(([d]) => menu(d.version, d.verity)).join(''))}`);
  return [...esp.map((l) => `ESP ${l}`), ...boot.map((l) => `BOOT ${l}`)].sort();
}

function actualTrees(layout: 'systemd-uki' | 'grub-uki', dir: string): string[] {
  if (layout === 'systemd-uki') return snapshotTree(path.join(dir, 'boot')).sort();
  return [...snapshotTree(path.join(dir, 'boot/efi')).map((l) => `ESP ${l}`), ...snapshotTree(path.join(dir, 'sysroot/boot')).map((l) => `BOOT ${l}`)].sort();
}

function stagedId(dir: string): string {
  return (JSON.parse(fs.readFileSync(path.join(dir, 'run/composefs/staged-deployment'), 'utf8')) as { depl_id: string }).depl_id;
}

for (const layout of ['systemd-uki', 'grub-uki'] as const) {
  test(`${layout}: switch, finalize, rollback, upgrade and GC keep whole ESP trees as bootc lays them out; addons stay with their UKI`, { skip: missing ?? false }, async () => {
    const env = bootctl257();
    const oci = path.join(tempDir('tsbootc-lcu-img-'), 'oci');
    const spec1: OsImageSpec = { version: '1.0', kernel: '1', etc: { hostname: 'v1\n' }, kargs: ['quiet'], uki: {} };
    const spec2: OsImageSpec = { version: '2.0', kernel: '2', etc: { hostname: 'v2\n' }, kargs: ['quiet'], uki: { addons: ['debug'] } };
    await buildOsImage(oci, 'v1', spec1);
    await buildOsImage(oci, 'v2', spec2);
    const h = await bootRealImage(layout, oci, 'v1');
    const cli = (...args: string[]) => {
      const r = runCli(['--root', h.t.dir, ...args], { env });
      return [r.status, r.stdout, r.stderr];
    };
    const esp = layout === 'systemd-uki' ? '/boot' : '/boot/efi';
    const d1: Dep = { version: '1.0', verity: h.verity, uki: osImageUki(spec1, h.verity) };
    // What bootc's install --uki-addon debug would have left for the booted deployment.
    const addon = 'addon of v1\n';
    writeUnder(h.t.dir, `${esp}/${UKI_DIR}/bootc_composefs-${d1.verity}.efi.extra.d/debug.addon.efi`, addon);
    assert.deepEqual(actualTrees(layout, h.t.dir), expectedTrees(layout, [d1], { [d1.verity]: addon }, { live: [[d1, 1]] }));

    // switch: v2's UKI next to v1's (its addons are not installed), staged entries v2 + v1.
    assert.deepEqual(cli('switch', '--quiet', '--transport', 'oci', `${oci}:v2`), [0, `Queued for next boot: oci:${oci}:v2\n`, '']);
    const v2 = stagedId(h.t.dir);
    const d2: Dep = { version: '2.0', verity: v2, uki: osImageUki(spec2, v2) };
    assert.deepEqual(actualTrees(layout, h.t.dir), expectedTrees(layout, [d1, d2], { [d1.verity]: addon }, { live: [[d1, 1]], staged: [[d2, 1], [d1, 0]] }));
    const origin = fs.readFileSync(h.t.p(`/sysroot/state/deploy/${v2}/${v2}.origin`), 'utf8');
    assert.match(origin, /\n\[boot\]\nboot_type = uki\ndigest = [0-9a-f]{64}\n/);

    // finalize: the staged entries become the live ones; both UKIs are still referenced.
    assert.deepEqual(cli('composefs-finalize-staged'), [0, `Finalized deployment ${v2}\n`, '']);
    assert.deepEqual(actualTrees(layout, h.t.dir), expectedTrees(layout, [d1, d2], { [d1.verity]: addon }, { live: [[d2, 1], [d1, 0]] }));

    // Boot v2; rollback makes v1 the default again.
    fs.rmSync(h.t.p('/run'), { recursive: true, force: true });
    await h.t.bootInto({ verity: v2 } as Build);
    assert.deepEqual(cli('rollback'), [0, 'Next boot: rollback deployment\n', '']);
    assert.deepEqual(actualTrees(layout, h.t.dir), expectedTrees(layout, [d1, d2], { [d1.verity]: addon }, { live: [[d1, 1], [d2, 0]] }));

    // A new v2 image (new kernel, with an addon in the image): upgrade stages v3 + the booted v2.
    const spec3: OsImageSpec = { version: '3.0', kernel: '3', etc: { hostname: 'v2\n' }, kargs: ['quiet'], uki: { addons: ['debug'] } };
    await buildOsImage(oci, 'v2', spec3);
    assert.deepEqual(cli('upgrade', '--quiet'), [0, `Queued for next boot: oci:${oci}:v2\n`, '']);
    const v3 = stagedId(h.t.dir);
    const d3: Dep = { version: '3.0', verity: v3, uki: osImageUki(spec3, v3) };
    assert.deepEqual(actualTrees(layout, h.t.dir), expectedTrees(layout, [d1, d2, d3], { [d1.verity]: addon }, { live: [[d1, 1], [d2, 0]], staged: [[d3, 1], [d2, 0]] }));

    // finalize: v1 drops out of the entries; its UKI and its addons are collected.
    assert.deepEqual(cli('composefs-finalize-staged'), [
      0,
      `Removed ${esp}/${UKI_DIR}/bootc_composefs-${d1.verity}.efi\nRemoved ${esp}/${UKI_DIR}/bootc_composefs-${d1.verity}.efi.extra.d\nFinalized deployment ${v3}\n`,
      '',
    ]);
    assert.deepEqual(actualTrees(layout, h.t.dir), expectedTrees(layout, [d2, d3], {}, { live: [[d3, 1], [d2, 0]] }));
  });
}

test('a UKI whose composefs= names another image is refused before anything is staged', { skip: missing ?? false }, async () => {
  const oci = path.join(tempDir('tsbootc-lcu-img-'), 'oci');
  await buildOsImage(oci, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n' }, uki: {} });
  const h = await bootRealImage('systemd-uki', oci, 'v1');
  const wrong = 'ab'.repeat(64);
  await buildOsImage(oci, 'bad', { version: '2.0', kernel: '2', etc: { hostname: 'v1\n' }, uki: { cmdlineId: wrong } });
  const before = actualTrees('systemd-uki', h.t.dir);
  const r = runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${oci}:bad`], { env: bootctl257() });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^error: Switching: The UKI has the wrong composefs= parameter \\(is '${wrong}', should be '[0-9a-f]{128}'\\)\n$`));
  assert.deepEqual(actualTrees('systemd-uki', h.t.dir), before);
  assert.equal(fs.existsSync(h.t.p('/run/composefs/staged-deployment')), false);
});
