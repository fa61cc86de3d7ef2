/**
 * Owns writing the boot side of a new deployment (bootc.md §3.1–§3.5): the
 * kernel dir (Type1, deduplicated by sha256(vmlinuz ‖ initrd) against older
 * `bootc_composefs-*` dirs, since FAT has no links) or the UKI, and its
 * entries: BLS `bootc_<os>-<ver>-<prio>.conf` with `bootc-<os>-<0|1>` sort
 * keys, or GRUB `user.cfg` menuentries. Install writes the live set; an
 * upgrade writes the staged set (new primary + the booted entry as secondary).
 */
import { createHash } from 'node:crypto';
import type { Root } from '../sys/root.js';
import type { Bootloader } from './constants.js';
import { StateCorruptError, withContext } from '../util/errors.js';
import { formatBls, type1Entry, ukiEntry, type BlsEntry, type EfiKey } from './bls.js';
import { formatUserCfg, newMenuEntry, type MenuEntry } from './grub-cfg.js';
import { confFileName, primarySortKey, secondarySortKey } from './entry-order.js';
import { osInfoFrom, parseOsRelease, peSection, readPeSections, type1BootDigest, ukiBootDigest, ukiBootLabel } from './pe.js';
import * as C from './constants.js';

/** Where and how to write boot entries on this host. */
export interface BootTarget {
  root: Root;
  bootloader: Bootloader;
  /** Host path of the dir holding `loader/` (ESP) or `grub2/` (`/sysroot/boot`). */
  bootDir: string;
  /** Host path of the ESP (UKIs, systemd-boot Type1 kernels). */
  esp: string;
  /** `uki` when systemd ≥ 258, else `efi`; grub-cc always `efi`. */
  efiKey: EfiKey;
  /** Path prefix of GRUB kernel paths: `/boot` when /boot is on the root fs, '' for a separate /boot. */
  grubBootPrefix: string;
}

export type BootPayload =
  | { kind: 'type1'; vmlinuz: Uint8Array; initrd: Uint8Array; osRelease: string | undefined; options: string }
  | { kind: 'uki'; uki: Uint8Array };

export interface WrittenBoot {
  /** Kernel dir / UKI name minus prefix (may be an older deployment's for shared kernels). */
  artifact: string;
  bootDigest: string;
  /** The new deployment's entry (BLS) or menuentry (GRUB UKI). */
  bls: BlsEntry | undefined;
  menu: MenuEntry | undefined;
  osId: string;
}

function type1BinDir(t: BootTarget): string {
  return t.bootloader === 'grub' ? t.bootDir : `${t.esp}/${C.EFI_LINUX}`;
}

/** Writes the kernel dir or UKI of deployment `verity` and returns its entry (not yet written). */
export async function writeBootArtifacts(t: BootTarget, verity: string, p: BootPayload): Promise<WrittenBoot> {
  return withContext(`Writing boot artifacts of ${verity}`, async () => {
    if (p.kind === 'uki') {
      const uki = Buffer.from(p.uki);
      const sections = readPeSections(uki);
      const osrel = parseOsRelease(peSection(sections, '.osrel')?.toString('utf8') ?? '');
      const info = osInfoFrom(osrel, verity);
      const name = `${C.ARTIFACT_PREFIX}${verity}${C.UKI_EXT}`;
      await t.root.mkdirp(`${t.esp}/${C.BOOTC_UKI_DIR}`);
      await t.root.writeAtomic(`${t.esp}/${C.BOOTC_UKI_DIR}/${name}`, uki);
      const label = ukiBootLabel(osrel);
      if (t.bootloader === 'grub') return { artifact: verity, bootDigest: ukiBootDigest(uki), bls: undefined, menu: newMenuEntry(label, verity), osId: info.osId };
      const key: EfiKey = t.bootloader === 'grub-cc' ? 'efi' : t.efiKey;
      const bls = ukiEntry({ title: label, version: osrel.get('VERSION_ID') ?? verity, efi: `/${C.BOOTC_UKI_DIR}/${name}`, efiKey: key, sortKey: primarySortKey(info.osId) });
      return { artifact: verity, bootDigest: ukiBootDigest(uki), bls, menu: undefined, osId: info.osId };
    }
    const digest = type1BootDigest(p.vmlinuz, p.initrd);
    const binDir = type1BinDir(t);
    let dir = await findKernelDir(t.root, binDir, digest);
    if (dir === undefined) {
      dir = `${C.ARTIFACT_PREFIX}${verity}`;
      await t.root.mkdirp(`${binDir}/${dir}`);
      await t.root.writeAtomic(`${binDir}/${dir}/${C.TYPE1_KERNEL}`, p.vmlinuz);
      await t.root.writeAtomic(`${binDir}/${dir}/${C.TYPE1_INITRD}`, p.initrd);
      await t.root.syncDir(binDir); // the new dir's entry, before any boot entry names it
    }
    const info = osInfoFrom(p.osRelease === undefined ? undefined : parseOsRelease(p.osRelease), verity);
    const base = t.bootloader === 'grub' ? `${t.grubBootPrefix}/${dir}` : `/${C.EFI_LINUX}/${dir}`;
    const bls = type1Entry({ title: info.title, version: info.version, linux: `${base}/${C.TYPE1_KERNEL}`, initrd: [`${base}/${C.TYPE1_INITRD}`], options: p.options, sortKey: primarySortKey(info.osId) });
    return { artifact: dir.slice(C.ARTIFACT_PREFIX.length), bootDigest: digest, bls, menu: undefined, osId: info.osId };
  });
}

/**
 * File name of the secondary entry. GRUB (blscfg) and grub-cc order by file
 * name as name-version-release, comparing the version before the release, so
 * a secondary with a higher version would become the default. There tsbootc
 * names the secondary with the primary's version (the `version` key inside
 * keeps the real one); systemd-boot orders by sort-key and gets bootc's name.
 */
export function secondaryFileName(bootloader: Bootloader, osId: string, primaryVersion: string, secondaryVersion: string): string {
  return confFileName(osId, bootloader === 'systemd' ? secondaryVersion : primaryVersion, C.PRIO_SECONDARY);
}

/** An existing `bootc_composefs-*` kernel dir with the same sha256(vmlinuz ‖ initrd). */
export async function findKernelDir(root: Root, binDir: string, digest: string): Promise<string | undefined> {
  for (const name of await root.listDir(binDir)) {
    if (!name.startsWith(C.ARTIFACT_PREFIX) || !(await root.isDir(`${binDir}/${name}`))) continue;
    const k = await root.tryReadBytes(`${binDir}/${name}/${C.TYPE1_KERNEL}`);
    const i = await root.tryReadBytes(`${binDir}/${name}/${C.TYPE1_INITRD}`);
    if (k === undefined || i === undefined) continue;
    if (createHash('sha256').update(k).update(i).digest('hex') === digest) return name;
  }
  return undefined;
}

/** Install: the new entry becomes the only live entry (GRUB UKI also writes efiuuid.cfg). */
export async function writeInstallEntries(t: BootTarget, w: WrittenBoot, espUuid?: string): Promise<void> {
  await withContext('Writing boot entries', async () => {
    if (w.menu !== undefined) {
      await t.root.mkdirp(`${t.bootDir}/${C.GRUB_DIR}`);
      if (espUuid !== undefined) await t.root.writeAtomic(`${t.bootDir}/${C.EFI_UUID_CFG}`, `set EFI_PART_UUID="${espUuid.trim()}"`);
      await t.root.writeAtomic(`${t.bootDir}/${C.USER_CFG}`, formatUserCfg([w.menu]));
      return;
    }
    const bls = w.bls!;
    await t.root.mkdirp(`${t.bootDir}/${C.ENTRIES_DIR}`);
    await t.root.writeAtomic(`${t.bootDir}/${C.ENTRIES_DIR}/${confFileName(w.osId, bls.version, C.PRIO_PRIMARY)}`, formatBls(bls));
    if (bls.efi !== undefined && t.bootloader !== 'grub' && !(await t.root.exists(`${t.bootDir}/${C.LOADER_CONF}`))) {
      await t.root.writeAtomic(`${t.bootDir}/${C.LOADER_CONF}`, C.LOADER_CONF_CONTENT);
    }
  });
}

/**
 * Upgrade: the staged set = the new primary entry + the booted entry
 * re-serialized as secondary (GRUB UKI: new menuentry + the first current one).
 * Any previous staged set is replaced.
 */
export async function writeStagedEntries(t: BootTarget, w: WrittenBoot, booted: { bls: BlsEntry | undefined; menu: MenuEntry | undefined }): Promise<void> {
  await withContext('Writing staged boot entries', async () => {
    if (w.menu !== undefined) {
      if (booted.menu === undefined) throw new StateCorruptError(`No menuentry for the booted deployment in ${t.bootDir}/${C.USER_CFG}`);
      await t.root.writeAtomic(`${t.bootDir}/${C.USER_CFG_STAGED}`, formatUserCfg([w.menu, booted.menu]));
      return;
    }
    if (booted.bls === undefined) throw new StateCorruptError(`No boot entry for the booted deployment in ${t.bootDir}/${C.ENTRIES_DIR}`);
    const dir = `${t.bootDir}/${C.ENTRIES_STAGED_DIR}`;
    await t.root.remove(dir);
    await t.root.mkdirp(dir);
    const bls = w.bls!;
    await t.root.writeAtomic(`${dir}/${confFileName(w.osId, bls.version, C.PRIO_PRIMARY)}`, formatBls(bls));
    const second: BlsEntry = { ...booted.bls, sortKey: secondarySortKey(w.osId) };
    await t.root.writeAtomic(`${dir}/${secondaryFileName(t.bootloader, w.osId, bls.version, second.version)}`, formatBls(second));
    await t.root.syncDir(dir);
  });
}
