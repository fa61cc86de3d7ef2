/**
 * Privileged tier: the disk layer of `install to-disk` on sparse image files.
 * As root through a loop device (ext4, xfs, btrfs), as nobody by byte offsets,
 * and the refusals (mounted, attached, too small, not empty, unknown fs) that
 * must leave the file byte-for-byte unchanged. Everything is read back with
 * sfdisk, blkid, mtools and debugfs, not with the code under test.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { withPreparedDisk, type PrepareDiskOptions, type PreparedDisk } from '../../src/install/disk.js';
import { installSystemdBoot, writeBootEntries } from '../../src/install/esp-bootloader.js';
import { realHost } from '../../src/sys/host.js';
import { Root } from '../../src/sys/root.js';
import { formatErrorChain } from '../../src/util/errors.js';
import { memoryLogger } from '../../src/util/log.js';
import { REPO_ROOT } from '../helpers/run-cli.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { cleanup, espBytes, espCat, espListing, ext4Cat, ext4Header, ext4Ls, loopsOf, probeAt, sh, sha256File, tableShape } from '../helpers/disk-readback.js';

const SYSTEMD_BOOT = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';
const TOOLS = ['sfdisk', 'partx', 'losetup', 'wipefs', 'blkid', 'mkfs.fat', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'mdir', 'mtype', 'debugfs', 'dumpe2fs', 'btrfs', 'setpriv'];
const skip: string | false =
  privilegedSkipReason(TOOLS) ?? (existsSync(SYSTEMD_BOOT) ? undefined : `missing ${SYSTEMD_BOOT} (Debian package systemd-boot-efi; bash scripts/setup.sh installs it)`) ?? false;
if (skip !== false) console.error(`install-disk: skipped: ${skip}`);

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const IDS = { labelId: '0b0c1d2e-3f40-4152-8364-758697a8b9ca', rootUuid: '6d1e6a5c-2b4f-4c8e-9a7d-3e2f1b0c9d8e', espVolumeId: 'c0ffee42' };
const KID = 'ab'.repeat(64);
const ENTRY = `title Test OS\nversion 1\nlinux /EFI/Linux/bootc_composefs-${KID}/vmlinuz\ninitrd /EFI/Linux/bootc_composefs-${KID}/initrd\noptions root=UUID=${IDS.rootUuid} rw composefs=${KID}\nsort-key bootc-test-0\n`;
const ESP_OFFSET = 4096 * 512;
const ROOT_OFFSET = 2101248 * 512;

const EXPECTED_TABLE = {
  label: 'gpt',
  id: IDS.labelId,
  sectorsize: 512,
  firstlba: 2048,
  lastlba: 6291422,
  partitions: [
    { start: 2048, size: 2048, type: '21686148-6449-6e6f-744e-656564454649', name: 'BIOS-BOOT' },
    { start: 4096, size: 2097152, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'EFI-SYSTEM' },
    { start: 2101248, size: 4188160, type: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', name: 'root' },
  ],
};

const EXPECTED_ESP = [
  'EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/', `EFI/Linux/bootc_composefs-${KID}/`, `EFI/Linux/bootc_composefs-${KID}/initrd`, `EFI/Linux/bootc_composefs-${KID}/vmlinuz`,
  'EFI/systemd/', 'EFI/systemd/systemd-bootx64.efi', 'loader/', 'loader/entries.srel', 'loader/entries/', 'loader/entries/bootc_test-1-1.conf', 'loader/loader.conf',
];
const EXPECTED_ESP_PROBE = { BLOCK_SIZE: '512', LABEL: 'EFI-SYSTEM', TYPE: 'vfat', UUID: 'C0FF-EE42', VERSION: 'FAT32' };

function workDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'tsbootc-install-disk-'));
  mkdirSync(path.join(d, 'kernel'));
  writeFileSync(path.join(d, 'kernel', 'vmlinuz'), 'fake kernel\n');
  writeFileSync(path.join(d, 'kernel', 'initrd'), 'fake initrd\n');
  return d;
}

function sparse(p: string, size: number): string {
  writeFileSync(p, '');
  truncateSync(p, size);
  return p;
}

function host() {
  const log = memoryLogger('debug');
  return { h: { ...realHost({ rootDir: '/', env: process.env, log, uid: 0 }), log }, log };
}

const bootFiles = (dir: string) => ({
  kernels: [{ id: KID, vmlinuz: path.join(dir, 'kernel', 'vmlinuz'), initrd: path.join(dir, 'kernel', 'initrd') }],
  entries: [{ name: 'bootc_test-1-1.conf', text: ENTRY }],
});

function checkEsp(file: string): void {
  assert.deepEqual(probeAt(file, ESP_OFFSET), EXPECTED_ESP_PROBE);
  assert.deepEqual(espListing(file, ESP_OFFSET), EXPECTED_ESP);
  assert.equal(espCat(file, ESP_OFFSET, 'loader/entries/bootc_test-1-1.conf'), ENTRY);
  assert.equal(espCat(file, ESP_OFFSET, `EFI/Linux/bootc_composefs-${KID}/initrd`), 'fake initrd\n');
  assert.equal(espCat(file, ESP_OFFSET, 'loader/entries.srel'), 'type1\n');
  assert.ok(espBytes(file, ESP_OFFSET, 'EFI/BOOT/BOOTX64.EFI').equals(readFileSync(SYSTEMD_BOOT)), 'BOOTX64.EFI is the systemd-boot binary');
  assert.ok(espBytes(file, ESP_OFFSET, 'EFI/systemd/systemd-bootx64.efi').equals(readFileSync(SYSTEMD_BOOT)), 'systemd-bootx64.efi is the systemd-boot binary');
}

const EMPTY_ROOT: Record<string, string[]> = { ext4: ['lost+found'], xfs: [], btrfs: [] };
/** blkid's BLOCK_SIZE: the block size for ext4 and btrfs, the sector size for xfs. */
const ROOT_BLOCK: Record<string, string> = { ext4: '4096', xfs: '512', btrfs: '4096' };

for (const fs of ['ext4', 'xfs', 'btrfs'] as const) {
  test(`as root via a loop device: ${fs} root, ESP with systemd-boot, read back`, { skip }, async (t) => {
    const dir = workDir();
    const img = sparse(path.join(dir, 'disk.img'), 3 * GiB);
    const mnt = path.join(dir, 'mnt');
    mkdirSync(mnt);
    const mounts: string[] = [];
    try {
      const { h, log } = host();
      const t0 = performance.now();
      let prepMs = 0;
      let seen: PreparedDisk | undefined;
      await withPreparedDisk(h, { device: img, viaLoopback: true, wipe: false, filesystem: fs, blockSetup: 'direct', arch: 'x86_64', ids: IDS }, async (d) => {
        prepMs = performance.now() - t0;
        seen = d;
        const sd = await installSystemdBoot(h, d.esp!, { imageRoot: new Root('/'), arch: 'x86_64', generic: true });
        const vfat = /\svfat$/m.test(readFileSync('/proc/filesystems', 'utf8'));
        assert.equal(sd.method, vfat ? sd.method : 'mtools');
        await writeBootEntries(h, d.esp!, bootFiles(dir));
        const rootDev = (d.root as { device: string }).device;
        sh(['mount', rootDev, mnt]);
        mounts.push(mnt);
        assert.deepEqual(readdirSync(mnt).sort(), EMPTY_ROOT[fs]);
        writeFileSync(path.join(mnt, 'probe'), 'writable\n');
        assert.equal(readFileSync(path.join(mnt, 'probe'), 'utf8'), 'writable\n');
        rmSync(path.join(mnt, 'probe'));
        sh(['umount', mnt]);
        mounts.pop();
      });
      t.diagnostic(`${fs}: prepare via loop ${Math.round(prepMs)} ms, total ${Math.round(performance.now() - t0)} ms`);
      assert.equal(seen?.method, 'loop');
      assert.match(seen!.disk, /^\/dev\/loop\d+$/);
      assert.deepEqual([seen!.rootUuid, seen!.espUuid, seen!.filesystem], [IDS.rootUuid, 'C0FF-EE42', fs]);
      assert.deepEqual(loopsOf(img), [], 'loop device detached');
      assert.deepEqual(tableShape(img), EXPECTED_TABLE);
      const part = JSON.parse(sh(['sfdisk', '--json', img])).partitiontable.partitions.map((p: { uuid: string }) => p.uuid.toLowerCase());
      assert.deepEqual(part, [seen!.partuuids.biosBoot, seen!.partuuids.esp, seen!.partuuids.root]);
      assert.deepEqual(probeAt(img, ROOT_OFFSET), { BLOCK_SIZE: ROOT_BLOCK[fs]!, LABEL: 'root', TYPE: fs, UUID: IDS.rootUuid, ...(fs === 'ext4' ? { VERSION: '1.0' } : {}) });
      checkEsp(img);
      if (fs === 'ext4') assert.match(ext4Header(img, ROOT_OFFSET)['Filesystem features']!, /\bverity\b/);
      assert.ok(log.lines.some((l) => l.startsWith('installing systemd-boot with ')), 'the debug log says which path installed systemd-boot');
    } finally {
      cleanup(mounts, [img]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function runAsNobody(dir: string, disk: Partial<PrepareDiskOptions>): { disk: PreparedDisk; prepareMs: number; espMs: number; log: string[] } {
  const helper = path.join(REPO_ROOT, 'dist', 'tests-integration', 'helpers', 'build-disk-image.js');
  const args = { disk: { viaLoopback: true, wipe: false, blockSetup: 'direct', arch: 'x86_64', ids: IDS, ...disk }, imageRoot: '/', boot: bootFiles(dir) };
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, helper, JSON.stringify(args)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function nobodyDir(): string {
  const dir = workDir();
  chownSync(dir, 65534, 65534);
  const src = path.join(dir, 'src');
  mkdirSync(path.join(src, 'etc'), { recursive: true });
  mkdirSync(path.join(src, 'usr', 'bin'), { recursive: true });
  writeFileSync(path.join(src, 'etc', 'hostname'), 'tsbootc\n');
  writeFileSync(path.join(src, 'usr', 'bin', 'hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  return dir;
}

test('as nobody by byte offsets (ext4, populated from a directory): the same structure as the loop path', { skip }, async (t) => {
  const dir = nobodyDir();
  const img = path.join(dir, 'disk.img');
  const ref = sparse(path.join(dir, 'ref.img'), 3 * GiB);
  try {
    const out = runAsNobody(dir, { device: img, filesystem: 'ext4', createSizeBytes: 3 * GiB, rootSource: path.join(dir, 'src') });
    t.diagnostic(`ext4 as nobody: prepare by offsets ${out.prepareMs} ms, ESP ${out.espMs} ms`);
    assert.equal(out.disk.method, 'offsets');
    assert.deepEqual(out.disk.root, { file: img, offset: ROOT_OFFSET, sizeBytes: 4188160 * 512 });
    assert.deepEqual(out.disk.esp, { file: img, offset: ESP_OFFSET, sizeBytes: 2097152 * 512 });
    assert.ok(out.log.includes('installing systemd-boot with mtools on ' + `${img} at offset ${ESP_OFFSET} (the ESP is inside an image file (no device to mount))`));
    assert.deepEqual(tableShape(img), EXPECTED_TABLE);
    assert.deepEqual(probeAt(img, ROOT_OFFSET), { BLOCK_SIZE: '4096', LABEL: 'root', TYPE: 'ext4', UUID: IDS.rootUuid, VERSION: '1.0' });
    checkEsp(img);
    assert.deepEqual(ext4Ls(img, ROOT_OFFSET, '/'), ['40700 lost+found', '40755 etc', '40755 usr']);
    assert.deepEqual(ext4Ls(img, ROOT_OFFSET, '/usr/bin'), ['100755 hello']);
    assert.equal(ext4Cat(img, ROOT_OFFSET, '/etc/hostname'), 'tsbootc\n');
    assert.equal(sh(['stat', '-c', '%u', img]).trim(), '65534');

    // The root path on an identical file: same table, same filesystems, same ESP.
    const { h } = host();
    await withPreparedDisk(h, { device: ref, viaLoopback: true, wipe: false, filesystem: 'ext4', blockSetup: 'direct', arch: 'x86_64', ids: IDS }, async (d) => {
      await installSystemdBoot(h, d.esp!, { imageRoot: new Root('/'), arch: 'x86_64', generic: true });
      await writeBootEntries(h, d.esp!, bootFiles(dir));
    });
    assert.deepEqual(tableShape(img), tableShape(ref));
    assert.deepEqual(probeAt(img, ROOT_OFFSET), probeAt(ref, ROOT_OFFSET));
    assert.deepEqual(probeAt(img, ESP_OFFSET), probeAt(ref, ESP_OFFSET));
    assert.deepEqual(espListing(img, ESP_OFFSET), espListing(ref, ESP_OFFSET));
    const { ['Inode count']: _a, ...hdrImg } = ext4Header(img, ROOT_OFFSET);
    const { ['Inode count']: _b, ...hdrRef } = ext4Header(ref, ROOT_OFFSET);
    assert.deepEqual(hdrImg, hdrRef);
  } finally {
    cleanup([], [img, ref]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('as nobody by byte offsets (btrfs via a scratch file, xfs empty): valid filesystems at the root offset', { skip }, async (t) => {
  const dir = nobodyDir();
  try {
    for (const fs of ['btrfs', 'xfs'] as const) {
      const img = path.join(dir, `${fs}.img`);
      const out = runAsNobody(dir, { device: img, filesystem: fs, createSizeBytes: 3 * GiB, ...(fs === 'btrfs' ? { rootSource: path.join(dir, 'src') } : {}) });
      t.diagnostic(`${fs} as nobody: prepare by offsets ${out.prepareMs} ms (scratch file + copy), ESP ${out.espMs} ms`);
      assert.deepEqual(tableShape(img), EXPECTED_TABLE);
      assert.deepEqual(probeAt(img, ROOT_OFFSET), { BLOCK_SIZE: ROOT_BLOCK[fs]!, LABEL: 'root', TYPE: fs, UUID: IDS.rootUuid });
      checkEsp(img);
      assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.root-')), [], 'scratch file removed');
      // Read-back of the populated btrfs without mounting: extract the partition, copy the files out with btrfs restore.
      if (fs === 'btrfs') {
        const part = path.join(dir, 'root.part');
        const out = path.join(dir, 'restored');
        mkdirSync(out);
        sh(['dd', `if=${img}`, `of=${part}`, 'bs=1M', `skip=${ROOT_OFFSET / MiB}`, `count=${(4188160 * 512) / MiB}`, 'conv=sparse', 'status=none']);
        sh(['btrfs', 'restore', part, out]);
        const listed = spawnSync('find', ['.', '-mindepth', '1'], { cwd: out, encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '').sort();
        assert.deepEqual(listed, ['./etc', './etc/hostname', './usr', './usr/bin', './usr/bin/hello']);
        assert.equal(readFileSync(path.join(out, 'etc', 'hostname'), 'utf8'), 'tsbootc\n');
        rmSync(part);
      }
    }
  } finally {
    cleanup([], [path.join(dir, 'btrfs.img'), path.join(dir, 'xfs.img')]);
    rmSync(dir, { recursive: true, force: true });
  }
});

async function refused(file: string, o: Partial<PrepareDiskOptions>, expected: string): Promise<void> {
  const { h } = host();
  await withPreparedDisk(h, { device: file, viaLoopback: true, wipe: false, filesystem: 'ext4', blockSetup: 'direct', arch: 'x86_64', ...o }, async () => assert.fail('expected a refusal')).then(
    () => assert.fail('expected a refusal'),
    (err: unknown) => assert.equal(formatErrorChain(err), expected),
  );
}

test('refusals leave the target unchanged: too small, not empty, unknown filesystem, attached, mounted', { skip }, async () => {
  const dir = workDir();
  const small = sparse(path.join(dir, 'small.img'), 100 * MiB);
  const used = sparse(path.join(dir, 'used.img'), 1540 * MiB);
  const mnt = path.join(dir, 'mnt');
  mkdirSync(mnt);
  const mounts: string[] = [];
  try {
    writeFileSync(small, Buffer.alloc(4096, 0x5a), { flag: 'r+' });
    const smallSha = await sha256File(small);
    await refused(small, {}, `install to-disk: ${small} is too small: 100 MiB, need at least 1539 MiB`);
    await refused(small, { imageMethod: 'offsets' }, `install to-disk: ${small} is too small: 100 MiB, need at least 1539 MiB`);
    await refused(small, { filesystem: 'zfs' }, `install to-disk: unknown filesystem 'zfs' for ${small} (expected ext4, xfs or btrfs)`);
    assert.equal(await sha256File(small), smallSha, 'small.img unchanged');

    const { h } = host();
    await withPreparedDisk(h, { device: used, viaLoopback: true, wipe: false, filesystem: 'ext4', blockSetup: 'direct', arch: 'x86_64' }, async () => undefined);
    // Hashing 1.5 GiB is slow on a busy host: hash once before and once after all refusals.
    const usedSha = await sha256File(used);
    await refused(used, {}, `install to-disk: ${used} is not empty (found gpt, PMBR); pass --wipe to erase it`);
    await refused(used, { imageMethod: 'offsets' }, `install to-disk: ${used} is not empty (found gpt, PMBR); pass --wipe to erase it`);

    const loop = sh(['losetup', '--find', '--show', '--partscan', used]).trim();
    sh(['partx', '-a', loop]);
    sh(['mount', '-o', 'ro', `${loop}p3`, mnt]);
    mounts.push(mnt);
    await refused(used, { wipe: true }, `install to-disk: ${used} is in use: attached to ${loop}`);
    await refused(loop, { viaLoopback: false, wipe: true }, `install to-disk: ${loop} is in use: ${loop}p3 is mounted on ${mnt}`);
    sh(['umount', mnt]);
    mounts.pop();
    await refused(loop, { viaLoopback: false }, `install to-disk: ${loop} is not empty (found gpt, PMBR, 3 partitions); pass --wipe to erase it`);
    spawnSync('partx', ['-d', loop]);
    sh(['losetup', '--detach', loop]);
    assert.equal(await sha256File(used), usedSha, 'used.img unchanged');

    // With --wipe the same file is reused: xfs over the old ext4.
    await withPreparedDisk(h, { device: used, viaLoopback: true, wipe: true, filesystem: 'xfs', blockSetup: 'direct', arch: 'x86_64', ids: IDS }, async () => undefined);
    assert.deepEqual(probeAt(used, ROOT_OFFSET), { BLOCK_SIZE: '512', LABEL: 'root', TYPE: 'xfs', UUID: IDS.rootUuid });
    assert.deepEqual(loopsOf(used), []);
  } finally {
    cleanup(mounts, [small, used]);
    rmSync(dir, { recursive: true, force: true });
  }
});
