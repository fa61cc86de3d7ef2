import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { TestRoot, efiVar, mountinfo } from '../testing/test-root.js';
import { FakeRunner } from '../testing/fake-runner.js';
import {
  bootloaderFromLoaderInfo,
  decodeEfiVarString,
  detectBooted,
  detectBootloader,
  digestOfMountSource,
  findColocatedEsp,
  mountedEsp,
  parseComposefsKargs,
  parseMountinfo,
} from './detect.js';
import { normalizeTimestamp } from './image-metadata.js';

const V = 'ab'.repeat(64);
const W = 'cd'.repeat(64);

test('composefs kargs: composefs=, composefs=?, composefs.digest= (composefs-rs form), composefs_backup= ignored', () => {
  assert.deepEqual(parseComposefsKargs(`root=UUID=1 rw composefs=${V}`), { digest: V, missingVerityAllowed: false });
  assert.deepEqual(parseComposefsKargs(`composefs=?${V} quiet`), { digest: V, missingVerityAllowed: true });
  assert.deepEqual(parseComposefsKargs(`composefs.digest=v1-sha512-12:${V} composefs.digest=v2-sha512-12:${W}`), { digest: V, missingVerityAllowed: false });
  assert.deepEqual(parseComposefsKargs(`composefs.digest=${W} composefs=${V}`), { digest: V, missingVerityAllowed: false });
  assert.equal(parseComposefsKargs('composefs_backup=abc composefs='), undefined);
  assert.equal(digestOfMountSource(`composefs:${V}`), V);
  assert.equal(digestOfMountSource(`transient:composefs=${V}`), V);
  assert.equal(digestOfMountSource('/dev/vda3'), undefined);
});

test('mountinfo parsing handles octal escapes and optional fields', () => {
  const m = parseMountinfo('36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n');
  assert.deepEqual(m, [{ root: '/mnt1', mountPoint: '/mnt two', mountOptions: ['rw', 'noatime'], fstype: 'ext3', source: '/dev/root', superOptions: ['rw', 'errors=continue'] }]);
  assert.equal(mountedEsp(parseMountinfo(mountinfo(V, '/boot/efi'))), '/boot/efi');
  assert.equal(mountedEsp(parseMountinfo(mountinfo(V, '/boot').replace(' vfat ', ' ext4 '))), undefined);
});

test('booted detection: the root mount source wins over the command line (soft reboot); no composefs root is a warning', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.write('/proc/cmdline', `composefs=?${W}\n`);
  let d = await detectBooted(t.host());
  assert.deepEqual(d.booted, { digest: t.booted.verity, missingVerityAllowed: true, cmdlineDigest: W });
  assert.deepEqual(d.warnings, []);
  await t.write('/proc/self/mountinfo', '1 0 8:3 / / rw - ext4 /dev/vda3 rw\n');
  d = await detectBooted(t.host());
  assert.deepEqual(d.booted, { digest: W, missingVerityAllowed: true, cmdlineDigest: W });
  assert.deepEqual(d.warnings, ['Root not mounted using composefs (source /dev/vda3); using composefs= from the kernel command line']);
});

test('bootloader: LoaderInfo (UTF-16LE after 4 attribute bytes), GRUB CC, missing var, BLS fallback without EFI vars', async () => {
  assert.equal(decodeEfiVarString(efiVar('systemd-boot 257.7')), 'systemd-boot 257.7');
  assert.deepEqual(['systemd-boot 258', 'GRUB CC 0.1', 'GRUB 2.12', ''].map(bootloaderFromLoaderInfo), ['systemd', 'grub-cc', 'grub', 'grub']);
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  assert.equal(await detectBootloader(t.host()), 'systemd');
  await t.write(`/sys/firmware/efi/efivars/LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f`, efiVar('GRUB CC 1.0'));
  assert.equal(await detectBootloader(t.host()), 'grub-cc');
  const { rm } = await import('node:fs/promises');
  await rm(t.p('/sys'), { recursive: true });
  assert.equal(await detectBootloader(t.host()), 'systemd', 'no EFI vars but /boot/loader/entries: BLS-compatible');
  await rm(t.p('/boot/loader'), { recursive: true });
  assert.equal(await detectBootloader(t.host()), 'grub');
});

const LSBLK = JSON.stringify({
  blockdevices: [
    { path: '/dev/vda', pkname: null, type: 'disk', parttype: null },
    { path: '/dev/vda1', pkname: 'vda', type: 'part', parttype: '21686148-6449-6e6f-744e-656564454649' },
    { path: '/dev/vda2', pkname: 'vda', type: 'part', parttype: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' },
    { path: '/dev/vda3', pkname: 'vda', type: 'part', parttype: '0fc63daf-8483-4772-8e79-3d69d8477de4' },
    { path: '/dev/mapper/root', pkname: 'vda3', type: 'crypt', parttype: null },
    { path: '/dev/vdb', pkname: null, type: 'disk', parttype: null },
    { path: '/dev/vdb1', pkname: 'vdb', type: 'part', parttype: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b' },
  ],
});

test('ESP discovery: lsblk walk from the root device (through LUKS) to the disk', async () => {
  const run = new FakeRunner({ strict: true }).on(['lsblk', '--json', '--output', 'PATH,PKNAME,TYPE,PARTTYPE'], { stdout: LSBLK });
  assert.equal(await findColocatedEsp(run, '/dev/mapper/root'), '/dev/vda2');
  assert.equal(await findColocatedEsp(run, '/dev/vdb1'), '/dev/vdb1');
  await assert.rejects(findColocatedEsp(new FakeRunner({ strict: true }).on(['lsblk', '--json', '--output', 'PATH,PKNAME,TYPE,PARTTYPE'], { stdout: '{"blockdevices":[]}' }), '/dev/sda3'));
});

test('timestamps: RFC 3339 UTC with Z; fractional seconds only when non-zero, in 3/6/9 digit groups', () => {
  assert.deepEqual(
    ['2026-08-03T13:29:14Z', '2026-08-03T13:29:14.000Z', '2026-08-03T13:29:14.5Z', '2026-08-03T15:29:14.123456+02:00', '2026-08-03T13:29:14.123456789Z', 'yesterday'].map(normalizeTimestamp),
    ['2026-08-03T13:29:14Z', '2026-08-03T13:29:14Z', '2026-08-03T13:29:14.500Z', '2026-08-03T13:29:14.123456Z', '2026-08-03T13:29:14.123456789Z', null],
  );
});

test('status keeps going when the ESP cannot be located: warning, entries read from /boot', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.write('/proc/self/mountinfo', mountinfo(t.booted.verity, '/boot').split('\n').filter((l) => !l.includes(' vfat ')).join('\n'));
  const { getStatus } = await import('./status.js');
  const r = await getStatus(t.host(), { bootedOnly: false }, { images: t.imageMetadata() });
  assert.equal(r.host.status.booted?.composefs?.verity, t.booted.verity);
  assert.deepEqual(r.warnings, [
    'Locating the ESP failed (Finding the ESP next to /dev/vda3: lsblk failed (exit status 127): FakeRunner: unscripted command: lsblk --json --output PATH,PKNAME,TYPE,PARTTYPE); reading boot entries from /boot',
  ]);
});
