#!/usr/bin/env node
// The README's main job on its built-in default: build a sample root filesystem,
// turn it into a composefs EROFS image with its object store, and print the image's
// fs-verity digest (the id a deployment would boot as: composefs=<digest>).
// Then, as root, it builds the project's bootable test image (tests-integration/vm/image) and
// installs it with `tsbootc install to-disk --via-loopback` into demo-output/disk.img, a GPT disk
// that boots under qemu/OVMF (see the printed command). TSBOOTC_DEMO_DISK=0 skips that part.
import { mkdirSync, writeFileSync, symlinkSync, rmSync, existsSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const out = process.env.TSBOOTC_DEMO_DIR ?? join(repo, 'demo-output');
rmSync(out, { recursive: true, force: true });
const rootfs = join(out, 'rootfs');
for (const d of ['usr/bin', 'usr/lib', 'etc', 'var/tmp']) mkdirSync(join(rootfs, d), { recursive: true });
writeFileSync(join(rootfs, 'usr/lib/os-release'), 'ID=tsbootc-demo\nNAME="tsbootc demo"\nVERSION_ID=1\n');
symlinkSync('../usr/lib/os-release', join(rootfs, 'etc/os-release'));
writeFileSync(join(rootfs, 'etc/hostname'), 'demo\n');
writeFileSync(join(rootfs, 'usr/bin/hello'), '#!/bin/sh\n' + 'echo "hello from a composefs image"\n'.repeat(4), { mode: 0o755 });
writeFileSync(join(rootfs, 'usr/lib/big.bin'), Buffer.alloc(256 * 1024, 0x5a));

const image = join(out, 'demo.cfs');
const objects = join(out, 'objects');
const r = spawnSync(process.execPath, [join(repo, 'bin/tsbootc.js'), 'internals', 'cfs', 'mkcomposefs', '--digest-store', objects, '--print-digest', rootfs, image], { stdio: ['ignore', 'pipe', 'inherit'] });
if (r.status !== 0) process.exit(r.status ?? 1);
const digest = r.stdout.toString().trim();
let count = 0;
if (existsSync(objects)) for (const d of readdirSync(objects)) count += readdirSync(join(objects, d)).length;
console.log(`demo: rootfs   ${rootfs}`);
console.log(`demo: image    ${image} (${statSync(image).size} bytes)`);
console.log(`demo: objects  ${objects} (${count} external files)`);
console.log(`demo: digest   ${digest}`);
console.log(`demo: boot it with the kernel argument composefs=${digest}`);

// Part 2: a bootable disk image, installed from the v1 test image.
async function installDemoDisk() {
  if (process.env.TSBOOTC_DEMO_DISK === '0') return 'TSBOOTC_DEMO_DISK=0';
  if (process.getuid?.() !== 0) return 'needs root (the test image is built as root, and the disk goes through a loop device)';
  const { testImageSkipReason } = await import(join(repo, 'dist/tests-integration/vm/lib/prereqs.js'));
  const why = await testImageSkipReason();
  if (why !== undefined) return why;
  const { buildTestImage } = await import(join(repo, 'dist/tests-integration/vm/image/build.js'));
  const { withSystemdBoot } = await import(join(repo, 'dist/tests-integration/vm/lib/with-systemd-boot.js'));
  const built = await buildTestImage({ out: join(out, 'oci'), variant: 'v1' });
  const ref = await withSystemdBoot(built.layout, built.tag, 'v1-systemd-boot', out);
  const disk = join(out, 'disk.img');
  writeFileSync(disk, '');
  truncateSync(disk, 2 * 1024 ** 3);
  const argv = ['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', ref, '--filesystem', 'ext4', '--karg', 'console=ttyS0', disk];
  console.log(`demo: tsbootc ${argv.join(' ')}`);
  const i = spawnSync(process.execPath, [join(repo, 'bin/tsbootc.js'), ...argv], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (i.status !== 0) process.exit(i.status ?? 1);
  console.log(`demo: disk     ${disk} (GPT: BIOS-BOOT, EFI-SYSTEM with systemd-boot, ext4 root with composefs/ and state/)`);
  console.log(`demo: boot it: cp /usr/share/OVMF/OVMF_VARS_4M.fd ${out}/vars.fd && qemu-system-x86_64 -M q35 -m 1024 -nographic \\`);
  console.log(`demo:   -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,file=${out}/vars.fd -drive file=${disk},format=raw,if=virtio`);
  return undefined;
}
const skipped = await installDemoDisk();
if (skipped !== undefined) console.log(`demo: disk     skipped: ${skipped}`);
