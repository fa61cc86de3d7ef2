import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { packTar, writeOciLayout, type PackEntry } from '../composefs/oci/test-fixtures.js';
import { FakeRunner, fakeHost, tempDirForTest } from '../testing/fake-runner.js';
import { Root } from '../sys/root.js';
import { deployFirstImage, type DeployTarget } from './install-deploy.js';
import { inspectSource } from './install-source.js';
import { INSTALL_STEPS } from './install-plan.js';

const dir = (name: string): PackEntry => ({ name, type: 'directory', mode: 0o755 });
const file = (name: string, data: string, mode = 0o644): PackEntry => ({ name, data, mode });

async function layout(kernel = true): Promise<string> {
  const d = tempDirForTest('tsbootc-install-unit-');
  const entries: PackEntry[] = [
    dir('boot'), dir('etc'), file('etc/.updated', ''), file('etc/hostname', 'unit\n'), dir('sysroot'), dir('usr'), dir('usr/lib'),
    dir('usr/lib/bootc'), dir('usr/lib/bootc/install'), file('usr/lib/bootc/install/00-fs.toml', '[install.filesystem.root]\ntype = "xfs"\n'),
    file('usr/lib/os-release', 'ID=unit\nVERSION_ID=2\nPRETTY_NAME="Unit 2"\n'),
    dir('usr/lib/systemd'), dir('usr/lib/systemd/boot'), dir('usr/lib/systemd/boot/efi'), file('usr/lib/systemd/boot/efi/systemd-bootx64.efi', 'MZ fake sd-boot'),
    dir('var'), dir('var/lib'), file('var/lib/x', 'x\n'),
  ];
  if (kernel) entries.push(dir('usr/lib/modules'), dir('usr/lib/modules/6.1.0'), file('usr/lib/modules/6.1.0/vmlinuz', 'K'.repeat(100)), file('usr/lib/modules/6.1.0/initramfs.img', 'I'.repeat(100)));
  writeOciLayout(d, [await packTar(entries)], { tag: 't' });
  return d;
}

/** Records runner calls and install steps in one sequence. */
function recorder() {
  const seq: string[] = [];
  const runner = new FakeRunner().on([], (argv) => {
    const last = argv[argv.length - 1] ?? '';
    seq.push(`${argv[0]} ${argv[0] === 'mmd' ? argv.slice(3).join(' ') : last}`.replace(/[0-9a-f]{128}/g, 'ID'));
    return {};
  });
  return { seq, runner };
}

const STEPS_MOUNTED = [
  'step repository', 'step pull',
  'mdir ::', 'mmd ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/EFI/Linux ::/loader ::/loader/entries', 'mcopy ::/EFI/systemd/systemd-bootx64.efi', 'mcopy ::/EFI/BOOT/BOOTX64.EFI', 'mcopy ::/loader/loader.conf', 'mcopy ::/loader/entries.srel',
  'step bootloader',
  'mdir ::', 'mmd ::/loader ::/loader/entries ::/EFI ::/EFI/Linux ::/EFI/Linux/bootc_composefs-ID', 'mcopy ::/EFI/Linux/bootc_composefs-ID/vmlinuz', 'mcopy ::/EFI/Linux/bootc_composefs-ID/initrd',
  'step kernel', 'step state',
  'sync /dev/fake-esp',
  'mdir ::', 'mmd ::/loader ::/loader/entries', 'mcopy ::/loader/entries/bootc_unit-2-1.conf',
  'sync /dev/fake-esp',
  'step entries',
];

test('deployFirstImage writes repository, bootloader, kernel, state, and the entry last', async () => {
  const { seq, runner } = recorder();
  const host = fakeHost(runner, { isRoot: false });
  const scratch = tempDirForTest('tsbootc-install-scratch-');
  const src = await inspectSource(host, `oci:${await layout()}:t`, scratch, 'x86_64');
  assert.deepEqual(src.installConfig, { 'root-fs-type': 'xfs', filesystem: { root: { type: 'xfs' } }, block: ['direct'] });
  const phys = new Root(tempDirForTest('tsbootc-install-phys-'));
  const t: DeployTarget = { physRoot: phys, bootloader: 'systemd', esp: { device: '/dev/fake-esp' }, rootKargs: ['root=UUID=u', 'rw'], tryVerity: false, owners: false };
  const r = await deployFirstImage(host, src, t, { cliKargs: ['quiet'], disableSelinux: true, genericImage: true, arch: 'x86_64', imageReference: 'ostree-unverified-image:docker://example/os', rootSshKeys: 'ssh-ed25519 AAAA k\n', scratch, after: (s) => void seq.push(`step ${s}`) });
  src.scratchRepo.close();
  assert.deepEqual(seq, STEPS_MOUNTED);
  assert.deepEqual(INSTALL_STEPS, ['repository', 'pull', 'bootloader', 'kernel', 'state', 'entries']);
  assert.equal(r.entryText, `title Unit 2\nversion 2\nlinux /EFI/Linux/bootc_composefs-${r.verity}/vmlinuz\ninitrd /EFI/Linux/bootc_composefs-${r.verity}/initrd\noptions root=UUID=u rw quiet selinux=0 composefs=?${r.verity}\nsort-key bootc-unit-0\n`);
  const state = phys.resolve(`state/deploy/${r.verity}`);
  assert.deepEqual(readdirSync(state).sort(), [`${r.verity}.origin`, 'etc', 'var']);
  assert.deepEqual(readdirSync(path.join(state, 'etc')).sort(), ['hostname', 'tmpfiles.d']);
  assert.equal(readFileSync(path.join(state, 'etc/tmpfiles.d/bootc-root-ssh.conf'), 'utf8'), `d /var/roothome/.ssh 0700 root root -\nf~ /var/roothome/.ssh/authorized_keys 600 root root - ${Buffer.from('ssh-ed25519 AAAA k\n').toString('base64')}\n`);
  assert.equal(readFileSync(phys.resolve('state/os/default/var/lib/x'), 'utf8'), 'x\n');
  assert.equal(readlinkSync(phys.resolve('ostree/bootc')), '../composefs/bootc');
  assert.equal(statSync(phys.resolve('composefs')).mode & 0o777, 0o700);
  assert.ok(existsSync(phys.resolve(`composefs/streams/refs/oci/localhost%2Fbootc-${r.manifestDigest}`)));
});

test('with a staged root the state comes before the disk, and the ESP side (entry last) after it', async () => {
  const { seq, runner } = recorder();
  const host = fakeHost(runner, { isRoot: false });
  const scratch = tempDirForTest('tsbootc-install-scratch-');
  const src = await inspectSource(host, `oci:${await layout()}:t`, scratch, 'x86_64');
  const phys = new Root(tempDirForTest('tsbootc-install-phys-'));
  const t: DeployTarget = { physRoot: phys, bootloader: 'systemd', esp: undefined, rootKargs: ['rw'], tryVerity: false, owners: false };
  await deployFirstImage(host, src, t, { cliKargs: [], disableSelinux: false, genericImage: false, arch: 'x86_64', imageReference: 'x', rootSshKeys: undefined, scratch, after: (s) => void seq.push(`step ${s}`) }, async () => {
    seq.push('make disk');
    return { device: '/dev/fake-esp' };
  });
  src.scratchRepo.close();
  const order = seq.filter((s) => s.startsWith('step') || s === 'make disk');
  assert.deepEqual(order, ['step repository', 'step pull', 'step state', 'make disk', 'step bootloader', 'step kernel', 'step entries']);
  assert.deepEqual(seq.slice(-3), ['mcopy ::/loader/entries/bootc_unit-2-1.conf', 'sync /dev/fake-esp', 'step entries']);
});

test('inspectSource refuses an image without a kernel and names where it looked', async () => {
  const host = fakeHost(new FakeRunner(), { isRoot: false });
  const scratch = tempDirForTest('tsbootc-install-scratch-');
  await assert.rejects(inspectSource(host, `oci:${await layout(false)}:t`, scratch, 'x86_64'), (err: Error) => {
    assert.match(err.message, /^Checking the source image oci:.*:t$/);
    assert.match(String((err.cause as Error).message), /^image sha256:[0-9a-f]{64} has no kernel: looked for \/boot\/EFI\/Linux\/\*\.efi, \/usr\/lib\/modules\/\*\/\*\.efi, \/usr\/lib\/modules\/\*\/vmlinuz \(with initramfs\.img\)$/);
    return true;
  });
});
