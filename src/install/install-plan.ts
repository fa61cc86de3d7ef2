/**
 * Owns the pure decisions of `install to-disk|to-filesystem` (bootc.md §1.2,
 * §3.3, §5.1, §5.4): the options types shared by both verbs, the target image
 * reference recorded in the origin, the bootloader and filesystem choice from
 * flags and the image's install config, whether the cmdline names `root=` or
 * relies on Discoverable Partitions, the kernel command line of the first
 * entry, and the order of the deploy steps (boot entries last, so an
 * interrupted install never leaves an entry without its deployment).
 */
import { formatOriginImageRef, isTransport, parseContainersImageRef, type ImageRef } from '../image/ref.js';
import { UsageError } from '../util/errors.js';
import type { BootloaderName, Filesystem, InstallConfig } from './config.js';
import { parseRootFilesystem } from './disk-checks.js';
import type { DiskIds } from './disk-layout.js';

/** Flags shared by to-disk and to-filesystem (bootc's source, target, config and composefs groups). */
export interface InstallCommonOptions {
  /** Required in tsbootc: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `dir:DIR`, `docker://NAME`. */
  sourceImgref: string | undefined;
  targetImgref?: string | undefined;
  /** Default `registry`. */
  targetTransport?: string | undefined;
  enforceContainerSigpolicy?: boolean | undefined;
  kargs?: readonly string[] | undefined;
  disableSelinux?: boolean | undefined;
  /** Host path of an authorized_keys file for root. */
  rootSshAuthorizedKeys?: string | undefined;
  genericImage?: boolean | undefined;
  /** GRUB: no --write-uuid for bootupctl. */
  bootupdSkipBootUuid?: boolean | undefined;
  bootloader?: BootloaderName | undefined;
  /** Automatic when the target cannot do fs-verity. */
  allowMissingVerity?: boolean | undefined;
  ukiAddons?: readonly string[] | undefined;
  /** Rust architecture name. */
  arch: string;
  /** Scratch space for the source image check (default: the OS temp dir, or beside a disk image). */
  workDir?: string | undefined;
}

export interface ToDiskOptions extends InstallCommonOptions {
  device: string;
  viaLoopback?: boolean | undefined;
  wipe?: boolean | undefined;
  filesystem?: string | undefined;
  rootSizeMiB?: number | undefined;
  blockSetup?: 'direct' | 'tpm2-luks' | undefined;
  ids?: Partial<DiskIds> | undefined;
  /** Image files: `loop` (root) or `offsets` (no privileges); default by uid. */
  imageMethod?: 'loop' | 'offsets' | undefined;
  /** Image files only: create the file with this size when missing. */
  createSizeBytes?: number | undefined;
}

export interface ToFilesystemOptions extends InstallCommonOptions {
  rootPath: string;
  rootMountSpec?: string | undefined;
  bootMountSpec?: string | undefined;
  replace?: 'wipe' | 'alongside' | undefined;
  acknowledgeDestructive?: boolean | undefined;
  skipFinalize?: boolean | undefined;
}

export interface ToExistingRootOptions extends InstallCommonOptions {
  /** Default /target (bootc's mount of the host root in its container). */
  rootPath?: string | undefined;
  /** Default alongside. */
  replace?: 'wipe' | 'alongside' | undefined;
  acknowledgeDestructive?: boolean | undefined;
  /** Leave bootc's destructive-cleanup stamp so the old system is removed on first boot. */
  cleanup?: boolean | undefined;
}

/** The deploy steps in the order they run; `entries` is last. */
export const INSTALL_STEPS = ['repository', 'pull', 'bootloader', 'kernel', 'state', 'entries'] as const;
export type InstallStep = (typeof INSTALL_STEPS)[number];

export const TAG_PREFIX = 'localhost/bootc-';

/** bootc's GC-root tag of a deployment's image. */
export function bootcTag(manifestDigest: string): string {
  return `${TAG_PREFIX}${manifestDigest}`;
}

/** The source is required: tsbootc never runs inside the container it installs. */
export function requireSource(verb: string, src: string | undefined): string {
  if (src === undefined || src === '') {
    throw new UsageError(
      `install ${verb}: --source-imgref is required: bootc installs its own container image when run inside podman, but tsbootc runs on the host, not in a container (pass e.g. --source-imgref oci:/path/to/layout:tag or docker://quay.io/org/image:tag)`,
    );
  }
  return src;
}

/** The origin image reference: --target-imgref with --target-transport, else the source (bootc §5.1). */
export function targetImageRef(source: string, o: Pick<InstallCommonOptions, 'targetImgref' | 'targetTransport' | 'enforceContainerSigpolicy'>): ImageRef {
  const signature: ImageRef['signature'] = o.enforceContainerSigpolicy === true ? { kind: 'containerPolicy' } : { kind: 'insecure' };
  if (o.targetImgref !== undefined && o.targetImgref !== '') {
    const t = o.targetTransport ?? 'registry';
    if (!isTransport(t)) throw new UsageError(`install: unknown --target-transport '${t}'`);
    const prefix = t === 'registry' ? 'docker://' : `${t}:`;
    const image = o.targetImgref.startsWith(prefix) ? o.targetImgref.slice(prefix.length) : o.targetImgref;
    return { transport: t, image, signature };
  }
  return { ...parseContainersImageRef(source), signature };
}

export function originImageReference(r: ImageRef): string {
  return formatOriginImageRef(r);
}

/**
 * bootc's bootloader choice: flag, else install config, else grub when the
 * image ships bootupctl, else systemd. `none` is refused with composefs.
 */
export function chooseBootloader(flag: BootloaderName | undefined, config: InstallConfig | undefined, imageHasBootupctl: boolean): { bootloader: 'systemd' | 'grub'; explicit: boolean } {
  const chosen = flag ?? config?.bootloader;
  if (chosen === 'none') throw new UsageError('install: --bootloader none is not supported with the composefs backend');
  if (chosen === 'grub-cc') throw new UsageError('install: --bootloader grub-cc is not supported by tsbootc yet');
  if (chosen !== undefined) return { bootloader: chosen, explicit: flag !== undefined };
  return { bootloader: imageHasBootupctl ? 'grub' : 'systemd', explicit: false };
}

/** `--filesystem`, else the install config's root type; bootc refuses when neither names one. */
export function chooseFilesystem(flag: string | undefined, config: InstallConfig | undefined, target: string): Filesystem {
  const fs = flag ?? config?.filesystem?.root?.type ?? config?.['root-fs-type'];
  if (fs === undefined) throw new UsageError(`install to-disk: no root filesystem specified for ${target}: pass --filesystem ext4|xfs|btrfs (or set [install.filesystem.root] type in the image's install config)`);
  return parseRootFilesystem(fs, target);
}

/** DPS (no `root=`): install config `discoverable-partitions`, or an explicit systemd-boot choice (§3.3). */
export function useDiscoverablePartitions(config: InstallConfig | undefined, bootloader: { bootloader: string; explicit: boolean }): boolean {
  if (config?.['discoverable-partitions'] !== undefined) return config['discoverable-partitions'];
  return bootloader.explicit && bootloader.bootloader === 'systemd';
}

/**
 * The options of the first entry: root kargs (root=…/rw, CLI kargs, selinux=0),
 * then `composefs=[?]<id>`, then the image's kargs.d, each added only when
 * that exact argument is not there yet (Cmdline::extend).
 */
export function installCmdline(o: { rootKargs: readonly string[]; cliKargs: readonly string[]; disableSelinux: boolean; verity: string; insecure: boolean; imageKargs: readonly string[] }): string {
  const out: string[] = [];
  const add = (a: string) => {
    if (a !== '' && !out.includes(a)) out.push(a);
  };
  o.rootKargs.forEach(add);
  o.cliKargs.forEach(add);
  if (o.disableSelinux) add('selinux=0');
  add(`composefs=${o.insecure ? '?' : ''}${o.verity}`);
  o.imageKargs.forEach(add);
  return out.join(' ');
}

/** The kernel arguments that name the root of a to-filesystem install. */
export function filesystemRootKargs(o: { rootMountSpec: string | undefined; fsUuid: string; subvol?: string | undefined; bootSource?: string | undefined }): string[] {
  const out: string[] = [];
  const spec = o.rootMountSpec ?? `UUID=${o.fsUuid}`;
  if (spec !== '') out.push(`root=${spec}`);
  if (o.subvol !== undefined && o.subvol !== '' && o.subvol !== '/') out.push(`rootflags=subvol=${o.subvol}`);
  out.push('rw');
  if (o.bootSource !== undefined && o.bootSource !== '') out.push(`boot=${o.bootSource}`);
  return out;
}

/** The tmpfiles.d snippet bootc writes for --root-ssh-authorized-keys (root's home is /var/roothome). */
export function rootSshTmpfiles(keys: string): string {
  return `d /var/roothome/.ssh 0700 root root -\nf~ /var/roothome/.ssh/authorized_keys 600 root root - ${Buffer.from(keys).toString('base64')}\n`;
}
export const ROOT_SSH_TMPFILES = 'tmpfiles.d/bootc-root-ssh.conf';
