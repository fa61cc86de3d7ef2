import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { bootcTag, chooseBootloader, chooseFilesystem, filesystemRootKargs, installCmdline, originImageReference, requireSource, targetImageRef, useDiscoverablePartitions } from './install-plan.js';

test('the source is required, and the error says why (no container here)', () => {
  assert.throws(() => requireSource('to-disk', undefined), {
    name: 'UsageError',
    message:
      'install to-disk: --source-imgref is required: bootc installs its own container image when run inside podman, but tsbootc runs on the host, not in a container (pass e.g. --source-imgref oci:/path/to/layout:tag or docker://quay.io/org/image:tag)',
  });
  assert.equal(requireSource('to-disk', 'oci:/x'), 'oci:/x');
});

test('the origin records --target-imgref with its transport, else the source', () => {
  const table: Array<[string, Parameters<typeof targetImageRef>[1], string]> = [
    ['oci:/srv/layout:v1', {}, 'ostree-unverified-image:oci:/srv/layout:v1'],
    ['docker://quay.io/a/b:1', {}, 'ostree-unverified-image:docker://quay.io/a/b:1'],
    ['oci:/srv/layout:v1', { targetImgref: 'quay.io/example/os:latest' }, 'ostree-unverified-image:docker://quay.io/example/os:latest'],
    ['oci:/x', { targetImgref: 'docker://quay.io/example/os:latest', targetTransport: 'registry' }, 'ostree-unverified-image:docker://quay.io/example/os:latest'],
    ['oci:/x', { targetImgref: 'localhost/os', targetTransport: 'containers-storage' }, 'ostree-unverified-image:containers-storage:localhost/os'],
    ['oci:/x', { targetImgref: 'quay.io/os', enforceContainerSigpolicy: true }, 'ostree-image-signed:docker://quay.io/os'],
  ];
  for (const [src, o, want] of table) assert.equal(originImageReference(targetImageRef(src, o)), want, `${src} ${JSON.stringify(o)}`);
  assert.throws(() => targetImageRef('oci:/x', { targetImgref: 'a', targetTransport: 'ftp' }), { message: "install: unknown --target-transport 'ftp'" });
  assert.equal(bootcTag('sha256:ab'), 'localhost/bootc-sha256:ab');
});

test('bootloader: flag, then config, then grub when the image has bootupctl, else systemd', () => {
  assert.deepEqual(chooseBootloader(undefined, undefined, false), { bootloader: 'systemd', explicit: false });
  assert.deepEqual(chooseBootloader(undefined, undefined, true), { bootloader: 'grub', explicit: false });
  assert.deepEqual(chooseBootloader(undefined, { bootloader: 'systemd' }, true), { bootloader: 'systemd', explicit: false });
  assert.deepEqual(chooseBootloader('systemd', { bootloader: 'grub' }, true), { bootloader: 'systemd', explicit: true });
  assert.throws(() => chooseBootloader('none', undefined, false), { message: 'install: --bootloader none is not supported with the composefs backend' });
});

test('filesystem: flag, then [install.filesystem.root], then root-fs-type; none is an error naming the target', () => {
  assert.equal(chooseFilesystem('btrfs', { filesystem: { root: { type: 'xfs' } } }, '/dev/vda'), 'btrfs');
  assert.equal(chooseFilesystem(undefined, { filesystem: { root: { type: 'xfs' } } }, '/dev/vda'), 'xfs');
  assert.equal(chooseFilesystem(undefined, { 'root-fs-type': 'ext4' }, '/dev/vda'), 'ext4');
  assert.throws(() => chooseFilesystem(undefined, undefined, '/dev/vda'), { message: /^install to-disk: no root filesystem specified for \/dev\/vda: pass --filesystem ext4\|xfs\|btrfs/ });
  assert.throws(() => chooseFilesystem('zfs', undefined, 'disk.img'), { message: "install to-disk: unknown filesystem 'zfs' for disk.img (expected ext4, xfs or btrfs)" });
});

test('DPS (no root=) with discoverable-partitions or an explicit systemd-boot (§3.3)', () => {
  assert.equal(useDiscoverablePartitions(undefined, { bootloader: 'systemd', explicit: false }), false);
  assert.equal(useDiscoverablePartitions(undefined, { bootloader: 'systemd', explicit: true }), true);
  assert.equal(useDiscoverablePartitions({ 'discoverable-partitions': false }, { bootloader: 'systemd', explicit: true }), false);
  assert.equal(useDiscoverablePartitions({ 'discoverable-partitions': true }, { bootloader: 'grub', explicit: false }), true);
});

test('the install cmdline: root kargs, CLI kargs, selinux=0, composefs=[?], kargs.d, without duplicates', () => {
  const v = 'ab'.repeat(64);
  assert.equal(
    installCmdline({ rootKargs: ['root=UUID=u', 'rw'], cliKargs: ['rw', 'console=ttyS0', 'quiet'], disableSelinux: true, verity: v, insecure: true, imageKargs: ['quiet', 'console=tty0'] }),
    `root=UUID=u rw console=ttyS0 quiet selinux=0 composefs=?${v} console=tty0`,
  );
  assert.equal(installCmdline({ rootKargs: ['rw'], cliKargs: [], disableSelinux: false, verity: v, insecure: false, imageKargs: [] }), `rw composefs=${v}`);
});

test('to-filesystem root kargs: mount spec (empty: none), btrfs subvolume, boot source', () => {
  assert.deepEqual(filesystemRootKargs({ rootMountSpec: undefined, fsUuid: 'u' }), ['root=UUID=u', 'rw']);
  assert.deepEqual(filesystemRootKargs({ rootMountSpec: '', fsUuid: 'u' }), ['rw']);
  assert.deepEqual(filesystemRootKargs({ rootMountSpec: 'LABEL=r', fsUuid: 'u', subvol: 'root', bootSource: 'UUID=b' }), ['root=LABEL=r', 'rootflags=subvol=root', 'rw', 'boot=UUID=b']);
});

test('bootupctl runs as bootc runs it: --write-uuid unless skipped, firmware update unless generic', async () => {
  const { bootupctlArgv } = await import('./install-grub.js');
  assert.deepEqual(bootupctlArgv('/m', { generic: true, skipBootUuid: false }), ['chroot', '/m', 'bootupctl', 'backend', 'install', '--write-uuid', '--filesystem', '/sysroot', '/']);
  assert.deepEqual(bootupctlArgv('/m', { generic: false, skipBootUuid: true }), ['chroot', '/m', 'bootupctl', 'backend', 'install', '--update-firmware', '--auto', '--filesystem', '/sysroot', '/']);
});
