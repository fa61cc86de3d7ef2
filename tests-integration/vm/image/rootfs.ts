/**
 * Owns the test images' userspace: a busybox system whose init prints
 * TSBOOTC-* marker lines on the serial console, runs the test hooks and powers
 * off, plus the bootc image layout /usr/lib/modules/<kver>/{vmlinuz,initramfs.img}.
 *
 * Boot markers (one line each, from /usr/lib/tsbootc-test/boot-check):
 *   TSBOOTC-BOOTED: root=<source of / in /proc/self/mountinfo> cmdline=<the kernel command line>
 *   TSBOOTC-MOUNT: <mountpoint> fstype=… source=… root=<root within the fs> options=<super options>   (/, /etc, /var, /sysroot)
 *   TSBOOTC-LOOP: <loopN> <backing file>
 *   TSBOOTC-OS-RELEASE: ID=… VERSION_ID=…     TSBOOTC-VERSION: <variant>     TSBOOTC-KERNEL: <uname -r>
 *   TSBOOTC-HOOK-BEGIN: <path> / TSBOOTC-HOOK-END: <path> exit=<rc>
 *   TSBOOTC-POWEROFF: requested, then from the shutdown script TSBOOTC-SHUTDOWN: begin / done sysroot=ro|rw
 *
 * Test hooks (run with sh, output on the console), in this order, each if present:
 *   1. tsbootc.hook=<path> on the kernel command line (a path in the booted system);
 *   2. /var/lib/tsbootc-test/hook.sh (the deployment's /var, i.e. state/os/default/var on the physical root);
 *   3. hook.sh at the root of a second virtio disk /dev/vdb (an ext4 filesystem, e.g. `mkfs.ext4 -d DIR`),
 *      mounted read-write at /run/tsbootc-test/hook-disk so a hook can leave results there.
 * Shutdown hooks: /usr/lib/tsbootc-test/shutdown.d/*.sh (--with-node images finalize a staged deployment
 * there, see node-payload.ts), then
 * /var/lib/tsbootc-test/shutdown-hook.sh. `tsbootc.nopoweroff` on the command line leaves a shell
 * on the console instead of powering off.
 */
import { chmodSync, copyFileSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { execText } from './exec.js';
import type { ExtractedKernel } from './kernel.js';
import { addNodePayload } from './node-payload.js';

export type Variant = 'v1' | 'v2' | 'v3';
export const VARIANTS: readonly Variant[] = ['v1', 'v2', 'v3'];

const INITTAB = `# tsbootc test image: busybox init
::sysinit:/etc/init.d/rcS
::once:/usr/lib/tsbootc-test/boot-check
::shutdown:/etc/init.d/rcK
`;

const RCS = `#!/bin/sh
# Early userspace: the initramfs moved /dev, /proc and /sys; mount the rest.
export PATH=/usr/bin
mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
hostname -F /etc/hostname
# vfat and its code pages, so the ESP can be mounted (tsbootc mounts it for switch/upgrade/rollback),
# and efivarfs where systemd mounts it (tsbootc reads the bootloader from LoaderInfo).
for m in vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1 efivarfs; do modprobe -q "$m"; done
if [ -d /sys/firmware/efi/efivars ]; then mount -t efivarfs -o nosuid,nodev,noexec efivarfs /sys/firmware/efi/efivars; fi
# The ESP on /boot, where systemd-gpt-auto-generator mounts it on a systemd host. busybox cannot
# read GPT type GUIDs (and lsblk has no udev database here), so it is found by the label install gives it.
if esp=$(findfs LABEL=EFI-SYSTEM 2>/dev/null); then
  mount -t vfat -o rw,nosuid,nodev,noexec,fmask=0177,dmask=0077 "$esp" /boot
fi
`;

const BOOT_CHECK = `#!/bin/sh
# Prints the TSBOOTC-* boot markers, runs the test hooks, powers off (see rootfs.ts in tsbootc).
export PATH=/usr/bin
mnt() {
  awk -v m="$1" '$5 == m { line = $0 }
    END { if (line == "") { print "not-mounted"; exit }
      n = split(line, f, " "); for (i = 7; i <= n; i++) if (f[i] == "-") break
      printf "fstype=%s source=%s root=%s options=%s\\n", f[i + 1], f[i + 2], f[4], f[i + 3] }' /proc/self/mountinfo
}
root_src=$(awk '$5 == "/" { for (i = 7; i <= NF; i++) if ($i == "-") s = $(i + 2) } END { print s }' /proc/self/mountinfo)
echo "TSBOOTC-BOOTED: root=$root_src cmdline=$(cat /proc/cmdline)"
for m in / /etc /var /sysroot; do echo "TSBOOTC-MOUNT: $m $(mnt $m)"; done
for f in /sys/block/loop*/loop/backing_file; do
  [ -r "$f" ] || continue
  l=\${f#/sys/block/}
  echo "TSBOOTC-LOOP: \${l%%/*} $(cat "$f")"
done
. /usr/lib/os-release
echo "TSBOOTC-OS-RELEASE: ID=$ID VERSION_ID=$VERSION_ID"
echo "TSBOOTC-VERSION: $(cat /usr/share/tsbootc-test/version)"
echo "TSBOOTC-KERNEL: $(uname -r)"
run_hook() {
  echo "TSBOOTC-HOOK-BEGIN: $1"
  sh "$1"
  echo "TSBOOTC-HOOK-END: $1 exit=$?"
}
for arg in $(cat /proc/cmdline); do
  case "$arg" in tsbootc.hook=*) run_hook "\${arg#tsbootc.hook=}" ;; esac
done
[ -f /var/lib/tsbootc-test/hook.sh ] && run_hook /var/lib/tsbootc-test/hook.sh
if [ -b /dev/vdb ]; then
  mkdir -p /run/tsbootc-test/hook-disk
  if mount /dev/vdb /run/tsbootc-test/hook-disk; then
    [ -f /run/tsbootc-test/hook-disk/hook.sh ] && run_hook /run/tsbootc-test/hook-disk/hook.sh
  else
    echo "TSBOOTC-HOOK-ERROR: cannot mount /dev/vdb"
  fi
fi
case " $(cat /proc/cmdline) " in
  *" tsbootc.nopoweroff "*) echo "TSBOOTC-SHELL: tsbootc.nopoweroff"; exec setsid cttyhack sh ;;
esac
echo "TSBOOTC-POWEROFF: requested"
poweroff
`;

const RCK = `#!/bin/sh
# Shutdown: run the shutdown hooks (finalize goes here), then leave the physical root clean.
export PATH=/usr/bin
echo "TSBOOTC-SHUTDOWN: begin"
for h in /usr/lib/tsbootc-test/shutdown.d/*.sh /var/lib/tsbootc-test/shutdown-hook.sh; do
  [ -f "$h" ] || continue
  sh "$h"
  echo "TSBOOTC-SHUTDOWN-HOOK: $h exit=$?"
done
umount /run/tsbootc-test/hook-disk 2>/dev/null
umount /boot 2>/dev/null
sync
state=rw
mount -o remount,ro /sysroot && state=ro
echo "TSBOOTC-SHUTDOWN: done sysroot=$state"
`;

export interface RootfsOptions {
  dir: string;
  variant: Variant;
  kernel: ExtractedKernel;
  initramfs: Buffer;
  busybox: string;
  mtime: number;
  /** Add node and the built tsbootc package (node-payload.ts). */
  withNode?: boolean;
}

function write(root: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, data);
  chmodSync(p, mode);
}

export function variantVersionId(variant: Variant): string {
  return variant.slice(1);
}

export function formatOsRelease(variant: Variant): string {
  return (
    `NAME="tsbootc test image"\nID=tsbootc-test\nVERSION_ID=${variantVersionId(variant)}\n` +
    `PRETTY_NAME="tsbootc test image ${variant}"\nVARIANT_ID=${variant}\n`
  );
}

/** Populates dir (empty or absent) with the userspace, kernel and initramfs of the variant. */
export async function populateRootfs(opts: RootfsOptions): Promise<void> {
  const r = opts.dir;
  mkdirSync(r, { recursive: true });
  const dirs: Array<[string, number]> = [
    ['boot', 0o755], ['dev', 0o755], ['etc', 0o755], ['etc/init.d', 0o755], ['mnt', 0o755], ['proc', 0o555],
    ['root', 0o700], ['run', 0o755], ['sys', 0o555], ['sysroot', 0o755], ['tmp', 0o1777], ['usr', 0o755],
    ['usr/bin', 0o755], ['usr/lib', 0o755], ['usr/lib/tsbootc-test', 0o755], ['usr/lib/tsbootc-test/shutdown.d', 0o755],
    ['usr/share', 0o755], ['usr/share/tsbootc-test', 0o755], ['var', 0o755], ['var/lib', 0o755], ['var/tmp', 0o1777],
  ];
  for (const [d, mode] of dirs) {
    mkdirSync(path.join(r, d), { recursive: true });
    chmodSync(path.join(r, d), mode);
  }
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/bin'], ['lib', 'usr/lib'], ['usr/sbin', 'bin']] as const) {
    symlinkSync(target, path.join(r, link));
  }
  copyFileSync(opts.busybox, path.join(r, 'usr/bin/busybox'));
  chmodSync(path.join(r, 'usr/bin/busybox'), 0o755);
  const applets = (await execText([opts.busybox, '--list'])).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', path.join(r, 'usr/bin', a));

  write(r, 'usr/lib/os-release', formatOsRelease(opts.variant));
  symlinkSync('../usr/lib/os-release', path.join(r, 'etc/os-release'));
  write(r, 'usr/share/tsbootc-test/version', `${opts.variant}\n`);
  write(r, 'etc/inittab', INITTAB);
  write(r, 'etc/init.d/rcS', RCS, 0o755);
  write(r, 'etc/init.d/rcK', RCK, 0o755);
  write(r, 'usr/lib/tsbootc-test/boot-check', BOOT_CHECK, 0o755);
  write(r, 'etc/hostname', 'tsbootc-test\n');
  write(r, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  write(r, 'etc/group', 'root:x:0:\n');
  write(r, 'etc/shadow', 'root:*:1::::::\n', 0o600);
  write(r, 'etc/fstab', '# the initramfs mounts everything (composefs root, /sysroot, /etc, /var)\n');

  const { kernel } = opts;
  const modDir = `usr/lib/modules/${kernel.kver}`;
  write(r, `${modDir}/vmlinuz`, readFileSync(kernel.vmlinuz));
  write(r, `${modDir}/initramfs.img`, opts.initramfs);
  for (const m of [...kernel.modules, ...kernel.runtimeModules]) write(r, `${modDir}/${m.relPath}`, readFileSync(m.file));
  await execText(['depmod', '-b', r, kernel.kver]);
  if (opts.withNode === true) await addNodePayload(r);
  setTreeMtime(r, opts.mtime);
}

/** Sets the mtime and atime of every entry under root (symlinks themselves, not targets) to mtime. */
export function setTreeMtime(root: string, mtime: number): void {
  const walk = (p: string): void => {
    const st = lstatSync(p);
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
    lutimesSync(p, mtime, mtime);
  };
  walk(root);
}
