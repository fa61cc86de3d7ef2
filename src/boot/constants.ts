/**
 * Owns the names bootc and tsbootc share on the boot side (bootc.md §3.1):
 * entry and staged dirs, GRUB files, ESP directories, artifact prefixes and
 * the bootloader kinds. deploy/constants.ts re-exports all of it, so every
 * on-disk name is reachable from one place; boot/ code imports from here
 * because boot/ does not depend on deploy/.
 */

/** The bootloader kinds of host-v1 (`composefs.bootloader`). */
export type Bootloader = 'grub' | 'grub-cc' | 'systemd' | 'none';

// Relative to the "boot dir" (ESP root for systemd-boot/grub-cc, /sysroot/boot for GRUB).
export const ENTRIES_DIR = 'loader/entries';
export const ENTRIES_STAGED_DIR = 'loader/entries.staged';
export const LOADER_CONF = 'loader/loader.conf';
export const LOADER_CONF_CONTENT = 'timeout 5';
export const GRUB_DIR = 'grub2';
export const USER_CFG = 'grub2/user.cfg';
export const USER_CFG_STAGED = 'grub2/user.cfg.staged';
export const EFI_UUID_CFG = 'grub2/efiuuid.cfg';
export const EFI_UUID_FILE = 'efiuuid.cfg';

// Relative to the ESP root.
export const EFI_LINUX = 'EFI/Linux';
export const BOOTC_UKI_DIR = 'EFI/Linux/bootc';

/** Prefix of every boot artifact bootc ≥ 1.16 writes (kernel dirs, UKIs). */
export const ARTIFACT_PREFIX = 'bootc_composefs-';
export const UKI_EXT = '.efi';
export const UKI_ADDON_DIR_EXT = '.efi.extra.d';
export const TYPE1_KERNEL = 'vmlinuz';
export const TYPE1_INITRD = 'initrd';
export const CONF_EXT = '.conf';
export const DEFAULT_OS_ID = 'bootc';
/** Filename "release" fields: primary (default) and secondary (rollback). */
export const PRIO_PRIMARY = 1;
export const PRIO_SECONDARY = 0;

