import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Root } from '../sys/root.js';
import { FakeRunner, fakeHost, tempDirForTest } from '../testing/fake-runner.js';
import { formatErrorChain } from '../util/errors.js';
import { DEFAULT_LOADER_CONF, installSystemdBoot, writeBootEntries, type EspMounter } from './esp-bootloader.js';
import { dirsToCreate, espMkfsArgv, formatVolumeId, listEsp, mtoolsImage, parseMdirBare, readEspFile, type EspTarget } from './esp.js';

const IMG: EspTarget = { file: '/var/tmp/disk.img', offset: 2097152, sizeBytes: 1073741824 };
const SPEC = '/var/tmp/disk.img@@2097152';

test('mtools image spec, mkfs.fat argv and volume ids', () => {
  assert.equal(mtoolsImage({ device: '/dev/vdb2' }), '/dev/vdb2');
  assert.equal(mtoolsImage(IMG), SPEC);
  assert.deepEqual(espMkfsArgv({ device: '/dev/vdb2' }, 'abcd0123'), ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', 'ABCD0123', '/dev/vdb2']);
  assert.deepEqual(espMkfsArgv(IMG, 'abcd0123'), ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', 'ABCD0123', '--offset', '4096', '/var/tmp/disk.img', '1048576']);
  assert.equal(formatVolumeId('35e0fde5'), '35E0-FDE5');
});

test('parseMdirBare and the directories still to create', () => {
  const listing = '::/EFI/\n::/EFI/BOOT/\n::/EFI/BOOT/BOOTX64.EFI\n::/loader/\n::/loader/loader.conf\n';
  assert.deepEqual(parseMdirBare(listing), ['EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI', 'loader/', 'loader/loader.conf']);
  assert.deepEqual(dirsToCreate(['EFI/Linux/bootc_composefs-ab', 'loader/entries', '/efi/boot/'], parseMdirBare(listing)), ['EFI/Linux', 'EFI/Linux/bootc_composefs-ab', 'loader/entries']);
});

test('listEsp: an empty ESP is [], other failures throw', async () => {
  const run = new FakeRunner().on(['mdir'], { exitCode: 1, stderr: 'mdir: File "::/" not found\n' });
  assert.deepEqual(await listEsp(fakeHost(run), IMG), []);
  assert.deepEqual(run.calls.map((c) => [c.argv, c.opts.env]), [[['mdir', '-i', SPEC, '-b', '-/', '::'], { MTOOLS_SKIP_CHECK: '1' }]]);
  run.on(['mdir'], { exitCode: 1, stderr: 'init: non DOS media\n' });
  await assert.rejects(listEsp(fakeHost(run), IMG), (e) => formatErrorChain(e) === `Listing the ESP on /var/tmp/disk.img at offset 2097152: mdir failed (exit status 1): init: non DOS media`);
});

function imageRoot(o: { keys?: boolean; boot?: boolean } = {}): Root {
  const dir = tempDirForTest('tsbootc-image-root-');
  mkdirSync(path.join(dir, 'usr/lib/systemd/boot/efi'), { recursive: true });
  writeFileSync(path.join(dir, 'usr/lib/systemd/boot/efi/systemd-bootx64.efi'), 'MZ');
  if (o.keys) {
    for (const [d, files] of [['fedora', ['PK.auth', 'KEK.auth', 'db.auth', 'README']], ['empty', []]] as const) {
      mkdirSync(path.join(dir, 'usr/lib/bootc/install/secureboot-keys', d), { recursive: true });
      for (const f of files) writeFileSync(path.join(dir, 'usr/lib/bootc/install/secureboot-keys', d, f), f);
    }
  }
  if (o.boot) mkdirSync(path.join(dir, 'boot'));
  return new Root(dir);
}

test('systemd-boot by mtools into an image: bootctl layout, loader.conf only when absent, Secure Boot keys', async () => {
  const run = new FakeRunner().on(['mdir'], { stdout: '::/loader/\n::/loader/loader.conf\n' });
  const host = fakeHost(run);
  const img = imageRoot({ keys: true });
  const efi = img.resolve('/usr/lib/systemd/boot/efi/systemd-bootx64.efi');
  const keys = img.resolve('/usr/lib/bootc/install/secureboot-keys/fedora');
  const r = await installSystemdBoot(host, IMG, { imageRoot: img, arch: 'x86_64', generic: true });
  assert.deepEqual(r, { method: 'mtools', secureBootKeys: ['loader/keys/fedora/KEK.auth', 'loader/keys/fedora/PK.auth', 'loader/keys/fedora/db.auth'] });
  assert.deepEqual(run.argvs, [
    ['mdir', '-i', SPEC, '-b', '-/', '::'],
    ['mmd', '-i', SPEC, '::/EFI', '::/EFI/BOOT', '::/EFI/systemd', '::/EFI/Linux', '::/loader/entries'],
    ['mcopy', '-i', SPEC, '-D', 'o', efi, '::/EFI/systemd/systemd-bootx64.efi'],
    ['mcopy', '-i', SPEC, '-D', 'o', efi, '::/EFI/BOOT/BOOTX64.EFI'],
    ['mcopy', '-i', SPEC, '-D', 'o', '-', '::/loader/entries.srel'],
    ['mdir', '-i', SPEC, '-b', '-/', '::'],
    ['mmd', '-i', SPEC, '::/loader/keys', '::/loader/keys/fedora'],
    ['mcopy', '-i', SPEC, '-D', 'o', `${keys}/KEK.auth`, '::/loader/keys/fedora/KEK.auth'],
    ['mcopy', '-i', SPEC, '-D', 'o', `${keys}/PK.auth`, '::/loader/keys/fedora/PK.auth'],
    ['mcopy', '-i', SPEC, '-D', 'o', `${keys}/db.auth`, '::/loader/keys/fedora/db.auth'],
  ]);
  assert.equal(run.calls[4]!.opts.input, 'type1\n');
  assert.deepEqual(host.log.lines, [`installing systemd-boot with mtools on /var/tmp/disk.img at offset 2097152 (the ESP is inside an image file (no device to mount))`]);
});

test('systemd-boot on a device the kernel cannot mount falls back to mtools and says why', async () => {
  const run = new FakeRunner().on(['mdir'], { exitCode: 1, stderr: 'File "::/" not found' });
  const host = fakeHost(run);
  mkdirSync(host.root.resolve('/proc'), { recursive: true });
  writeFileSync(host.root.resolve('/proc/filesystems'), 'nodev\tsysfs\n\text4\n\txfs\n');
  const r = await installSystemdBoot(host, { device: '/dev/loop0p2' }, { imageRoot: imageRoot(), arch: 'x86_64', generic: false });
  assert.equal(r.method, 'mtools');
  assert.deepEqual(run.argvs[4], ['mcopy', '-i', '/dev/loop0p2', '-D', 'o', '-', '::/loader/loader.conf']);
  assert.equal(run.calls[4]!.opts.input, DEFAULT_LOADER_CONF);
  assert.deepEqual(host.log.lines, ['installing systemd-boot with mtools on /dev/loop0p2 (the kernel cannot mount vfat)']);
  await assert.rejects(installSystemdBoot(host, { device: '/dev/loop0p2' }, { imageRoot: imageRoot(), arch: 'x86_64', generic: false, method: 'bootctl' }), (e) =>
    formatErrorChain(e) === 'Installing systemd-boot on /dev/loop0p2: cannot run bootctl: the kernel cannot mount vfat');
  await assert.rejects(installSystemdBoot(host, IMG, { imageRoot: imageRoot(), arch: 's390x', generic: false }), (e) =>
    formatErrorChain(e) === 'Installing systemd-boot on /var/tmp/disk.img at offset 2097152: install: systemd-boot does not support architecture s390x');
});

test('systemd-boot falls back to mtools when bootctl fails to run', async () => {
  const run = new FakeRunner().on(['bootctl', '--version'], { exitCode: 127, stderr: 'not found' }).on(['mdir'], { stdout: '' });
  const host = fakeHost(run);
  mkdirSync(host.root.resolve('/proc'), { recursive: true });
  writeFileSync(host.root.resolve('/proc/filesystems'), '\tvfat\n');
  assert.equal((await installSystemdBoot(host, { device: '/dev/vdb2' }, { imageRoot: imageRoot({ boot: true }), arch: 'x86_64', generic: true })).method, 'mtools');
  assert.deepEqual(host.log.lines, ['installing systemd-boot with mtools on /dev/vdb2 (bootctl --version exited 127)']);
  const noBoot = fakeHost(new FakeRunner());
  mkdirSync(noBoot.root.resolve('/proc'), { recursive: true });
  writeFileSync(noBoot.root.resolve('/proc/filesystems'), '\tvfat\n');
  await installSystemdBoot(noBoot, { device: '/dev/vdb2' }, { imageRoot: imageRoot(), arch: 'x86_64', generic: true });
  assert.deepEqual(noBoot.log.lines, ['installing systemd-boot with mtools on /dev/vdb2 (the image has no /boot to mount the ESP on)']);
});

test('systemd-boot with bootctl when vfat mounts: ESP on the image /boot, bootc argv and env', async () => {
  const run = new FakeRunner().on(['bootctl', '--version'], { stdout: 'systemd 252 (252.39-1~deb12u2)\n' });
  const host = fakeHost(run);
  mkdirSync(host.root.resolve('/proc'), { recursive: true });
  writeFileSync(host.root.resolve('/proc/filesystems'), 'nodev\tsysfs\n\text4\n\tvfat\n');
  const img = imageRoot({ boot: true });
  const mounts: string[] = [];
  const mounter: EspMounter = async (device, target, fn) => {
    mounts.push(`${device} on ${target}`);
    return fn();
  };
  const r = await installSystemdBoot(host, { device: '/dev/vdb2' }, { imageRoot: img, arch: 'x86_64', generic: true, mounter });
  assert.deepEqual(r, { method: 'bootctl', secureBootKeys: [] });
  assert.deepEqual(mounts, [`/dev/vdb2 on ${img.resolve('/boot')}`]);
  assert.deepEqual(run.calls.map((c) => [c.argv, c.opts.env]), [
    [['bootctl', '--version'], undefined],
    [['bootctl', 'install', '--root', img.prefix, '--esp-path', '/boot', '--no-variables'], { SYSTEMD_RELAX_ESP_CHECKS: '1', KERNEL_INSTALL_CONF_ROOT: '/tmp' }],
  ]);
  assert.deepEqual(host.log.lines, ['installing systemd-boot with bootctl on /dev/vdb2']);
});

test('boot entries: kernel dirs under EFI/Linux, entries (or entries.staged), loader.conf', async () => {
  const run = new FakeRunner().on(['mdir'], { stdout: '::/EFI/\n::/EFI/Linux/\n::/loader/\n::/loader/entries/\n' });
  const host = fakeHost(run);
  const id = 'ab'.repeat(64);
  await writeBootEntries(host, IMG, {
    kernels: [{ id, vmlinuz: '/img/usr/lib/modules/6.1/vmlinuz', initrd: '/img/usr/lib/modules/6.1/initramfs.img' }],
    entries: [{ name: 'bootc_debian-12-1.conf', text: 'title Debian\n' }],
    loaderConf: 'timeout 0\n',
  });
  assert.deepEqual(run.argvs, [
    ['mdir', '-i', SPEC, '-b', '-/', '::'],
    ['mmd', '-i', SPEC, `::/EFI/Linux/bootc_composefs-${id}`],
    ['mcopy', '-i', SPEC, '-D', 'o', '/img/usr/lib/modules/6.1/vmlinuz', `::/EFI/Linux/bootc_composefs-${id}/vmlinuz`],
    ['mcopy', '-i', SPEC, '-D', 'o', '/img/usr/lib/modules/6.1/initramfs.img', `::/EFI/Linux/bootc_composefs-${id}/initrd`],
    ['mcopy', '-i', SPEC, '-D', 'o', '-', '::/loader/entries/bootc_debian-12-1.conf'],
    ['mcopy', '-i', SPEC, '-D', 'o', '-', '::/loader/loader.conf'],
  ]);
  assert.deepEqual(run.calls.slice(4).map((c) => c.opts.input), ['title Debian\n', 'timeout 0\n']);
  await writeBootEntries(host, IMG, { kernels: [], entries: [{ name: 'x.conf', text: '' }], staged: true });
  assert.deepEqual(run.argvs.slice(6, 8), [['mdir', '-i', SPEC, '-b', '-/', '::'], ['mmd', '-i', SPEC, '::/loader/entries.staged']]);
  await assert.rejects(writeBootEntries(host, IMG, { kernels: [], entries: [{ name: '../x.conf', text: '' }] }), (e) =>
    formatErrorChain(e) === 'Writing boot entries on /var/tmp/disk.img at offset 2097152: invalid boot entry file name "../x.conf"');
});

test('readEspFile returns the bytes mtype prints', async () => {
  const run = new FakeRunner().on(['mtype'], { stdout: '' });
  const host = fakeHost(run);
  await readEspFile(host, IMG, 'loader/loader.conf');
  assert.deepEqual(run.calls.map((c) => [c.argv, c.opts.binary]), [[['mtype', '-i', SPEC, '::/loader/loader.conf'], true]]);
});
