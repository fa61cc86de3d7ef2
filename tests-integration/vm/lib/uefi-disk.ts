/**
 * Owns the GPT disk image of the UEFI boot tests: an ESP written with mtools
 * (the host kernel has no vfat) holding systemd-boot and either the Type1 kernel
 * dir EFI/Linux/bootc_composefs-<id>/{vmlinuz,initrd} or the UKI
 * EFI/Linux/bootc/bootc_composefs-<id>.efi, with its BLS entry
 * (bootc.md §3.1–3.2), followed by the ext4 physical root, copied in at its
 * partition offset. No loop device, no mount (environment.md §6–§7).
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { exec } from '../image/exec.js';

export const SYSTEMD_BOOT_EFI = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const ROOT_X86_64_TYPE = '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709';

export type BlsEntry =
  | { title: string; version: string; linux: string; initrd: string; options: string; sortKey: string }
  | { title: string; version: string; efi: string; sortKey: string };

/** A BLS entry in bootc's field order (the `efi` key: systemd-boot 252 predates `uki`). */
export function formatBlsEntry(e: BlsEntry): string {
  const body = 'efi' in e ? `efi ${e.efi}\n` : `linux ${e.linux}\ninitrd ${e.initrd}\noptions ${e.options}\n`;
  return `title ${e.title}\nversion ${e.version}\n${body}sort-key ${e.sortKey}\n`;
}

export type UefiBoot =
  | { kind: 'type1'; vmlinuz: string; initramfs: string; options: string }
  | { kind: 'uki'; uki: string };

export interface UefiDiskOptions {
  workDir: string;
  /** The deployment id (composefs= digest). */
  id: string;
  boot: UefiBoot;
  /** The ext4 physical root image (from buildComposefsRoot), placed in partition 2. */
  rootImage: string;
  rootSizeMiB: number;
  /** os-release ID, VERSION_ID and PRETTY_NAME of the image. */
  osId: string;
  versionId: string;
  prettyName: string;
  espSizeMiB?: number;
}

export interface UefiDisk {
  disk: string;
  entryName: string;
  entry: string;
}

/** Writes <workDir>/uefi-disk.img (see the module comment). */
export async function buildUefiDisk(opts: UefiDiskOptions): Promise<UefiDisk> {
  const espMiB = opts.espSizeMiB ?? 64;
  const disk = path.join(opts.workDir, 'uefi-disk.img');
  const esp = path.join(opts.workDir, 'esp.img');
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  await exec(['truncate', '-s', `${1 + espMiB + opts.rootSizeMiB + 1}M`, disk]);
  const table = `label: gpt\nstart=1MiB, size=${espMiB}MiB, type=${ESP_TYPE}, name="EFI-SYSTEM"\nsize=${opts.rootSizeMiB}MiB, type=${ROOT_X86_64_TYPE}, name="root"\n`;
  await exec(['sfdisk', '--quiet', disk], { input: table });

  await exec(['mkfs.vfat', '-C', '-F', '32', '-s', '1', '-n', 'EFI-SYSTEM', '-i', '7e57b007', esp, String(espMiB * 1024)]);
  const name = `bootc_composefs-${opts.id}`;
  const dirs = opts.boot.kind === 'type1' ? [`::/EFI/Linux/${name}`] : ['::/EFI/Linux/bootc'];
  await exec(['mmd', '-i', esp, '::/EFI', '::/EFI/BOOT', '::/EFI/systemd', '::/EFI/Linux', ...dirs, '::/loader', '::/loader/entries'], { env });
  const put = async (src: string, dst: string): Promise<void> => {
    await exec(['mcopy', '-i', esp, src, `::${dst}`], { env });
  };
  await put(SYSTEMD_BOOT_EFI, '/EFI/BOOT/BOOTX64.EFI');
  await put(SYSTEMD_BOOT_EFI, '/EFI/systemd/systemd-bootx64.efi');
  const loaderConf = path.join(opts.workDir, 'loader.conf');
  writeFileSync(loaderConf, 'timeout 0\n');
  await put(loaderConf, '/loader/loader.conf');
  const head = { title: opts.prettyName, version: opts.versionId, sortKey: `bootc-${opts.osId}-0` };
  let entry: string;
  if (opts.boot.kind === 'type1') {
    await put(opts.boot.vmlinuz, `/EFI/Linux/${name}/vmlinuz`);
    await put(opts.boot.initramfs, `/EFI/Linux/${name}/initrd`);
    entry = formatBlsEntry({ ...head, linux: `/EFI/Linux/${name}/vmlinuz`, initrd: `/EFI/Linux/${name}/initrd`, options: opts.boot.options });
  } else {
    await put(opts.boot.uki, `/EFI/Linux/bootc/${name}.efi`);
    entry = formatBlsEntry({ ...head, efi: `/EFI/Linux/bootc/${name}.efi` });
  }
  const entryName = `bootc_${opts.osId.replace(/-/g, '_')}-${opts.versionId}-1.conf`;
  const entryFile = path.join(opts.workDir, entryName);
  writeFileSync(entryFile, entry);
  await put(entryFile, `/loader/entries/${entryName}`);

  await exec(['dd', `if=${esp}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
  await exec(['dd', `if=${opts.rootImage}`, `of=${disk}`, 'bs=1M', `seek=${1 + espMiB}`, 'conv=notrunc,sparse', 'status=none']);
  return { disk, entryName, entry };
}

/** A writable copy of the OVMF variable store for one boot. */
export function copyOvmfVars(workDir: string): string {
  const vars = path.join(workDir, 'OVMF_VARS.fd');
  copyFileSync(OVMF_VARS, vars);
  return vars;
}

