/**
 * Owns the VM tier's skip decisions: what a test needs (qemu, umoci, the
 * kernel package, busybox-static, mkcomposefs, root) and the reason it prints
 * when something is missing, so a skipped VM test never looks like a pass.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import * as path from 'node:path';
import { defaultCacheDir, listKernelPackages } from '../image/kernel.js';
import { findMkcomposefs } from './composefs-root.js';
import { OVMF_CODE, OVMF_VARS, SYSTEMD_BOOT_EFI } from './uefi-disk.js';
import { LINUX_EFI_STUB } from '../image/uki.js';

export function onPath(tool: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // not in this PATH entry; keep looking
    }
  }
  return false;
}

const TOOLS: Array<[string, string]> = [
  ['umoci', 'umoci'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['debugfs', 'e2fsprogs'],
  ['e2fsck', 'e2fsprogs'],
  ['fsverity', 'fsverity'],
  ['depmod', 'kmod'],
  ['modinfo', 'kmod'],
  ['dpkg-deb', 'dpkg'],
  ['apt-get', 'apt'],
];

/** Why the test-image builder cannot run here, or undefined if it can. */
export async function testImageSkipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (the image rootfs must be owned by root)';
  for (const [tool, pkg] of TOOLS) if (!onPath(tool)) return `${tool} not found (apt-get install ${pkg}; scripts/setup.sh)`;
  if (!existsSync('/bin/busybox')) return '/bin/busybox not found (apt-get install busybox-static; scripts/setup.sh)';
  const kernels = await listKernelPackages(defaultCacheDir());
  if (kernels.length === 0) return 'no linux-image-6.1.0-*-amd64 package in the apt index or the cache (apt-get update)';
  return undefined;
}

/** Why the qemu boot tests cannot run here, or undefined if they can. */
export async function bootSkipReason(): Promise<string | undefined> {
  const image = await testImageSkipReason();
  if (image !== undefined) return image;
  if (!onPath('qemu-system-x86_64')) return 'qemu-system-x86_64 not found (apt-get install qemu-system-x86; scripts/setup.sh)';
  if ((await findMkcomposefs()) === undefined) {
    return 'no mkcomposefs (tsbootc internals cfs mkcomposefs is not implemented, no /work/shared/tools/mkcomposefs, and TSBOOTC_MKCOMPOSEFS is unset or missing)';
  }
  return undefined;
}

/** Logs a skip reason where `node --test` output shows it, and returns it for the test's skip option. */
export function announceSkip(file: string, reason: string | undefined): string | false {
  if (reason === undefined) return false;
  process.stderr.write(`${file}: skipped: ${reason}\n`);
  return reason;
}

/** Why the UEFI boot tests cannot run here, or undefined if they can. */
export async function uefiBootSkipReason(): Promise<string | undefined> {
  const boot = await bootSkipReason();
  if (boot !== undefined) return boot;
  for (const f of [OVMF_CODE, OVMF_VARS]) if (!existsSync(f)) return `${f} not found (apt-get install ovmf; scripts/setup.sh)`;
  for (const f of [SYSTEMD_BOOT_EFI, LINUX_EFI_STUB]) if (!existsSync(f)) return `${f} not found (apt-get install systemd-boot-efi)`;
  for (const [tool, pkg] of [['sfdisk', 'fdisk'], ['mkfs.vfat', 'dosfstools'], ['mcopy', 'mtools'], ['mmd', 'mtools'], ['objcopy', 'binutils'], ['objdump', 'binutils']] as const) {
    if (!onPath(tool)) return `${tool} not found (apt-get install ${pkg}; scripts/setup.sh)`;
  }
  return undefined;
}
