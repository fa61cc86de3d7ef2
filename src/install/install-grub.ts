/**
 * Owns installing GRUB the way bootc does for composefs (bootc.md §5.3 step
 * 4): the deployment's boot image is mounted (EROFS + overlay over the
 * repository objects, read-only), the physical root's /boot is bound onto
 * its /boot and the physical root onto /sysroot (plus /dev, /proc, /sys when
 * the image has those directories; the ESP at /boot/efi when vfat can be
 * mounted), and the image's own bootupctl runs
 * chrooted there: `bootupctl backend install --write-uuid [--update-firmware
 * --auto] --filesystem /sysroot /`. Kernels and BLS entries under /boot are
 * written by install-deploy.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Repository } from '../composefs/repository/index.js';
import type { Host } from '../sys/host.js';
import { MNT_DETACH, MS_BIND, MS_RDONLY, MS_REC, mount, umount } from '../sys/libc.js';
import type { Root } from '../sys/root.js';
import { withContext } from '../util/errors.js';

export interface BootupctlOptions {
  /** The ESP partition, mounted at /boot/efi for bootupd when the kernel can mount vfat. */
  espDevice?: string | undefined;
  generic: boolean;
  skipBootUuid: boolean;
  scratch: string;
}

/** The bootupctl command line bootc runs in the image. */
export function bootupctlArgv(mnt: string, o: Pick<BootupctlOptions, 'generic' | 'skipBootUuid'>): string[] {
  const argv = ['chroot', mnt, 'bootupctl', 'backend', 'install'];
  if (!o.skipBootUuid) argv.push('--write-uuid');
  if (!o.generic) argv.push('--update-firmware', '--auto');
  argv.push('--filesystem', '/sysroot', '/');
  return argv;
}

/** Runs the image's bootupctl with the physical root bound in; every mount is undone afterwards. */
export async function runImageBootupctl(host: Host, repo: Repository, verity: string, physRoot: Root, o: BootupctlOptions): Promise<void> {
  await withContext(`Running the image's bootupctl for deployment ${verity}`, async () => {
    const erofs = path.join(o.scratch, 'grub-erofs');
    const mnt = path.join(o.scratch, 'grub-root');
    await fs.mkdir(erofs, { recursive: true });
    await fs.mkdir(mnt, { recursive: true });
    await physRoot.mkdirp('boot');
    const undo: string[] = [];
    const doMount = (src: string, target: string, fstype: string, flags: number, data: string | null) => {
      host.log.debug({ kind: 'mount', source: src, target, fstype });
      mount(src, target, fstype, flags, data);
      undo.push(target);
    };
    try {
      if (o.espDevice !== undefined) {
        const fss = (await host.root.tryReadText('/proc/filesystems')) ?? '';
        if (/\svfat$/m.test(fss)) {
          await physRoot.mkdirp('boot/efi');
          doMount(o.espDevice, physRoot.resolve('boot/efi'), 'vfat', 0, 'fmask=0077,dmask=0077');
        } else host.log.warn({ kind: 'message', message: `the kernel cannot mount vfat: bootupctl runs without the ESP ${o.espDevice} at /boot/efi` });
      }
      doMount(path.join(repo.path, 'images', verity), erofs, 'erofs', MS_RDONLY, null);
      doMount(`composefs:${verity}`, mnt, 'overlay', MS_RDONLY, `metacopy=on,redirect_dir=on,lowerdir=${erofs}::${path.join(repo.path, 'objects')}`);
      doMount(physRoot.resolve('boot'), path.join(mnt, 'boot'), 'none', MS_BIND | MS_REC, null);
      doMount(physRoot.prefix, path.join(mnt, 'sysroot'), 'none', MS_BIND, null);
      for (const d of ['dev', 'proc', 'sys']) {
        const st = await fs.stat(path.join(mnt, d)).catch(() => undefined);
        if (st?.isDirectory() === true) doMount(host.root.resolve(`/${d}`), path.join(mnt, d), 'none', MS_BIND | MS_REC, null);
      }
      await host.run.run(bootupctlArgv(mnt, o));
    } finally {
      for (const t of undo.reverse()) umount(t, MNT_DETACH);
    }
  });
}
