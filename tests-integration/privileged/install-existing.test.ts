/**
 * Privileged tier: `install to-existing-root` alongside an "existing system"
 * (an ext4 root with files, a /boot and an ESP holding another OS's loader),
 * and the disk-space preflight. Existing files, /boot and the other ESP
 * files must be byte-for-byte untouched; the new deployment, its entry
 * (root=UUID of the mounted fs) and bootc's destructive-cleanup stamp must
 * be there. The preflight must refuse, before writing anything, an image
 * that does not fit a --root-size or a small mounted filesystem.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { sh } from '../helpers/disk-readback.js';
import { buildImage } from '../helpers/oci-image.js';
import { buildInstallImage, imageFiles, SYSTEMD_BOOT, treeSnapshot } from '../helpers/install-fixture.js';

const TOOLS = ['umoci', 'sfdisk', 'partx', 'losetup', 'blkid', 'mkfs.fat', 'mkfs.ext4', 'mdir', 'mtype', 'mcopy', 'mmd'];
const skip: string | false = privilegedSkipReason(TOOLS) ?? (existsSync(SYSTEMD_BOOT) ? undefined : `missing ${SYSTEMD_BOOT}`) ?? false;
if (skip !== false) console.error(`install-existing: skipped: ${skip}`);

const MT = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
const MiB = 1024 * 1024;

/** A GPT disk file with an ESP and an ext4 root, attached; `fn` gets the loop device. */
async function withExistingDisk<T>(img: string, rootMiB: number, fn: (loop: string) => Promise<T>): Promise<T> {
  writeFileSync(img, '');
  truncateSync(img, (rootMiB + 40) * MiB);
  assert.equal(spawnSync('sfdisk', ['--quiet', img], { input: 'label: gpt\nsize=32MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI-SYSTEM"\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n' }).status, 0);
  const loop = sh(['losetup', '-f', '--show', '-P', img]).trim();
  try {
    spawnSync('partx', ['-a', loop]);
    sh(['mkfs.fat', '-n', 'EFI-SYSTEM', `${loop}p1`]);
    sh(['mkfs.ext4', '-q', '-L', 'root', `${loop}p2`]);
    return await fn(loop);
  } finally {
    spawnSync('partx', ['-d', loop]);
    spawnSync('losetup', ['-d', loop]);
  }
}

function espTree(dev: string): string[] {
  const r = spawnSync('mdir', ['-i', dev, '-b', '-/', '::'], { encoding: 'utf8', env: MT });
  return r.stdout.split('\n').filter((l) => l.startsWith('::/')).map((l) => l.slice(3)).sort();
}

test('install to-existing-root installs alongside an existing root: old files untouched, entry and cleanup stamp written', { skip }, async () => {
  const work = tempDir('tsbootc-install-existing-');
  chmodSync(work, 0o755);
  const built = await buildInstallImage(path.join(work, 'oci'), 'v1');
  const img = path.join(work, 'disk.img');
  const target = path.join(work, 'target');
  mkdirSync(target);
  try {
    await withExistingDisk(img, 1024, async (loop) => {
      // The existing system: files in its root and /boot, another OS's loader on the ESP.
      sh(['mount', `${loop}p2`, target]);
      try {
        for (const [p, c] of [['etc/hostname', 'oldhost\n'], ['etc/fstab', 'UUID=x / ext4 defaults 0 1\n'], ['usr/bin/old-tool', '#!/bin/sh\n'], ['home/user/notes.txt', 'keep me\n'], ['boot/vmlinuz-old', 'old kernel\n'], ['boot/grub/grub.cfg', 'menuentry old {}\n']] as const) {
          mkdirSync(path.dirname(path.join(target, p)), { recursive: true });
          writeFileSync(path.join(target, p), c);
        }
        sh(['mmd', '-i', `${loop}p1`, '::/EFI', '::/EFI/debian'], MT);
        const oldLoader = Buffer.from('old grub\n'.repeat(50));
        writeFileSync(path.join(work, 'grubx64.efi'), oldLoader);
        sh(['mcopy', '-i', `${loop}p1`, path.join(work, 'grubx64.efi'), '::/EFI/debian/grubx64.efi'], MT);
        const before = treeSnapshot(target);
        const uuid = sh(['blkid', '-p', '-s', 'UUID', '-o', 'value', `${loop}p2`]).trim();

        const r = runCli(['install', 'to-existing-root', '--acknowledge-destructive', '--cleanup', '--source-imgref', built.ref, target]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Installed ${built.manifestDigest} to ${target}: deployment [0-9a-f]{128}, ext4, systemd \\(no fs-verity: composefs=\\?\\), in [0-9.]+s\\n$`));
        const after = treeSnapshot(target);
        const added = after.filter((l) => !before.includes(l));
        assert.deepEqual(before.filter((l) => !after.includes(l)), [], 'nothing of the existing system changed');
        const id = readdirSync(path.join(target, 'state', 'deploy'))[0]!;
        assert.deepEqual(added.filter((l) => !/^. (composefs|ostree|state)(\/| )/.test(l)), ['f etc/bootc-destructive-cleanup 644 0:0 0 e3b0c44298fc1c14']);
        assert.ok(existsSync(path.join(target, 'state', 'deploy', id, `${id}.origin`)));
        assert.ok(existsSync(path.join(target, 'composefs', 'images', id)));

        const esp = espTree(`${loop}p1`);
        assert.deepEqual(esp, [
          'EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/', `EFI/Linux/bootc_composefs-${id}/`, `EFI/Linux/bootc_composefs-${id}/initrd`, `EFI/Linux/bootc_composefs-${id}/vmlinuz`,
          'EFI/debian/', 'EFI/debian/grubx64.efi', 'EFI/systemd/', 'EFI/systemd/systemd-bootx64.efi', 'loader/', 'loader/entries.srel', 'loader/entries/', 'loader/entries/bootc_tsbootc_test-1.0-1.conf', 'loader/loader.conf',
        ]);
        const kept = spawnSync('mtype', ['-i', `${loop}p1`, '::/EFI/debian/grubx64.efi'], { env: MT }).stdout as Buffer;
        assert.equal(createHash('sha256').update(kept).digest('hex'), createHash('sha256').update(oldLoader).digest('hex'));
        const entry = sh(['mtype', '-i', `${loop}p1`, '::/loader/entries/bootc_tsbootc_test-1.0-1.conf'], MT);
        assert.equal(entry.split('\n').find((l) => l.startsWith('options ')), `options root=UUID=${uuid} rw composefs=?${id} console=ttyS0,115200n8`);
        // Alongside: the filesystem stays writable (no finalize).
        const opts = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === target)?.split(' ')[3] ?? '';
        assert.match(opts, /^rw/);
      } finally {
        spawnSync('umount', [target]);
      }
    });
  } finally {
    spawnSync('umount', [target]);
    rmSync(work, { recursive: true, force: true });
  }
});

test('the disk-space preflight refuses an image too big for --root-size or a small filesystem, before writing anything', { skip }, async () => {
  const work = tempDir('tsbootc-install-space-');
  chmodSync(work, 0o755);
  const layout = path.join(work, 'oci');
  // 480 MiB of zeros: small to build, but 480 MiB in the repository.
  await buildImage(layout, 'big', { layers: [imageFiles(), [{ path: 'usr/share/big/zeros', content: Buffer.alloc(480 * MiB) }, { path: 'zz/.keep2', content: '' }]] });
  const ref = `oci:${layout}:big`;
  const img = path.join(work, 'disk.img');
  const target = path.join(work, 'target');
  mkdirSync(target);
  try {
    writeFileSync(img, '');
    truncateSync(img, 3 * 1024 * MiB);
    const before = `${statSync(img).blocks}`;
    const r = runCli(['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', ref, '--filesystem', 'ext4', '--root-size', '512M', img]);
    assert.equal(r.status, 1, r.stderr);
    const usable = Math.floor(512 * MiB * 0.92);
    assert.match(r.stderr, new RegExp(`^error: install to-disk: not enough space on ${img}: the image needs about (\\d+) bytes \\([0-9.]+ MiB: repository \\d+, /etc and /var \\d+, kernel 0, allowance 16777216\\), the root partition \\(536870912 bytes, --root-size, ext4\\) will hold about ${usable} bytes \\(${(usable / MiB).toFixed(1)} MiB\\); pass a larger --root-size\\n$`));
    const need = Number(/needs about (\d+) bytes/.exec(r.stderr)![1]);
    assert.ok(need > 480 * MiB && need < 520 * MiB, `estimate ${need}`);
    assert.equal(`${statSync(img).blocks}`, before, 'the disk image was not written');
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.tsbootc-install-')), []);
    // A 64 MiB mounted filesystem is too small for to-filesystem.
    await withExistingDisk(path.join(work, 'small.img'), 64, async (loop) => {
      sh(['mount', `${loop}p2`, target]);
      try {
        const [avail, bsize] = sh(['stat', '-f', '-c', '%a %S', target]).trim().split(' ').map(Number);
        const free = avail! * bsize!;
        const t = runCli(['install', 'to-filesystem', '--source-imgref', ref, target]);
        assert.equal(t.status, 1, t.stderr);
        assert.match(t.stderr, new RegExp(`^error: install to-filesystem: not enough space on ${target} \\(${loop}p2\\): the image needs about ${need} bytes \\([^)]*\\), it has ${free} bytes \\([0-9.]+ MiB\\); free some space or use a larger filesystem\\n$`));
        assert.deepEqual(readdirSync(target), ['lost+found']);
        assert.deepEqual(espTree(`${loop}p1`), []);
      } finally {
        spawnSync('umount', [target]);
      }
    });
  } finally {
    spawnSync('umount', [target]);
    rmSync(work, { recursive: true, force: true });
  }
});
