/**
 * Privileged tier: `install to-disk` of an image that ships a UKI in
 * /boot/EFI/Linux (with two addons in its `.efi.extra.d/`), read back with
 * mtools: the UKI lands as EFI/Linux/bootc/bootc_composefs-<id>.efi, only the
 * addon named by --uki-addon is copied (into the renamed extra.d dir), the
 * entry is an `efi` entry labelled from the UKI's .osrel, and the origin says
 * `boot_type = uki` with sha256(.linux ‖ .initrd). The UKI's composefs= must
 * be the id tsbootc computes (/boot excluded), so the fixture is built twice:
 * with a placeholder, which is refused naming the right id, then with that id.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { cleanup, espBytes, espCat, espListing, loopsOf, sh } from '../helpers/disk-readback.js';
import { buildImage } from '../helpers/oci-image.js';
import { imageFiles, INITRD, OS_RELEASE, SYSTEMD_BOOT, VMLINUZ } from '../helpers/install-fixture.js';
import { buildPe } from '../../src/boot/pe.js';

const TOOLS = ['umoci', 'sfdisk', 'partx', 'losetup', 'wipefs', 'blkid', 'mkfs.fat', 'mkfs.ext4', 'mdir', 'mtype', 'mcopy', 'fstrim', 'fsfreeze'];
const skip: string | false = privilegedSkipReason(TOOLS) ?? (existsSync(SYSTEMD_BOOT) ? undefined : `missing ${SYSTEMD_BOOT} (Debian package systemd-boot-efi)`) ?? false;
if (skip !== false) console.error(`install-uki: skipped: ${skip}`);

const ESP_OFFSET = 4096 * 512;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PLACEHOLDER = '0'.repeat(128);

function uki(cmdline: string): Buffer {
  return buildPe([
    { name: '.osrel', data: Buffer.from(OS_RELEASE) },
    { name: '.cmdline', data: Buffer.from(cmdline) },
    { name: '.uname', data: Buffer.from('6.1.0-test') },
    { name: '.linux', data: VMLINUZ },
    { name: '.initrd', data: INITRD },
  ]);
}
const addon = (arg: string) => buildPe([{ name: '.cmdline', data: Buffer.from(`${arg} `.repeat(40)) }]);
const DEBUG_ADDON = addon('debug');
const QUIET_ADDON = addon('quiet');

async function ukiImage(layout: string, tag: string, id: string): Promise<{ ref: string; uki: Buffer }> {
  const u = uki(`composefs=?${id} rw console=ttyS0`);
  const files = imageFiles({ kernel: false }).filter((f) => f.path !== 'boot/.keep');
  files.unshift(
    { path: 'boot/EFI/Linux/tsbootc-test.efi', content: u },
    { path: 'boot/EFI/Linux/tsbootc-test.efi.extra.d/debug.addon.efi', content: DEBUG_ADDON },
    { path: 'boot/EFI/Linux/tsbootc-test.efi.extra.d/quiet.addon.efi', content: QUIET_ADDON },
  );
  await buildImage(layout, tag, { layers: [files] });
  return { ref: `oci:${layout}:${tag}`, uki: u };
}

test('install to-disk of a UKI image: EFI/Linux/bootc/bootc_composefs-<id>.efi, the chosen addon, an efi entry', { skip }, async () => {
  const work = tempDir('tsbootc-install-uki-');
  chmodSync(work, 0o755);
  const layout = path.join(work, 'oci');
  const img = path.join(work, 'disk.img');
  sh(['truncate', '-s', '3G', img]);
  try {
    const placeholder = await ukiImage(layout, 'placeholder', PLACEHOLDER);
    const blocks = () => statSync(img).blocks;
    const untouched = blocks();
    const args = (ref: string, extra: string[] = []) => ['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', ref, '--filesystem', 'ext4', ...extra, img];
    const wrong = runCli(args(placeholder.ref, ['--uki-addon', 'debug']));
    assert.equal(wrong.status, 1, wrong.stderr);
    const m = new RegExp(`^error: Checking the source image ${placeholder.ref}: install: the UKI has the wrong composefs= parameter \\(is '${PLACEHOLDER}', should be '([0-9a-f]{128})'\\) in /boot/EFI/Linux/tsbootc-test.efi of ${placeholder.ref}\\n$`).exec(wrong.stderr);
    const id = m?.[1] ?? assert.fail(wrong.stderr);
    assert.equal(blocks(), untouched, 'nothing written on a refused install');

    const good = await ukiImage(layout, 'uki', id);
    // Bad input on a UKI image, refused before anything is written.
    const kargs = runCli(args(good.ref, ['--karg', 'quiet']));
    assert.equal(kargs.status, 2);
    assert.equal(kargs.stderr, `error: Checking the source image ${good.ref}: install: cannot use externally specified kernel arguments with UKI (${good.ref} boots /boot/EFI/Linux/tsbootc-test.efi); put them in the UKI's .cmdline\n`);
    const unknown = runCli(args(good.ref, ['--uki-addon', 'nosuch']));
    assert.equal(unknown.status, 2);
    assert.equal(unknown.stderr, `error: Checking the source image ${good.ref}: install: --uki-addon nosuch: ${good.ref} has no nosuch.addon.efi next to its UKI (it has debug, quiet)\n`);
    const grub = runCli(args(good.ref, ['--bootloader', 'grub']));
    assert.equal(grub.status, 2);
    assert.match(grub.stderr, /^error: install: oci:.*:uki boots a UKI; tsbootc installs UKIs with systemd-boot only/);
    assert.equal(blocks(), untouched);

    const r = runCli(args(good.ref, ['--uki-addon', 'debug']));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Installed sha256:[0-9a-f]{64} to ${img}: deployment ${id}, ext4, systemd \\(no fs-verity: composefs=\\?\\), in [0-9.]+s\\n$`));
    const u = `EFI/Linux/bootc/bootc_composefs-${id}.efi`;
    assert.deepEqual(espListing(img, ESP_OFFSET), [
      'EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/', 'EFI/Linux/bootc/', u, `${u}.extra.d/`, `${u}.extra.d/debug.addon.efi`,
      'EFI/systemd/', 'EFI/systemd/systemd-bootx64.efi', 'loader/', 'loader/entries.srel', 'loader/entries/', 'loader/entries/bootc_tsbootc_test-1.0-1.conf', 'loader/loader.conf',
    ]);
    assert.equal(sha(espBytes(img, ESP_OFFSET, u)), sha(good.uki));
    assert.equal(sha(espBytes(img, ESP_OFFSET, `${u}.extra.d/debug.addon.efi`)), sha(DEBUG_ADDON));
    assert.equal(espCat(img, ESP_OFFSET, 'loader/entries/bootc_tsbootc_test-1.0-1.conf'), `title tsbootc test OS 1.0 1.0\nversion 1.0\nefi /${u}\nsort-key bootc-tsbootc-test-0\n`);
    // The origin on the mounted root: boot_type uki, the UKI's boot digest.
    const loop = sh(['losetup', '-f', '--show', '-P', img]).trim();
    const mnt = path.join(work, 'mnt');
    try {
      spawnSync('partx', ['-a', loop]);
      mkdirSync(mnt);
      sh(['mount', '-o', 'ro', `${loop}p3`, mnt]);
      try {
        const text = readFileSync(path.join(mnt, 'state', 'deploy', id, `${id}.origin`), 'utf8');
        const bootDigest = sha(Buffer.concat([VMLINUZ, INITRD]));
        assert.match(text, new RegExp(`^\\[origin\\]\\ncontainer-image-reference = ostree-unverified-image:${good.ref.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n\\n\\[boot\\]\\nboot_type = uki\\ndigest = ${bootDigest}\\n\\n\\[image\\]\\nmanifest_digest = sha256:[0-9a-f]{64}$`));
        assert.ok(existsSync(path.join(mnt, 'composefs', 'images', id)));
        assert.deepEqual(readdirSync(path.join(mnt, 'state', 'deploy')), [id]);
      } finally {
        spawnSync('umount', [mnt]);
      }
    } finally {
      spawnSync('partx', ['-d', loop]);
      spawnSync('losetup', ['-d', loop]);
    }
    assert.deepEqual(loopsOf(img), []);
  } finally {
    cleanup([path.join(work, 'mnt')], [img]);
    rmSync(work, { recursive: true, force: true });
  }
});
