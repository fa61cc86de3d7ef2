/**
 * The install proof (vm tier): the v1 test image (plus the host's systemd-boot
 * EFI binary in a layer on top, since the test image has none) is installed
 * with `tsbootc install to-disk --via-loopback` onto a disk image file, which
 * then boots under qemu through OVMF, systemd-boot and the Type1 entry the
 * install wrote; / is the composefs overlay of the installed deployment, /etc
 * and /var are its state, and the guest powers off cleanly.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildTestImage } from './image/build.js';
import { announceSkip, uefiBootSkipReason } from './lib/prereqs.js';
import { markerLines, runQemu } from './lib/qemu.js';
import { copyOvmfVars, OVMF_CODE } from './lib/uefi-disk.js';
import { withSystemdBoot } from './lib/with-systemd-boot.js';
import { runCli } from '../helpers/run-cli.js';

const skip = announceSkip('install-boot', await uefiBootSkipReason());

test('the v1 test image installed with install to-disk boots through OVMF and systemd-boot', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-install-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1' });
    const ref = await withSystemdBoot(built.layout, built.tag, 'v1-sdboot', work);
    const disk = path.join(work, 'disk.img');
    writeFileSync(disk, '');
    truncateSync(disk, 2 * 1024 ** 3);
    const started = Date.now();
    const r = runCli(['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', ref, '--filesystem', 'ext4', '--karg', 'console=ttyS0', '--karg', 'panic=-1', disk]);
    const installMs = Date.now() - started;
    assert.equal(r.status, 0, r.stderr);
    const id = /deployment ([0-9a-f]{128})/.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
    const q = await runQemu({ serialLog: path.join(work, 'serial.log'), disks: [disk], ovmf: { code: OVMF_CODE, vars: copyOvmfVars(work) }, memoryMiB: 1024, timeoutMs: 300_000 });
    process.stderr.write(`install-boot: build ${built.durationMs} ms, install ${installMs} ms, boot ${q.durationMs} ms\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    const markers = markerLines(q.serial, 'TSBOOTC');
    const booted = markers.find((m) => m.startsWith('TSBOOTC-BOOTED: '));
    assert.match(booted ?? '', new RegExp(`^TSBOOTC-BOOTED: root=composefs:${id} cmdline=initrd=\\\\EFI\\\\Linux\\\\bootc_composefs-${id}\\\\initrd root=UUID=[0-9a-f-]{36} rw console=ttyS0 panic=-1 composefs=\\?${id}$`));
    assert.deepEqual(
      markers.filter((m) => /^TSBOOTC-(INITRAMFS: switching|MOUNT: \/(etc|var) |LOOP|OS-RELEASE|VERSION|SHUTDOWN: done)/.test(m)),
      [
        `TSBOOTC-INITRAMFS: switching root to composefs=${id}`,
        `TSBOOTC-MOUNT: /etc fstype=ext4 source=/dev/vda3 root=/state/deploy/${id}/etc options=rw`,
        'TSBOOTC-MOUNT: /var fstype=ext4 source=/dev/vda3 root=/state/os/default/var options=rw',
        // images/<id> is a symlink into objects/ in a composefs-rs repository; the loop device shows the target.
        `TSBOOTC-LOOP: loop0 /sysroot/composefs/objects/${id.slice(0, 2)}/${id.slice(2)}`,
        'TSBOOTC-OS-RELEASE: ID=tsbootc-test VERSION_ID=1',
        'TSBOOTC-VERSION: v1',
        'TSBOOTC-SHUTDOWN: done sysroot=ro',
      ],
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
