/**
 * Owns the test images' initramfs: a busybox /init that does what bootc's
 * initramfs-setup does for a composefs root (bootc.md §5.6) with Debian 6.1's
 * overlayfs, packed as a deterministic gzip'ed newc cpio.
 */
import { readFileSync } from 'node:fs';
import { gzipSync, constants as zlibConstants } from 'node:zlib';
import { formatCpioNewc, type CpioEntry } from './cpio-newc.js';
import type { ExtractedKernel } from './kernel.js';

/** Where the initramfs mounts the EROFS image; it shows up in the root overlay's lowerdir. */
export const INITRAMFS_META_MOUNT = '/run/tsbootc/meta';

/**
 * The /init script. Kernel command line:
 *   composefs=<hex> | composefs=?<hex>   the image under /sysroot/composefs/images/ ("?": verity not required;
 *                                         this initramfs never enforces verity, the guest objects have none)
 *   root=UUID=… | LABEL=… | /dev/…       the physical root (ext4/xfs/btrfs, mounted rw)
 *   rootfstype=…                          optional mount -t for the physical root
 *   init=…                                the userspace init (default /sbin/init)
 * Every failure prints one `TSBOOTC-INITRAMFS-ERROR: …` line and powers off.
 */
export function formatInitScript(kver: string, modules: readonly string[], variantNote: string): string {
  return `#!/bin/sh
# tsbootc test initramfs (${variantNote}): mount a composefs root and switch to it.
export PATH=/bin
set -f
fail() {
  echo "TSBOOTC-INITRAMFS-ERROR: $*"
  sync
  poweroff -f
  echo o > /proc/sysrq-trigger
  sleep 10
  exit 1
}
/bin/busybox --install -s /bin
mount -t proc proc /proc || fail "mounting /proc"
mount -t sysfs sysfs /sys || fail "mounting /sys"
mount -t devtmpfs devtmpfs /dev || fail "mounting /dev"
echo "TSBOOTC-INITRAMFS: start kver=${kver}"
for m in ${modules.join(' ')}; do
  insmod /lib/modules/$m.ko || fail "insmod $m"
done

cfs=""; root=""; rootfstype=""; init=/sbin/init
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    composefs=*) cfs="\${arg#composefs=}" ;;
    root=*) root="\${arg#root=}" ;;
    rootfstype=*) rootfstype="\${arg#rootfstype=}" ;;
    init=*) init="\${arg#init=}" ;;
  esac
done
cfs="\${cfs#\\?}"
case "$cfs" in
  "") fail "no composefs= on the kernel command line" ;;
  *[!0-9a-f]*) fail "composefs=$cfs is not a lowercase hex digest" ;;
esac

i=0
case "$root" in
  "") fail "no root= on the kernel command line" ;;
  UUID=*|LABEL=*)
    until dev=$(findfs "$root" 2>/dev/null); do
      i=$((i + 1)); [ $i -gt 100 ] && fail "root=$root: no such filesystem"; usleep 100000
    done ;;
  /dev/*)
    dev="$root"
    until [ -b "$dev" ]; do
      i=$((i + 1)); [ $i -gt 100 ] && fail "root=$root: no such block device"; usleep 100000
    done ;;
  *) fail "unsupported root=$root" ;;
esac

mkdir -p /sysroot /newroot ${INITRAMFS_META_MOUNT}
if [ -n "$rootfstype" ]; then
  mount -t "$rootfstype" -o rw "$dev" /sysroot || fail "mounting the physical root $dev ($rootfstype) at /sysroot"
else
  mount -o rw "$dev" /sysroot || fail "mounting the physical root $dev at /sysroot"
fi
img=/sysroot/composefs/images/$cfs
[ -e "$img" ] || fail "composefs image $img not found"
mount -t erofs -o ro,loop "$img" ${INITRAMFS_META_MOUNT} || fail "mounting the EROFS image $img"
mount -t overlay "composefs:$cfs" -o ro,metacopy=on,redirect_dir=on,lowerdir=${INITRAMFS_META_MOUNT}:/sysroot/composefs/objects /newroot \\
  || fail "mounting the composefs overlay of $img"
dep=/sysroot/state/deploy/$cfs
[ -d "$dep/etc" ] || fail "$dep/etc not found"
[ -d "$dep/var" ] || fail "$dep/var not found (it should link to ../../os/default/var)"
mount --bind "$dep/etc" /newroot/etc || fail "binding $dep/etc on /etc"
mount --bind "$dep/var" /newroot/var || fail "binding $dep/var on /var"
[ -d /newroot/sysroot ] || fail "the image has no /sysroot"
mount --move /sysroot /newroot/sysroot || fail "moving the physical root to /sysroot"
for d in dev proc sys; do
  mount --move /$d /newroot/$d || fail "moving /$d"
done
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fail "no init $init in the image"
echo "TSBOOTC-INITRAMFS: switching root to composefs=$cfs"
exec switch_root /newroot "$init"
`;
}

export interface InitramfsOptions {
  kernel: ExtractedKernel;
  /** A static busybox binary (busybox-static's /bin/busybox). */
  busybox: string;
  mtime: number;
  /** Written to /etc/tsbootc-initramfs; changing it changes the initramfs bytes (v3 with one kernel ABI). */
  variantNote: string;
}

/** The gzip'ed newc initramfs. Deterministic: sorted entries, fixed mtimes and owners, gzip without name or time. */
export function buildInitramfs(opts: InitramfsOptions): Buffer {
  const { kernel } = opts;
  const dirs = ['bin', 'dev', 'etc', 'lib', 'lib/modules', 'newroot', 'proc', 'run', 'sys', 'sysroot'];
  const entries: CpioEntry[] = [
    ...dirs.map((p): CpioEntry => ({ kind: 'dir', path: p, mode: 0o755 })),
    { kind: 'file', path: 'bin/busybox', mode: 0o755, data: readFileSync(opts.busybox) },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { kind: 'chardev', path: 'dev/null', mode: 0o666, major: 1, minor: 3 },
    { kind: 'file', path: 'etc/tsbootc-initramfs', mode: 0o644, data: Buffer.from(`kver=${kernel.kver}\n${opts.variantNote}\n`) },
    {
      kind: 'file',
      path: 'init',
      mode: 0o755,
      data: Buffer.from(formatInitScript(kernel.kver, kernel.modules.map((m) => m.name), opts.variantNote)),
    },
    ...kernel.modules.map((m): CpioEntry => ({ kind: 'file', path: `lib/modules/${m.name}.ko`, mode: 0o644, data: readFileSync(m.file) })),
  ];
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // zlib writes a gzip header with mtime 0 and no file name (what `gzip -n` does).
  return gzipSync(formatCpioNewc(entries, opts.mtime), { level: zlibConstants.Z_BEST_COMPRESSION });
}
