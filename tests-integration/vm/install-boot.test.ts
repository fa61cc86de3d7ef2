/**
 * The install proof (vm tier): the README's main job (`npm run demo`, i.e.
 * scripts/demo.mjs) builds the v1 test image (plus the host's systemd-boot EFI
 * binary in a layer on top, since the test image has none) and installs it
 * with `tsbootc install to-disk --via-loopback` onto demo-output/disk.img; that
 * very disk then boots under qemu through OVMF, systemd-boot and the Type1
 * entry the install wrote; / is the composefs overlay of the installed
 * deployment, /etc and /var are its state, and the guest powers off cleanly.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { announceSkip, uefiBootSkipReason } from './lib/prereqs.js';
import { markerLines, runQemu } from './lib/qemu.js';
import { copyOvmfVars, OVMF_CODE } from './lib/uefi-disk.js';
import { REPO_ROOT } from '../helpers/run-cli.js';

const skip = announceSkip('install-boot', await uefiBootSkipReason());

test('the disk image the README\'s main job (npm run demo) installs boots through OVMF and systemd-boot', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-install-'));
  try {
    const started = Date.now();
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts/demo.mjs')], { env: { ...process.env, TSBOOTC_DEMO_DIR: work, TSBOOTC_LOG: '' }, encoding: 'utf8' });
    const demoMs = Date.now() - started;
    assert.equal(r.status, 0, r.stderr);
    const id = /deployment ([0-9a-f]{128})/.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
    const disk = path.join(work, 'disk.img');
    assert.match(r.stdout, new RegExp(`^demo: disk     ${disk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(GPT`, 'm'));
    const q = await runQemu({ serialLog: path.join(work, 'serial.log'), disks: [disk], ovmf: { code: OVMF_CODE, vars: copyOvmfVars(work) }, memoryMiB: 1024, timeoutMs: 300_000 });
    process.stderr.write(`install-boot: npm run demo (build + install) ${demoMs} ms, boot ${q.durationMs} ms\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    const markers = markerLines(q.serial, 'TSBOOTC');
    const booted = markers.find((m) => m.startsWith('TSBOOTC-BOOTED: '));
    assert.match(booted ?? '', new RegExp(`^TSBOOTC-BOOTED: root=composefs:${id} cmdline=initrd=\\\\EFI\\\\Linux\\\\bootc_composefs-${id}\\\\initrd root=UUID=[0-9a-f-]{36} rw console=ttyS0 composefs=\\?${id}$`));
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
