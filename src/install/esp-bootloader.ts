/**
 * Owns what goes onto the ESP at install: systemd-boot (through `bootctl
 * install` when the ESP can be mounted, else copied with mtools into the same
 * places bootctl uses), Secure Boot auto-enroll keys from the image, and the
 * Type1 boot entries with their kernel directories (bootc.md §2, §3, §5.3).
 */
import * as path from 'node:path';
import type { Host } from '../sys/host.js';
import { mount, umount } from '../sys/libc.js';
import type { Root } from '../sys/root.js';
import { formatErrorChain, TsbootcError, UsageError, withContext } from '../util/errors.js';
import { copyToEsp, describeEsp, listEsp, mkdirEsp, writeEspFile, type EspTarget } from './esp.js';

/** EFI architecture suffixes (BOOT<X>.EFI, systemd-boot<x>.efi), by Rust arch name. */
export const EFI_ARCH: Readonly<Record<string, string>> = { x86_64: 'x64', aarch64: 'aa64', riscv64: 'riscv64' };
export const SYSTEMD_BOOT_EFI_DIR = '/usr/lib/systemd/boot/efi';
export const SECUREBOOT_KEYS_DIR = '/usr/lib/bootc/install/secureboot-keys';
export const KERNEL_DIR_PREFIX = 'bootc_composefs-';
/** The loader.conf `bootctl install` writes when there is none. */
export const DEFAULT_LOADER_CONF = '#timeout 3\n#console-mode keep\n';

/** Mounts `device` (vfat) on `target` for the duration of `fn`. */
export type EspMounter = <T>(device: string, target: string, fn: () => Promise<T>) => Promise<T>;

/** The real mounter, with bootc's options for the ESP. */
export const vfatMounter: EspMounter = async (device, target, fn) => {
  mount(device, target, 'vfat', 0, 'fmask=0177,dmask=0077');
  try {
    return await fn();
  } finally {
    umount(target);
  }
};

export interface SystemdBootOptions {
  /** The image's root: the EFI binaries and Secure Boot keys come from here. */
  imageRoot: Root;
  arch: string;
  /** `--generic-image`: touch no EFI variables. */
  generic: boolean;
  /** `auto` (default) uses bootctl when it can mount the ESP; `mtools` forces the copy. */
  method?: 'auto' | 'bootctl' | 'mtools';
  mounter?: EspMounter;
}

export interface SystemdBootResult {
  method: 'bootctl' | 'mtools';
  secureBootKeys: string[];
}

/** Why bootctl cannot be used here, or undefined when it can. */
async function bootctlUnusable(host: Host, esp: EspTarget, o: SystemdBootOptions): Promise<string | undefined> {
  if (!('device' in esp)) return 'the ESP is inside an image file (no device to mount)';
  const fss = (await host.root.tryReadText('/proc/filesystems')) ?? '';
  if (!/\svfat$/m.test(fss)) return 'the kernel cannot mount vfat';
  if (!(await o.imageRoot.isDir('/boot'))) return 'the image has no /boot to mount the ESP on';
  try {
    const r = await host.run.run(['bootctl', '--version'], { allowFailure: true });
    if (r.exitCode !== 0) return `bootctl --version exited ${r.exitCode}`;
  } catch (err) {
    return `bootctl cannot run (${formatErrorChain(err)})`;
  }
  return undefined;
}

/**
 * Installs systemd-boot onto the ESP and copies Secure Boot keys. With bootctl
 * (bootc's way): the ESP is mounted on the image's /boot and `bootctl install
 * --root IMAGE --esp-path /boot` runs. Otherwise the same files bootctl would
 * write are copied with mtools. The debug log says which path ran and why.
 */
export async function installSystemdBoot(host: Host, esp: EspTarget, o: SystemdBootOptions): Promise<SystemdBootResult> {
  return withContext(`Installing systemd-boot on ${describeEsp(esp)}`, async () => {
    const efiArch = EFI_ARCH[o.arch];
    if (efiArch === undefined) throw new UsageError(`install: systemd-boot does not support architecture ${o.arch}`);
    const method = o.method ?? 'auto';
    const why = method === 'mtools' ? 'mtools requested' : await bootctlUnusable(host, esp, o);
    if (method === 'bootctl' && why !== undefined) throw new TsbootcError(`cannot run bootctl: ${why}`);
    if (why === undefined && 'device' in esp) {
      host.log.debug({ kind: 'step', message: `installing systemd-boot with bootctl on ${esp.device}` });
      await (o.mounter ?? vfatMounter)(esp.device, o.imageRoot.resolve('/boot'), () => runBootctl(host, o));
    } else {
      host.log.debug({ kind: 'step', message: `installing systemd-boot with mtools on ${describeEsp(esp)} (${why})` });
      await copySystemdBoot(host, esp, o.imageRoot, efiArch);
    }
    const secureBootKeys = await copySecureBootKeys(host, esp, o.imageRoot);
    return { method: why === undefined ? 'bootctl' : 'mtools', secureBootKeys };
  });
}

async function runBootctl(host: Host, o: SystemdBootOptions): Promise<void> {
  const argv = ['bootctl', 'install', '--root', o.imageRoot.prefix, '--esp-path', '/boot'];
  if (o.generic) argv.push('--no-variables');
  await host.run.run(argv, { env: { SYSTEMD_RELAX_ESP_CHECKS: '1', KERNEL_INSTALL_CONF_ROOT: '/tmp' } });
}

/** The layout `bootctl install` produces (systemd 252), minus the random seed. */
async function copySystemdBoot(host: Host, esp: EspTarget, imageRoot: Root, efiArch: string): Promise<void> {
  const binary = `${SYSTEMD_BOOT_EFI_DIR}/systemd-boot${efiArch}.efi`;
  if (!(await imageRoot.exists(binary))) throw new TsbootcError(`the image has no systemd-boot EFI binary at ${binary}`);
  const existing = await listEsp(host, esp);
  await mkdirEsp(host, esp, ['EFI/BOOT', 'EFI/systemd', 'EFI/Linux', 'loader/entries'], existing);
  await copyToEsp(host, esp, imageRoot.resolve(binary), `EFI/systemd/systemd-boot${efiArch}.efi`);
  await copyToEsp(host, esp, imageRoot.resolve(binary), `EFI/BOOT/BOOT${efiArch.toUpperCase()}.EFI`);
  if (!existing.some((e) => e.toLowerCase() === 'loader/loader.conf')) await writeEspFile(host, esp, 'loader/loader.conf', DEFAULT_LOADER_CONF);
  await writeEspFile(host, esp, 'loader/entries.srel', 'type1\n');
}

/**
 * Copies `*.auth` from the image's secureboot-keys/<NAME>/ to ESP
 * loader/keys/<NAME>/ (systemd-boot auto-enrollment). Returns the ESP paths written.
 */
export async function copySecureBootKeys(host: Host, esp: EspTarget, imageRoot: Root): Promise<string[]> {
  const written: string[] = [];
  for (const name of await imageRoot.listDir(SECUREBOOT_KEYS_DIR)) {
    const dir = `${SECUREBOOT_KEYS_DIR}/${name}`;
    if (!(await imageRoot.isDir(dir))) continue;
    const auths = (await imageRoot.listDir(dir)).filter((f) => f.endsWith('.auth'));
    if (auths.length === 0) continue;
    await mkdirEsp(host, esp, [`loader/keys/${name}`]);
    for (const f of auths) {
      await copyToEsp(host, esp, imageRoot.resolve(`${dir}/${f}`), `loader/keys/${name}/${f}`);
      written.push(`loader/keys/${name}/${f}`);
    }
  }
  return written;
}

export interface Type1Kernel {
  /** The boot artifact name: the directory is `EFI/Linux/bootc_composefs-<id>/`. */
  id: string;
  /** Host paths of the kernel and initramfs to copy. */
  vmlinuz: string;
  initrd: string;
}

export interface BootEntryFiles {
  kernels: readonly Type1Kernel[];
  /** BLS entries by file name (`bootc_fedora-44-1.conf`), serialized by the caller. */
  entries: readonly { name: string; text: string }[];
  /** Write into `loader/entries.staged/` instead of `loader/entries/`. */
  staged?: boolean;
  /** Replaces loader/loader.conf when given. */
  loaderConf?: string;
}

/** Writes Type1 kernel directories, BLS entries and loader.conf onto the ESP. */
export async function writeBootEntries(host: Host, esp: EspTarget, f: BootEntryFiles): Promise<void> {
  await withContext(`Writing boot entries on ${describeEsp(esp)}`, async () => {
    const entriesDir = f.staged === true ? 'loader/entries.staged' : 'loader/entries';
    const kdirs = f.kernels.map((k) => `EFI/Linux/${KERNEL_DIR_PREFIX}${k.id}`);
    await mkdirEsp(host, esp, [entriesDir, ...kdirs]);
    for (const [i, k] of f.kernels.entries()) {
      await copyToEsp(host, esp, k.vmlinuz, `${kdirs[i]}/vmlinuz`);
      await copyToEsp(host, esp, k.initrd, `${kdirs[i]}/initrd`);
    }
    for (const e of f.entries) {
      if (e.name.includes('/') || path.extname(e.name) !== '.conf') throw new UsageError(`invalid boot entry file name ${JSON.stringify(e.name)}`);
      await writeEspFile(host, esp, `${entriesDir}/${e.name}`, e.text);
    }
    if (f.loaderConf !== undefined) await writeEspFile(host, esp, 'loader/loader.conf', f.loaderConf);
  });
}
