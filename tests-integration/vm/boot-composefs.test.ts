/**
 * The first qemu boot proof (vm tier): the v1 test image, laid out as a bootc
 * composefs physical root without the install verb, boots under TCG with direct
 * kernel boot; / is the composefs overlay of that image, /etc and /var are the
 * deployment's, and the guest powers off cleanly.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildTestImage, TEST_ROOT_UUID } from './image/build.js';
import { execAllowFailure, execText } from './image/exec.js';
import { buildComposefsRoot, findMkcomposefs } from './lib/composefs-root.js';
import { announceSkip, bootSkipReason, uefiBootSkipReason } from './lib/prereqs.js';
import { markerLines, runQemu } from './lib/qemu.js';
import { buildUefiDisk, copyOvmfVars, OVMF_CODE } from './lib/uefi-disk.js';

const skip = announceSkip('boot-composefs', await bootSkipReason());
const mkcomposefs = (await findMkcomposefs()) ?? [];
if (skip === false) process.stderr.write(`boot-composefs: mkcomposefs: ${mkcomposefs.join(' ')}\n`);
const uefiSkip = announceSkip('boot-composefs (uefi)', await uefiBootSkipReason());

const ETC_MARKER = 'etc-marker-written-before-boot';
const HOOK = `# tsbootc VM test hook (runs from the deployment's /var)
echo "TSBOOTC-TEST: etc-marker=$(cat /etc/tsbootc-marker)"
echo "TSBOOTC-TEST: root-listing=$(ls / | tr '\\n' ' ')"
echo guest-wrote-this > /var/lib/tsbootc-test/from-guest
echo "TSBOOTC-TEST: var-write=$?"
touch /usr/tsbootc-should-fail 2>/dev/null
echo "TSBOOTC-TEST: usr-write=$?"
`;

interface ExpectedBoot {
  id: string;
  kver: string;
  /** /proc/cmdline as the guest sees it. */
  cmdline: string;
  /** The physical root's block device. */
  dev: string;
  /** The boot also had SHUTDOWN_HOOK in /var and a second disk with HOOK_DISK_SCRIPT. */
  extraHooks?: boolean;
}

const SHUTDOWN_HOOK = `echo "TSBOOTC-TEST: shutdown-hook var=$(cat /var/lib/tsbootc-test/from-guest)"
echo shutdown-hook-wrote-this > /var/lib/tsbootc-test/from-shutdown
`;
const HOOK_DISK_SCRIPT = `. /usr/lib/os-release
echo "TSBOOTC-TEST: hook-disk os=$ID-$VERSION_ID"
echo hook-disk-result > /run/tsbootc-test/hook-disk/result
`;

/** Every TSBOOTC-* line of a v1 boot that ran HOOK, in order. */
function assertBootMarkers(serial: string, e: ExpectedBoot): void {
  assert.deepEqual(markerLines(serial, 'TSBOOTC'), [
    `TSBOOTC-INITRAMFS: start kver=${e.kver}`,
    `TSBOOTC-INITRAMFS: switching root to composefs=${e.id}`,
    `TSBOOTC-BOOTED: root=composefs:${e.id} cmdline=${e.cmdline}`,
    `TSBOOTC-MOUNT: / fstype=overlay source=composefs:${e.id} root=/ options=ro,lowerdir=/run/tsbootc/meta:/sysroot/composefs/objects,redirect_dir=on,metacopy=on`,
    `TSBOOTC-MOUNT: /etc fstype=ext4 source=${e.dev} root=/state/deploy/${e.id}/etc options=rw`,
    `TSBOOTC-MOUNT: /var fstype=ext4 source=${e.dev} root=/state/os/default/var options=rw`,
    `TSBOOTC-MOUNT: /sysroot fstype=ext4 source=${e.dev} root=/ options=rw`,
    `TSBOOTC-LOOP: loop0 /sysroot/composefs/images/${e.id}`,
    'TSBOOTC-OS-RELEASE: ID=tsbootc-test VERSION_ID=1',
    'TSBOOTC-VERSION: v1',
    `TSBOOTC-KERNEL: ${e.kver}`,
    'TSBOOTC-HOOK-BEGIN: /var/lib/tsbootc-test/hook.sh',
    `TSBOOTC-TEST: etc-marker=${ETC_MARKER}`,
    // No object-store fan-out dirs (00…ff) leak into /: the V1 image's whiteout stubs hide them.
    'TSBOOTC-TEST: root-listing=bin boot dev etc lib mnt proc root run sbin sys sysroot tmp usr var ',
    'TSBOOTC-TEST: var-write=0',
    'TSBOOTC-TEST: usr-write=1',
    'TSBOOTC-HOOK-END: /var/lib/tsbootc-test/hook.sh exit=0',
    ...(e.extraHooks === true
      ? [
          'TSBOOTC-HOOK-BEGIN: /run/tsbootc-test/hook-disk/hook.sh',
          'TSBOOTC-TEST: hook-disk os=tsbootc-test-1',
          'TSBOOTC-HOOK-END: /run/tsbootc-test/hook-disk/hook.sh exit=0',
        ]
      : []),
    'TSBOOTC-POWEROFF: requested',
    'TSBOOTC-SHUTDOWN: begin',
    ...(e.extraHooks === true
      ? ['TSBOOTC-TEST: shutdown-hook var=guest-wrote-this', 'TSBOOTC-SHUTDOWN-HOOK: /var/lib/tsbootc-test/shutdown-hook.sh exit=0']
      : []),
    'TSBOOTC-SHUTDOWN: done sysroot=ro',
  ]);
  assert.match(serial, /reboot: Power down/);
}

test('the v1 test image boots from a composefs root under qemu (direct kernel boot) and runs its hooks', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-boot-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1' });
    const root = await buildComposefsRoot({
      layout: built.layout,
      tag: built.tag,
      workDir: path.join(work, 'deploy'),
      mkcomposefs,
      etcFiles: { 'tsbootc-marker': `${ETC_MARKER}\n` },
      varFiles: { 'lib/tsbootc-test/hook.sh': HOOK, 'lib/tsbootc-test/shutdown-hook.sh': SHUTDOWN_HOOK },
    });
    const hookDir = path.join(work, 'hook-disk');
    mkdirSync(hookDir);
    writeFileSync(path.join(hookDir, 'hook.sh'), HOOK_DISK_SCRIPT);
    const hookDisk = path.join(work, 'hook-disk.img');
    await execText(['mkfs.ext4', '-q', '-d', hookDir, hookDisk, '16M']);
    const imagePath = path.join(root.tree, 'composefs', 'images', root.id);
    assert.equal(await execText(['fsverity', 'digest', '--compact', imagePath]), root.id, 'the id is the EROFS fs-verity digest');

    const append = `console=ttyS0 composefs=${root.id} root=/dev/vda rw panic=-1`;
    const q = await runQemu({
      serialLog: path.join(work, 'serial.log'),
      disks: [root.disk, hookDisk],
      kernel: root.vmlinuz,
      initrd: root.initramfs,
      append,
      timeoutMs: 180_000,
    });
    process.stderr.write(`boot-composefs: build ${built.durationMs} ms, boot ${q.durationMs} ms, id ${root.id}\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    assertBootMarkers(q.serial, { id: root.id, kver: root.kver, cmdline: append, dev: '/dev/vda', extraHooks: true });

    // What the guest and its shutdown hook wrote to /var landed in the shared var, the hook disk
    // kept its result, and both filesystems were left clean.
    const readBack = (disk: string, file: string): Promise<string> => execText(['debugfs', '-R', `cat ${file}`, disk]);
    assert.equal(await readBack(root.disk, '/state/os/default/var/lib/tsbootc-test/from-guest'), 'guest-wrote-this');
    assert.equal(await readBack(root.disk, '/state/os/default/var/lib/tsbootc-test/from-shutdown'), 'shutdown-hook-wrote-this');
    assert.equal(await readBack(hookDisk, '/result'), 'hook-disk-result');
    for (const disk of [root.disk, hookDisk]) {
      const fsck = await execAllowFailure(['e2fsck', '-fn', disk]);
      assert.equal(fsck.exitCode, 0, `${disk}: ${fsck.stdout.toString('utf8')}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('the v1 test image boots through OVMF, systemd-boot and a bootc Type1 BLS entry', { skip: uefiSkip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-uefi-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1' });
    const rootSizeMiB = 256;
    const root = await buildComposefsRoot({
      layout: built.layout,
      tag: built.tag,
      workDir: path.join(work, 'deploy'),
      mkcomposefs,
      etcFiles: { 'tsbootc-marker': `${ETC_MARKER}\n` },
      varFiles: { 'lib/tsbootc-test/hook.sh': HOOK },
      diskSizeMiB: rootSizeMiB,
      uuid: TEST_ROOT_UUID,
    });
    const options = `root=UUID=${TEST_ROOT_UUID} rw composefs=${root.id} console=ttyS0 panic=-1`;
    const uefi = await buildUefiDisk({
      workDir: work,
      id: root.id,
      boot: { kind: 'type1', vmlinuz: root.vmlinuz, initramfs: root.initramfs, options },
      rootImage: root.disk,
      rootSizeMiB,
      osId: 'tsbootc-test',
      versionId: '1',
      prettyName: 'tsbootc test image v1',
    });
    assert.equal(uefi.entryName, 'bootc_tsbootc_test-1-1.conf');
    assert.equal(
      uefi.entry,
      `title tsbootc test image v1\nversion 1\nlinux /EFI/Linux/bootc_composefs-${root.id}/vmlinuz\n` +
        `initrd /EFI/Linux/bootc_composefs-${root.id}/initrd\noptions ${options}\nsort-key bootc-tsbootc-test-0\n`,
    );
    const q = await runQemu({
      serialLog: path.join(work, 'serial.log'),
      disks: [uefi.disk],
      ovmf: { code: OVMF_CODE, vars: copyOvmfVars(work) },
      memoryMiB: 1024,
      timeoutMs: 300_000,
    });
    process.stderr.write(`boot-composefs (uefi): boot ${q.durationMs} ms\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    // systemd-boot prepends the Type1 entry's initrd to the command line it passes.
    const cmdline = `initrd=\\EFI\\Linux\\bootc_composefs-${root.id}\\initrd ${options}`;
    assertBootMarkers(q.serial, { id: root.id, kver: root.kver, cmdline, dev: '/dev/vda2' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('the v1 test image with --uki boots its UKI through OVMF and systemd-boot', { skip: uefiSkip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-uki-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1', uki: true });
    assert.ok(built.uki !== undefined);
    const rootSizeMiB = 256;
    const root = await buildComposefsRoot({
      layout: built.layout,
      tag: built.tag,
      workDir: path.join(work, 'deploy'),
      mkcomposefs,
      etcFiles: { 'tsbootc-marker': `${ETC_MARKER}\n` },
      varFiles: { 'lib/tsbootc-test/hook.sh': HOOK },
      diskSizeMiB: rootSizeMiB,
      uuid: TEST_ROOT_UUID,
    });
    assert.ok(root.uki !== undefined, 'the image has a UKI');
    assert.equal(root.id, built.uki.composefsId, "the UKI's composefs= names the deployed image");
    assert.equal(built.uki.cmdline, `composefs=${root.id} root=UUID=${TEST_ROOT_UUID} rw console=ttyS0 panic=-1`);
    const uefi = await buildUefiDisk({
      workDir: work,
      id: root.id,
      boot: { kind: 'uki', uki: root.uki },
      rootImage: root.disk,
      rootSizeMiB,
      osId: 'tsbootc-test',
      versionId: '1',
      prettyName: 'tsbootc test image v1',
    });
    assert.equal(
      uefi.entry,
      `title tsbootc test image v1\nversion 1\nefi /EFI/Linux/bootc/bootc_composefs-${root.id}.efi\nsort-key bootc-tsbootc-test-0\n`,
    );
    const q = await runQemu({
      serialLog: path.join(work, 'serial.log'),
      disks: [uefi.disk],
      ovmf: { code: OVMF_CODE, vars: copyOvmfVars(work) },
      memoryMiB: 1024,
      timeoutMs: 300_000,
    });
    process.stderr.write(`boot-composefs (uki): build ${built.durationMs} ms, boot ${q.durationMs} ms\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    assertBootMarkers(q.serial, { id: root.id, kver: root.kver, cmdline: built.uki.cmdline, dev: '/dev/vda2' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('the initramfs reports a missing composefs image and powers off instead of hanging', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-fail-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1' });
    const root = await buildComposefsRoot({
      layout: built.layout,
      tag: built.tag,
      workDir: path.join(work, 'deploy'),
      mkcomposefs,
    });
    const bogus = 'f'.repeat(64);
    const q = await runQemu({
      serialLog: path.join(work, 'serial.log'),
      disks: [root.disk],
      kernel: root.vmlinuz,
      initrd: root.initramfs,
      append: `console=ttyS0 composefs=?${bogus} root=/dev/vda rw panic=-1`,
      timeoutMs: 180_000,
    });
    process.stderr.write(`boot-composefs (failure): boot ${q.durationMs} ms\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    assert.deepEqual(markerLines(q.serial, 'TSBOOTC'), [
      `TSBOOTC-INITRAMFS: start kver=${root.kver}`,
      `TSBOOTC-INITRAMFS-ERROR: composefs image /sysroot/composefs/images/${bogus} not found`,
    ]);
    assert.match(q.serial, /reboot: Power down/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('a --with-node test image runs node and tsbootc in the guest', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-node-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1', withNode: true });
    const root = await buildComposefsRoot({
      layout: built.layout,
      tag: built.tag,
      workDir: path.join(work, 'deploy'),
      mkcomposefs,
      varFiles: {
        'lib/tsbootc-test/hook.sh':
          'echo "TSBOOTC-TEST: node=$(node -e \'console.log(process.version)\')"\n' +
          'echo "TSBOOTC-TEST: tsbootc=$(tsbootc --version)"\n',
      },
      diskSizeMiB: 512,
    });
    const q = await runQemu({
      serialLog: path.join(work, 'serial.log'),
      disks: [root.disk],
      kernel: root.vmlinuz,
      initrd: root.initramfs,
      append: `console=ttyS0 composefs=${root.id} root=/dev/vda rw panic=-1`,
      memoryMiB: 1024,
      timeoutMs: 300_000,
    });
    process.stderr.write(`boot-composefs (node): layer ${built.layerBytes} B, rootfs ${built.rootfsBytes} B, build ${built.durationMs} ms, boot ${q.durationMs} ms\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    assert.deepEqual(markerLines(q.serial, 'TSBOOTC-TEST'), [`TSBOOTC-TEST: node=${process.version}`, 'TSBOOTC-TEST: tsbootc=0.1.0']);
    // The finalize hook runs at every shutdown and finalizes nothing here: no verb started the unit.
    assert.deepEqual(markerLines(q.serial, 'TSBOOTC-SHUTDOWN'), [
      'TSBOOTC-SHUTDOWN: begin',
      'TSBOOTC-SHUTDOWN-HOOK: /usr/lib/tsbootc-test/shutdown.d/50-tsbootc-finalize.sh exit=0',
      'TSBOOTC-SHUTDOWN: done sysroot=ro',
    ]);
    assert.deepEqual(markerLines(q.serial, 'TSBOOTC-FINALIZE'), []);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
