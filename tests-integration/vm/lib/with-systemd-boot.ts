/**
 * Owns giving a test image a bootloader to install: the test images ship no
 * systemd-boot, and `install to-disk` installs systemd-boot from the image
 * (as bootc does), so this adds the host's EFI binary in one umoci layer on
 * top of a tag, under a new tag. Used by the install boot test and the demo.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { execText } from '../image/exec.js';
import { SYSTEMD_BOOT_EFI } from './uefi-disk.js';

/** Tags `layout:tag` + a systemd-boot layer as `newTag`; returns the `oci:` reference. */
export async function withSystemdBoot(layout: string, tag: string, newTag: string, work: string): Promise<string> {
  const dir = path.join(work, 'sdboot-layer');
  mkdirSync(path.join(dir, 'usr/lib/systemd/boot/efi'), { recursive: true });
  copyFileSync(SYSTEMD_BOOT_EFI, path.join(dir, 'usr/lib/systemd/boot/efi/systemd-bootx64.efi'));
  // umoci 0.4.7 cuts the last tar entry's padding: end the layer with an empty file.
  mkdirSync(path.join(dir, 'usr/share/tsbootc-test'), { recursive: true });
  writeFileSync(path.join(dir, 'usr/share/tsbootc-test/zz-systemd-boot-added'), '');
  await execText(['umoci', 'tag', '--image', `${layout}:${tag}`, newTag]);
  await execText(['umoci', 'insert', '--image', `${layout}:${newTag}`, '--history.created', '2025-01-01T00:00:00Z', '--history.created_by', 'tsbootc: add systemd-boot', dir, '/']);
  return `oci:${layout}:${newTag}`;
}
