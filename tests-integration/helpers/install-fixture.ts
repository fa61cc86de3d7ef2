/**
 * Owns the tiny bootable test image of the install tests (umoci, offline,
 * reproducible): a fake kernel and initramfs in /usr/lib/modules/6.1.0-test,
 * os-release, kargs.d, /etc (with .updated) and /var content, empty /boot and
 * /sysroot, and the host's systemd-boot EFI binary. Also: a comparable
 * snapshot of a directory tree (type, mode, owner, size, content hash,
 * symlink target), and the fake booted root `status` reads.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildImage, run, type BuiltImage, type FileSpec } from './oci-image.js';
import { efiVar, mountinfo } from '../../src/testing/test-root-fixtures.js';
import { LOADER_INFO_VAR } from '../../src/deploy/constants.js';

export const SYSTEMD_BOOT = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';
export const KVER = '6.1.0-test';
export const VMLINUZ = Buffer.from('fake kernel 6.1.0-test\n'.repeat(200));
export const INITRD = Buffer.from('fake initramfs\n'.repeat(100));
export const OS_RELEASE = 'ID=tsbootc-test\nNAME="tsbootc test"\nPRETTY_NAME="tsbootc test OS 1.0"\nVERSION_ID=1.0\n';

/** A fake bootupctl (static busybox) that records its arguments in the physical /boot. */
export const FAKE_BOOTUPCTL = '#!/usr/bin/busybox sh\n/usr/bin/busybox mkdir -p /boot/grub2\necho "$@" > /boot/grub2/bootupctl.args\n';

export function imageFiles(opts: { kernel?: boolean; grub?: boolean } = {}): FileSpec[] {
  const files: FileSpec[] = [
    { path: 'boot/.keep', content: '' },
    { path: 'etc/.updated', content: '' },
    { path: 'etc/hostname', content: 'tsbootc-test\n' },
    { path: 'etc/motd', content: 'welcome\n', mode: 0o600 },
    { path: 'sysroot/.keep', content: '' },
    { path: 'usr/bin/true-ish', content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
    { path: 'usr/lib/bootc/kargs.d/10-console.toml', content: 'kargs = ["console=ttyS0,115200n8"]\n' },
    { path: 'usr/lib/os-release', content: OS_RELEASE },
    { path: 'usr/lib/systemd/boot/efi/systemd-bootx64.efi', content: readFileSync(SYSTEMD_BOOT) },
    { path: 'var/lib/test/data', content: 'var content\n' },
  ];
  if (opts.grub === true) {
    files.push({ path: 'usr/bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 }, { path: 'usr/bin/bootupctl', content: FAKE_BOOTUPCTL, mode: 0o755 });
  }
  if (opts.kernel !== false) {
    files.push({ path: `usr/lib/modules/${KVER}/vmlinuz`, content: VMLINUZ }, { path: `usr/lib/modules/${KVER}/initramfs.img`, content: INITRD });
  }
  // umoci 0.4.7 cuts the last tar entry's padding; end with an empty file (oci-umoci.test.ts).
  files.push({ path: 'zz/.keep', content: '' });
  return files;
}

/** Builds `tag` in `layout`; `ref` is the --source-imgref. */
export async function buildInstallImage(layout: string, tag: string, opts: { kernel?: boolean; grub?: boolean } = {}): Promise<BuiltImage & { ref: string }> {
  const built = await buildImage(layout, tag, { layers: [imageFiles(opts)] });
  return { ...built, ref: `oci:${layout}:${tag}` };
}

/** `umoci unpack` of the image into `bundle` (rootfs in bundle/rootfs). */
export async function unpackImage(layout: string, tag: string, bundle: string): Promise<string> {
  await run(['umoci', 'unpack', '--image', `${layout}:${tag}`, bundle]);
  return path.join(bundle, 'rootfs');
}

/** One line per path: type, mode, uid:gid, size/hash or link target. `skip` names paths whose contents are left out. */
export function treeSnapshot(root: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = lstatSync(p);
    const mode = (st.mode & 0o7777).toString(8);
    const own = `${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.push(`l ${rel} ${own} -> ${readlinkSync(p)}`);
    else if (st.isFile()) out.push(`f ${rel} ${mode} ${own} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`);
    else if (st.isDirectory()) {
      if (rel !== '') out.push(`d ${rel} ${mode} ${own}`);
      if (skip.includes(rel)) return;
      for (const n of readdirSync(p).sort()) walk(rel === '' ? n : `${rel}/${n}`);
    } else out.push(`? ${rel}`);
  };
  walk('');
  return out;
}

/**
 * A fake root in which `status` sees deployment `verity` booted: cmdline and
 * mountinfo, systemd-boot's LoaderInfo, /sysroot → the mounted physical root,
 * /boot → a copy of the ESP.
 */
export function fakeBootedRoot(dir: string, o: { verity: string; cmdline: string; physRoot: string; espCopy: string }): string {
  mkdirSync(path.join(dir, 'proc', 'self'), { recursive: true });
  writeFileSync(path.join(dir, 'proc', 'cmdline'), `BOOT_IMAGE=/vmlinuz ${o.cmdline}\n`);
  writeFileSync(path.join(dir, 'proc', 'self', 'mountinfo'), mountinfo(o.verity, '/boot'));
  mkdirSync(path.join(dir, 'sys', 'firmware', 'efi', 'efivars'), { recursive: true });
  writeFileSync(path.join(dir, 'sys', 'firmware', 'efi', 'efivars', LOADER_INFO_VAR), efiVar('systemd-boot 252.39-1~deb12u2'));
  mkdirSync(path.join(dir, 'usr', 'lib'), { recursive: true });
  writeFileSync(path.join(dir, 'usr', 'lib', 'os-release'), OS_RELEASE);
  symlinkSync(o.physRoot, path.join(dir, 'sysroot'));
  symlinkSync(o.espCopy, path.join(dir, 'boot'));
  return dir;
}
