/**
 * Owns every on-disk path and name of a composefs-backend host that tsbootc
 * shares with bootc (bootc.md §2, §3.1; bootc `composefs_consts.rs`). Host
 * paths are absolute host paths handed to Root; paths relative to the
 * physical root, the ESP or the "boot dir" are relative. Nothing else in
 * src/deploy or src/boot spells these strings.
 */

export * from '../boot/constants.js';

/** The physical root at runtime (host path). */
export const SYSROOT = '/sysroot';
export const PROC_CMDLINE = '/proc/cmdline';
export const PROC_MOUNTINFO = '/proc/self/mountinfo';
export const EFIVARS_DIR = '/sys/firmware/efi/efivars';
/** systemd's loader GUID; `LoaderInfo-<guid>` names the running bootloader. */
export const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';
export const LOADER_INFO_VAR = `LoaderInfo-${LOADER_GUID}`;
/** Transient marker of the staged deployment (canonical JSON, §2.3). */
export const STAGED_MARKER = '/run/composefs/staged-deployment';
export const RUN_COMPOSEFS = '/run/composefs';
/** Where systemd (automount) and bootc's tests find the ESP at runtime (host path). */
export const CONVENTIONAL_ESP_MOUNT = '/boot';
/** The running system's os-release (host path). */
export const OS_RELEASE = '/usr/lib/os-release';
export const SELINUX_CONFIG_DIR = '/etc/selinux';

// Relative to the physical root.
export const COMPOSEFS_DIR = 'composefs';
export const COMPOSEFS_IMAGES_DIR = 'composefs/images';
export const STATE_DEPLOY_DIR = 'state/deploy';
export const STATE_OS_VAR = 'state/os/default/var';
/** The `var` symlink target inside a state dir. */
export const STATE_VAR_LINK = '../../os/default/var';
/** The GRUB "boot dir" relative to the physical root. */
export const SYSROOT_BOOT = 'boot';

export const ORIGIN_SUFFIX = '.origin';
export const IMGINFO_SUFFIX = '.imginfo';
export const ORIGIN_SECTION_ORIGIN = 'origin';
export const ORIGIN_KEY_IMAGE = 'container-image-reference';
export const ORIGIN_SECTION_BOOT = 'boot';
export const ORIGIN_KEY_BOOT_TYPE = 'boot_type';
export const ORIGIN_KEY_BOOT_DIGEST = 'digest';
export const ORIGIN_SECTION_IMAGE = 'image';
export const ORIGIN_KEY_MANIFEST_DIGEST = 'manifest_digest';

/** State dir of a deployment, relative to the physical root. */
export function stateDirOf(verity: string): string {
  return `${STATE_DEPLOY_DIR}/${verity}`;
}
export function originPathOf(verity: string): string {
  return `${stateDirOf(verity)}/${verity}${ORIGIN_SUFFIX}`;
}
export function imginfoPathOf(verity: string): string {
  return `${stateDirOf(verity)}/${verity}${IMGINFO_SUFFIX}`;
}

/** GPT partition type of the ESP. */
export const ESP_PARTTYPE = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
/** Mount options bootc uses for the ESP. */
export const ESP_MOUNT_OPTIONS = 'noexec,nosuid,fmask=0177,dmask=0077';

/** journald MESSAGE_ID bootc logs for a deployment without origin (status.rs). */
export const MISSING_ORIGIN_MESSAGE_ID = 'd264f924dadb4c31bff0412107d391fb';

export const VERITY_HEX_LEN = 128;
export const SHA256_HEX_LEN = 64;

/** Work dirs of switch/upgrade (fetched images, extracted /etc), relative to the physical root. */
export const WORK_DIR = 'state/.tsbootc-work';
