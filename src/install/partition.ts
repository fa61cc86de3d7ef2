/**
 * Owns the disk layout `install to-disk` creates (pure): the sfdisk script
 * (GPT, BIOS-BOOT on x86_64, a 1 GiB EFI-SYSTEM for composefs, an optional
 * `boot` for tpm2-luks, `root` typed with the architecture's Discoverable
 * Partitions root GUID), the mkfs command lines, and the root kernel arguments.
 */
import { UsageError } from '../util/errors.js';
import type { BlockSetup, Filesystem } from './config.js';

export const ESP_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const BIOS_BOOT_GUID = '21686148-6449-6E6F-744E-656564454649';
export const PREP_BOOT_GUID = '9E1A2D38-C612-4316-AA26-8B49521E5A8B';
/** ESP size for composefs installs (kernels and UKIs live there). */
export const CFS_ESP_SIZE_MIB = 1024;
export const BOOT_PART_SIZE_MIB = 510;

/** Discoverable Partitions Specification root partition types, by Rust arch name. */
export const DPS_ROOT_GUIDS: Readonly<Record<string, string>> = {
  x86_64: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
  aarch64: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
  s390x: '5eead9a9-fe09-4a1e-a1d7-520d00531306',
  powerpc64: 'c31c45e6-3f39-412e-80fb-4809c4980599',
  riscv64: '72ec70a6-cf74-40e6-bd49-4bda08e8f224',
};

export interface PartitionPlan {
  script: string;
  espPartno: number | undefined;
  bootPartno: number | undefined;
  rootPartno: number;
}

/** Parses `--root-size`: `N` or `N` with an M, G or T suffix (binary units), in MiB. */
export function parseSizeMiB(s: string): number {
  const m = /^([0-9]+)([MGT]?)$/i.exec(s.trim());
  if (m === null || m[1] === undefined) throw new UsageError(`invalid size '${s}': expected N[M|G|T]`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  const mult = unit === 'G' ? 1024 : unit === 'T' ? 1024 * 1024 : 1;
  const mib = n * mult;
  if (!Number.isSafeInteger(mib) || mib <= 0) throw new UsageError(`invalid size '${s}': must be a positive size`);
  return mib;
}

export interface PlanOptions {
  arch: string;
  labelId: string;
  blockSetup: BlockSetup;
  rootSizeMiB?: number;
}

export function planPartitions(o: PlanOptions): PartitionPlan {
  const rootGuid = DPS_ROOT_GUIDS[o.arch];
  if (rootGuid === undefined) throw new UsageError(`install to-disk: unsupported architecture ${o.arch}`);
  const lines = ['label: gpt', `label-id: ${o.labelId}`];
  let partno = 0;
  if (o.arch === 'x86_64') {
    partno++;
    lines.push(`size=1MiB, bootable, type=${BIOS_BOOT_GUID}, name="BIOS-BOOT"`);
  } else if (o.arch === 'powerpc64') {
    partno++;
    lines.push(`size=4MiB, bootable, type=${PREP_BOOT_GUID}, name="PowerPC-PReP-boot"`);
  }
  let espPartno: number | undefined;
  if (o.arch !== 's390x') {
    espPartno = ++partno;
    lines.push(`size=${CFS_ESP_SIZE_MIB}MiB, type=${ESP_GUID}, name="EFI-SYSTEM"`);
  }
  let bootPartno: number | undefined;
  if (o.blockSetup === 'tpm2-luks') {
    bootPartno = ++partno;
    lines.push(`size=${BOOT_PART_SIZE_MIB}MiB, name="boot"`);
  }
  const rootPartno = ++partno;
  lines.push(`${o.rootSizeMiB !== undefined ? `size=${o.rootSizeMiB}MiB, ` : ''}type=${rootGuid}, name="root"`);
  return { script: lines.join('\n') + '\n', espPartno, bootPartno, rootPartno };
}

/** mkfs for the root (or boot) filesystem; ext4 always gets fs-verity. */
export function mkfsArgv(fs: Filesystem, device: string, label: string, uuid: string, wipe: boolean): string[] {
  const argv = [`mkfs.${fs}`];
  if (fs === 'xfs') {
    if (wipe) argv.push('-f');
    argv.push('-m', `uuid=${uuid}`);
  } else argv.push('-U', uuid);
  argv.push('-L', label);
  if (fs === 'ext4') argv.push('-O', 'verity');
  if (fs === 'btrfs' && wipe) argv.push('-f');
  argv.push(device);
  return argv;
}

/** Whether the filesystem can hold fs-verity objects (else the repository is insecure). */
export function supportsFsverity(fs: Filesystem): boolean {
  return fs === 'ext4' || fs === 'btrfs';
}

/**
 * Root kernel arguments of a to-disk install, extended as bootc's Cmdline::extend
 * does (an argument is added only when that exact argument is not present yet).
 */
export function rootKargs(o: { discoverable: boolean; rootUuid: string; bootUuid?: string; cliKargs: readonly string[] }): string[] {
  const out: string[] = [];
  const add = (a: string) => {
    if (!out.includes(a)) out.push(a);
  };
  if (!o.discoverable) add(`root=UUID=${o.rootUuid}`);
  add('rw');
  if (o.bootUuid !== undefined) add(`boot=UUID=${o.bootUuid}`);
  for (const k of o.cliKargs) add(k);
  return out;
}
