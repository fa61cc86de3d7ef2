/**
 * Owns environment detection for a composefs-booted host (bootc.md §4.1):
 * the booted deployment (from `composefs=`/`composefs.digest=` on the kernel
 * command line and the root mount source in mountinfo; the mount wins), the
 * running bootloader (LoaderInfo EFI variable, BLS fallback) and where the
 * ESP is (an existing vfat mount, else found with lsblk; esp-scope.ts mounts it).
 */
import type { Host } from '../sys/host.js';
import type { Runner } from '../sys/runner.js';
import type { Bootloader } from './host-spec.js';
import { splitCmdline, parseKarg } from '../boot/cmdline.js';
import { TsbootcError, withContext } from '../util/errors.js';
import * as C from './constants.js';

export interface MountInfo {
  mountPoint: string;
  root: string;
  fstype: string;
  source: string;
  mountOptions: string[];
  superOptions: string[];
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      root: unescape(f[3] ?? ''),
      mountPoint: unescape(f[4] ?? ''),
      mountOptions: (f[5] ?? '').split(','),
      fstype: f[sep + 1] ?? '',
      source: unescape(f[sep + 2] ?? ''),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

/** The mount visible at `mountPoint` (the last one mounted there). */
export function mountAt(mounts: readonly MountInfo[], mountPoint: string): MountInfo | undefined {
  return [...mounts].reverse().find((m) => m.mountPoint === mountPoint);
}

export interface ComposefsKarg {
  digest: string;
  missingVerityAllowed: boolean;
}

/** `composefs=[?]<hex>`, else the first `composefs.digest=[v1-sha512-12:]<hex>` (composefs-rs form). */
export function parseComposefsKargs(cmdline: string): ComposefsKarg | undefined {
  let alt: ComposefsKarg | undefined;
  for (const a of splitCmdline(cmdline)) {
    const k = parseKarg(a);
    if (k.key === 'composefs' && k.value !== undefined && k.value !== '') {
      return k.value.startsWith('?') ? { digest: k.value.slice(1), missingVerityAllowed: true } : { digest: k.value, missingVerityAllowed: false };
    }
    if (k.key === 'composefs.digest' && k.value !== undefined && alt === undefined) {
      const v = k.value.startsWith('?') ? k.value.slice(1) : k.value;
      const hex = v.includes(':') ? v.slice(v.lastIndexOf(':') + 1) : v;
      if (hex !== '') alt = { digest: hex, missingVerityAllowed: k.value.startsWith('?') };
    }
  }
  return alt;
}

/** The digest in a composefs root mount source (`composefs:<hex>`, `transient:composefs=<hex>`). */
export function digestOfMountSource(source: string): string | undefined {
  const m = /^(?:composefs:|transient:composefs=)\??([0-9a-fA-F]+)$/.exec(source);
  return m?.[1];
}

export interface BootedComposefs {
  digest: string;
  missingVerityAllowed: boolean;
  /** Set when the root mount disagrees with the command line (soft reboot). */
  cmdlineDigest: string;
}

export interface Detection {
  booted: BootedComposefs | undefined;
  mounts: MountInfo[];
  warnings: string[];
}

export async function detectBooted(host: Host): Promise<Detection> {
  const warnings: string[] = [];
  const cmdline = (await host.root.tryReadText(C.PROC_CMDLINE))?.trim();
  const mountText = await host.root.tryReadText(C.PROC_MOUNTINFO);
  const mounts = mountText === undefined ? [] : parseMountinfo(mountText);
  const karg = cmdline === undefined ? undefined : parseComposefsKargs(cmdline);
  if (karg === undefined) return { booted: undefined, mounts, warnings };
  const rootMount = mountAt(mounts, '/');
  const fromMount = rootMount === undefined ? undefined : digestOfMountSource(rootMount.source);
  if (fromMount === undefined) {
    warnings.push(`Root not mounted using composefs (${rootMount === undefined ? 'no / in mountinfo' : `source ${rootMount.source}`}); using composefs= from the kernel command line`);
  }
  return { booted: { digest: fromMount ?? karg.digest, missingVerityAllowed: karg.missingVerityAllowed, cmdlineDigest: karg.digest }, mounts, warnings };
}

/** Decodes an efivarfs file: 4 attribute bytes, then UTF-16LE (NUL-terminated). */
export function decodeEfiVarString(buf: Buffer): string {
  return buf.subarray(4).toString('utf16le').replace(/\0.*$/s, '');
}

export function bootloaderFromLoaderInfo(info: string): Bootloader {
  const l = info.toLowerCase();
  if (l.includes('systemd-boot')) return 'systemd';
  if (l.includes('grub cc')) return 'grub-cc';
  return 'grub';
}

/** bootc `get_bootloader` plus the BLS fallback for hosts without EFI variables (PR #2376). */
export async function detectBootloader(host: Host): Promise<Bootloader> {
  const v = await host.root.tryReadBytes(`${C.EFIVARS_DIR}/${C.LOADER_INFO_VAR}`);
  if (v !== undefined) return bootloaderFromLoaderInfo(decodeEfiVarString(v));
  if (!(await host.root.isDir(C.EFIVARS_DIR)) && (await host.root.isDir(`/boot/${C.ENTRIES_DIR}`))) return 'systemd';
  return 'grub';
}

const ESP_MOUNT_POINTS = ['/boot', '/efi', '/boot/efi'];

/** Host path of an already-mounted ESP (vfat at /boot, /efi or /boot/efi), if any. */
export function mountedEsp(mounts: readonly MountInfo[]): string | undefined {
  for (const mp of ESP_MOUNT_POINTS) {
    const m = mountAt(mounts, mp);
    if (m !== undefined && (m.fstype === 'vfat' || m.fstype === 'msdos')) return mp;
  }
  return undefined;
}

interface LsblkDev {
  path?: string;
  pkname?: string | null;
  type?: string;
  parttype?: string | null;
}

/**
 * The ESP partition colocated with `device`: walk lsblk parents up to the
 * disks, then take the first child partition with the ESP type GUID.
 */
export async function findColocatedEsp(run: Runner, device: string): Promise<string> {
  return withContext(`Finding the ESP next to ${device}`, async () => {
    const r = await run.run(['lsblk', '--json', '--output', 'PATH,PKNAME,TYPE,PARTTYPE']);
    const devs = ((JSON.parse(r.stdout) as { blockdevices?: LsblkDev[] }).blockdevices ?? []).filter((d) => d.path !== undefined);
    const byPath = new Map(devs.map((d) => [d.path!, d]));
    const disks: string[] = [];
    const seen = new Set<string>();
    const walk = (p: string) => {
      if (seen.has(p)) return;
      seen.add(p);
      const d = byPath.get(p);
      if (d === undefined) return;
      if (d.type === 'disk') disks.push(p);
      const parent = d.pkname ? devs.find((x) => x.path === d.pkname || x.path === `/dev/${d.pkname}`) : undefined;
      if (parent?.path !== undefined) walk(parent.path);
    };
    walk(device);
    for (const disk of disks) {
      const name = disk.replace(/^\/dev\//, '');
      const esp = devs.find((d) => (d.pkname === name || d.pkname === disk) && d.parttype?.toLowerCase() === C.ESP_PARTTYPE);
      if (esp?.path !== undefined) return esp.path;
    }
    throw new TsbootcError(`No ESP (partition type ${C.ESP_PARTTYPE}) found on the disk(s) of ${device}`);
  });
}
