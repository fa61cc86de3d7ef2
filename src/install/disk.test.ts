import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import * as path from 'node:path';
import { packagePath } from '../sys/package-data.js';
import { FakeRunner, fakeHost, tempDirForTest } from '../testing/fake-runner.js';
import { formatErrorChain } from '../util/errors.js';
import { prepareDisk, withPreparedDisk, type PrepareDiskOptions } from './disk.js';
import { LSBLK_COLUMNS } from '../sys/blockdev.js';

const fixture = (name: string) => readFileSync(packagePath('src', 'sys', 'fixtures', name), 'utf8');
const GiB = 1024 ** 3;
const IDS = { labelId: '11111111-2222-3333-4444-555555555555', rootUuid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', espVolumeId: '1234abcd' };
const SCRIPT =
  'label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\n' +
  'size=1MiB, bootable, type=21686148-6449-6E6F-744E-656564454649, name="BIOS-BOOT"\n' +
  'size=1024MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI-SYSTEM"\n' +
  'type=4f68bce3-e8cd-4db1-96e7-fbcaf984b709, name="root"\n';
const SFDISK = (t: string) => ['sfdisk', '--quiet', '--wipe', 'always', '--wipe-partitions', 'always', t];
const TABLE = JSON.parse(fixture('sfdisk-x86_64-3g.json')).partitiontable;
const PARTUUIDS = { root: 'd39d83c0-1a23-6c4d-93b3-c77aff5b2443', esp: '7d88ee13-6c86-764c-8fd6-d2cc34a24d41', biosBoot: '90737acf-b98a-7243-b0ef-f595980a0970' };

function lsblk(name: string, size: number, children: { name: string; majMin: string; mountpoint?: string }[] = [], type = 'disk') {
  const dev = (n: string, mm: string, sz: number, t: string, mp: string | null) => ({ name: n, path: `/dev/${n}`, 'maj:min': mm, size: sz, type: t, mountpoints: [mp] });
  const d = { ...dev(name, '254:16', size, type, null), children: children.map((c) => dev(c.name, c.majMin, GiB, 'part', c.mountpoint ?? null)) };
  if (children.length === 0) delete (d as { children?: unknown }).children;
  return JSON.stringify({ blockdevices: [d] });
}

/** A fake world with /dev/vdb (a directory stands in for the block node), its answers and partx making p-nodes. */
function world(o: { size?: number; children?: { name: string; majMin: string; mountpoint?: string }[]; signatures?: string; isRoot?: boolean } = {}) {
  const run = new FakeRunner()
    .on(['lsblk'], (argv) => ({ stdout: lsblk(path.basename(argv[argv.length - 1]!), o.size ?? 3 * GiB, o.children) }))
    .on(['wipefs', '--no-act'], { stdout: o.signatures ?? fixture('wipefs-empty.json') })
    .on(['sfdisk', '--json'], (argv) => ({ stdout: JSON.stringify({ partitiontable: { ...TABLE, device: argv[2], partitions: TABLE.partitions.map((p: { node: string }, i: number) => ({ ...p, node: `${argv[2]}${/\d$/.test(argv[2]!) ? 'p' : ''}${i + 1}` })) } }) }))
    .on(['losetup', '--associated'], { stdout: '' })
    .on(['losetup', '--find'], { stdout: '/dev/loop9\n' });
  const host = fakeHost(run, { isRoot: o.isRoot ?? true });
  mkdirSync(host.root.resolve('/dev/vdb'), { recursive: true });
  mkdirSync(host.root.resolve('/proc/self'), { recursive: true });
  writeFileSync(host.root.resolve('/proc/self/mountinfo'), '26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n');
  run.on(['partx'], (argv) => {
    const disk = argv[2]!;
    for (let i = 1; i <= 3; i++) writeFileSync(host.root.resolve(`${disk}${/\d$/.test(disk) ? 'p' : ''}${i}`), '');
    return {};
  });
  return { run, host };
}

const base: PrepareDiskOptions = { device: '/dev/vdb', viaLoopback: false, wipe: false, filesystem: 'ext4', blockSetup: 'direct', arch: 'x86_64', ids: IDS };

test('block device: checks, sfdisk with the plan, partx, mkfs.fat and mkfs.ext4 with verity', async () => {
  const { run, host } = world();
  const d = await prepareDisk(host, base);
  assert.deepEqual(run.argvs, [
    ['lsblk', '--json', '-b', '-o', LSBLK_COLUMNS, '/dev/vdb'],
    ['wipefs', '--no-act', '--json', '/dev/vdb'],
    SFDISK('/dev/vdb'),
    ['partx', '-a', '/dev/vdb'],
    ['sfdisk', '--json', '/dev/vdb'],
    ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', '1234ABCD', '/dev/vdb2'],
    ['mkfs.ext4', '-U', IDS.rootUuid, '-L', 'root', '-O', 'verity', '/dev/vdb3'],
  ]);
  assert.equal(run.calls[2]!.opts.input, SCRIPT);
  assert.deepEqual({ ...d, table: undefined }, {
    disk: '/dev/vdb', filesystem: 'ext4', method: 'device', root: { device: '/dev/vdb3' }, esp: { device: '/dev/vdb2' },
    rootUuid: IDS.rootUuid, espUuid: '1234-ABCD', partuuids: PARTUUIDS, table: undefined,
  });
});

test('block device with --wipe: wipefs -a on partitions (last first) then the disk; xfs gets -f', async () => {
  const { run, host } = world({ children: [{ name: 'vdb1', majMin: '254:17' }, { name: 'vdb2', majMin: '254:18' }], signatures: fixture('wipefs-gpt.json') });
  await prepareDisk(host, { ...base, wipe: true, filesystem: 'xfs', rootSizeMiB: 1024 });
  assert.deepEqual(run.argvs, [
    ['lsblk', '--json', '-b', '-o', LSBLK_COLUMNS, '/dev/vdb'],
    ['wipefs', '-a', '/dev/vdb2'],
    ['wipefs', '-a', '/dev/vdb1'],
    ['wipefs', '-a', '/dev/vdb'],
    SFDISK('/dev/vdb'),
    ['partx', '-a', '/dev/vdb'],
    ['sfdisk', '--json', '/dev/vdb'],
    ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', '1234ABCD', '/dev/vdb2'],
    ['mkfs.xfs', '-f', '-m', `uuid=${IDS.rootUuid}`, '-L', 'root', '/dev/vdb3'],
  ]);
  assert.equal(run.calls[4]!.opts.input, SCRIPT.replace('type=4f68', 'size=1024MiB, type=4f68'));
});

function tempImage(size?: number): string {
  const f = path.join(tempDirForTest('tsbootc-disk-unit-'), 'disk.img');
  if (size !== undefined) {
    writeFileSync(f, '');
    truncateSync(f, size);
  }
  return f;
}

test('image file as root: loop device with partscan, partx, mkfs, detach', async () => {
  const { run, host } = world();
  const img = tempImage(3 * GiB);
  const seen = await withPreparedDisk(host, { ...base, device: img, viaLoopback: true, filesystem: 'btrfs' }, async (d) => ({ ...d, table: undefined }));
  const created = tempImage();
  await withPreparedDisk(world().host, { ...base, device: created, viaLoopback: true, createSizeBytes: 2 * GiB }, async () => undefined);
  assert.equal(statSync(created).size, 2 * GiB, 'created for the loop path too');
  assert.deepEqual(run.argvs, [
    ['losetup', '--associated', img],
    ['wipefs', '--no-act', '--json', img],
    ['losetup', '--find', '--show', '--partscan', img],
    ['lsblk', '--json', '-b', '-o', LSBLK_COLUMNS, '/dev/loop9'],
    SFDISK('/dev/loop9'),
    ['partx', '-a', '/dev/loop9'],
    ['sfdisk', '--json', '/dev/loop9'],
    ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', '1234ABCD', '/dev/loop9p2'],
    ['mkfs.btrfs', '-U', IDS.rootUuid, '-L', 'root', '/dev/loop9p3'],
    ['partx', '-d', '/dev/loop9'],
    ['losetup', '--detach', '/dev/loop9'],
  ]);
  assert.deepEqual(seen, {
    disk: '/dev/loop9', filesystem: 'btrfs', method: 'loop', root: { device: '/dev/loop9p3' }, esp: { device: '/dev/loop9p2' },
    rootUuid: IDS.rootUuid, espUuid: '1234-ABCD', partuuids: PARTUUIDS, table: undefined,
  });
});

test('a failing mkfs inside the loop path still detaches the loop device', async () => {
  const { run, host } = world();
  run.on(['mkfs.ext4'], { exitCode: 1, stderr: 'mkfs.ext4: Device size reported to be zero.\n' });
  const img = tempImage(3 * GiB);
  await assert.rejects(withPreparedDisk(host, { ...base, device: img, viaLoopback: true }, async () => assert.fail('not reached')), (err) => {
    assert.equal(formatErrorChain(err), 'Preparing /dev/loop9: mkfs.ext4 failed (exit status 1): mkfs.ext4: Device size reported to be zero.');
    return true;
  });
  assert.deepEqual(run.argvs.slice(-3), [['mkfs.ext4', '-U', IDS.rootUuid, '-L', 'root', '-O', 'verity', '/dev/loop9p3'], ['partx', '-d', '/dev/loop9'], ['losetup', '--detach', '/dev/loop9']]);
});

test('image file without privileges: created sparse, sfdisk on the file, mkfs at byte offsets', async () => {
  const { run, host } = world({ isRoot: false });
  const img = tempImage();
  const d = await prepareDisk(host, { ...base, device: img, viaLoopback: true, createSizeBytes: 3 * GiB, rootSource: '/src/tree' });
  assert.equal(statSync(img).size, 3 * GiB);
  assert.deepEqual(run.argvs, [
    SFDISK(img),
    ['sfdisk', '--json', img],
    ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', '1234ABCD', '--offset', '4096', img, '1048576'],
    ['mkfs.ext4', '-U', IDS.rootUuid, '-L', 'root', '-O', 'verity', '-F', '-b', '4096', '-E', 'offset=1075838976', '-d', '/src/tree', img, '523520'],
  ]);
  assert.deepEqual({ ...d, table: undefined }, {
    disk: img, filesystem: 'ext4', method: 'offsets', root: { file: img, offset: 1075838976, sizeBytes: 2144337920 }, esp: { file: img, offset: 2097152, sizeBytes: 1073741824 },
    rootUuid: IDS.rootUuid, espUuid: '1234-ABCD', partuuids: PARTUUIDS, table: undefined,
  });
});

test('image file without privileges, btrfs: built in a scratch file beside the image, then copied in', async () => {
  const { run, host } = world({ isRoot: false });
  const img = tempImage(3 * GiB);
  await prepareDisk(host, { ...base, device: img, viaLoopback: true, filesystem: 'btrfs', wipe: true, rootSource: '/src/tree' });
  const argvs = run.argvs.map((a) => a.map((s) => s.replace(/\.disk\.img\.root-[0-9a-f]{8}\.tmp$/, '.disk.img.root-XXXXXXXX.tmp')));
  const scratch = path.join(path.dirname(img), '.disk.img.root-XXXXXXXX.tmp');
  assert.deepEqual(argvs, [
    ['losetup', '--associated', img],
    ['wipefs', '-a', img],
    SFDISK(img),
    ['sfdisk', '--json', img],
    ['mkfs.fat', '-n', 'EFI-SYSTEM', '-i', '1234ABCD', '--offset', '4096', img, '1048576'],
    ['mkfs.btrfs', '-U', IDS.rootUuid, '-L', 'root', '-f', '--rootdir', '/src/tree', scratch],
  ]);
});

test('a failing scratch mkfs leaves no scratch file behind', async () => {
  const { run, host } = world({ isRoot: false });
  run.on(['mkfs.xfs'], { exitCode: 1, stderr: 'mkfs.xfs: cannot open\n' });
  const img = tempImage();
  await assert.rejects(prepareDisk(host, { ...base, device: img, viaLoopback: true, filesystem: 'xfs', createSizeBytes: 3 * GiB }), (err) =>
    formatErrorChain(err) === `Preparing disk image ${img}: mkfs.xfs failed (exit status 1): mkfs.xfs: cannot open`);
  assert.deepEqual(readdirSync(path.dirname(img)), ['disk.img']);
});

async function refusal(o: Partial<PrepareDiskOptions>, w: Parameters<typeof world>[0] = {}, setup?: (h: ReturnType<typeof world>['host']) => void) {
  const { run, host } = world(w);
  setup?.(host);
  let msg = '';
  await withPreparedDisk(host, { ...base, ...o }, async (d) => d).then(
    () => assert.fail('expected a refusal'),
    (err: unknown) => (msg = formatErrorChain(err)),
  );
  const writes = run.argvs.filter((a) => !['lsblk', 'losetup', 'blkid'].includes(a[0]!) && !(a[0] === 'wipefs' && a[1] === '--no-act'));
  assert.deepEqual(writes, [], 'nothing was written');
  return msg;
}

test('refusals name the device and write nothing', async () => {
  assert.equal(await refusal({ filesystem: 'zfs' }), "install to-disk: unknown filesystem 'zfs' for /dev/vdb (expected ext4, xfs or btrfs)");
  assert.equal(await refusal({ blockSetup: 'tpm2-luks' }), 'install to-disk: --block-setup tpm2-luks is not supported yet (/dev/vdb)');
  assert.equal(await refusal({ arch: 'mips' }), 'install to-disk: unsupported architecture mips');
  assert.equal(await refusal({ device: '/dev/vdz' }), 'install to-disk: /dev/vdz does not exist');
  assert.equal(await refusal({}, { size: GiB }), 'install to-disk: /dev/vdb is too small: 1024 MiB, need at least 1539 MiB');
  assert.equal(await refusal({ rootSizeMiB: 4096 }), 'install to-disk: /dev/vdb is too small: 3072 MiB, need at least 5123 MiB');
  assert.equal(
    await refusal({}, { children: [{ name: 'vdb1', majMin: '254:17' }, { name: 'vdb2', majMin: '254:18' }, { name: 'vdb3', majMin: '254:19' }], signatures: fixture('wipefs-gpt.json') }),
    'install to-disk: /dev/vdb is not empty (found gpt, PMBR, 3 partitions); pass --wipe to erase it',
  );
  assert.equal(await refusal({ wipe: true }, { children: [{ name: 'vdb3', majMin: '254:19', mountpoint: '/var/mnt' }] }), 'install to-disk: /dev/vdb is in use: /dev/vdb3 is mounted on /var/mnt');
  const mountedElsewhere = (h: ReturnType<typeof world>['host']) => writeFileSync(h.root.resolve('/proc/self/mountinfo'), '40 1 254:17 / /srv/data rw - xfs /dev/vdb1 rw\n');
  assert.equal(await refusal({ wipe: true }, { children: [{ name: 'vdb1', majMin: '254:17' }] }, mountedElsewhere), 'install to-disk: /dev/vdb is in use: /dev/vdb1 is mounted on /srv/data');
  const held = (h: ReturnType<typeof world>['host']) => mkdirSync(h.root.resolve('/sys/class/block/vdb1/holders/dm-0'), { recursive: true });
  assert.equal(await refusal({ wipe: true }, { children: [{ name: 'vdb1', majMin: '254:17' }] }, held), 'install to-disk: /dev/vdb is in use: /dev/vdb1 is held by dm-0');
  const swap = (h: ReturnType<typeof world>['host']) => writeFileSync(h.root.resolve('/proc/swaps'), 'Filename Type Size Used Priority\n/dev/vdb2 partition 1 0 -2\n');
  assert.equal(await refusal({ wipe: true }, { children: [{ name: 'vdb2', majMin: '254:18' }] }, swap), 'install to-disk: /dev/vdb is in use: /dev/vdb2 is an active swap device');
});

test('a path lsblk does not know is refused with its error as the hint', async () => {
  const { run, host } = world();
  run.on(['lsblk'], { exitCode: 32, stderr: 'lsblk: /dev/vdb: not a block device\n' });
  await assert.rejects(prepareDisk(host, base), (err: Error & { hint?: string }) => {
    assert.equal(err.message, 'install to-disk: /dev/vdb is not a block device');
    assert.equal(err.hint, 'Listing block device /dev/vdb: lsblk failed (exit status 32): lsblk: /dev/vdb: not a block device');
    return true;
  });
  assert.equal(run.argvs.length, 1);
});

test('image file refusals: regular file without --via-loopback, attached to a loop device, too small, not empty', async () => {
  const img = tempImage(3 * GiB);
  const asFile = (h: ReturnType<typeof world>['host']) => {
    mkdirSync(h.root.resolve(path.dirname(img)), { recursive: true });
    writeFileSync(h.root.resolve(img), '');
  };
  assert.equal(await refusal({ device: img }, {}, asFile), `install to-disk: ${img} is a regular file; pass --via-loopback to install into a disk image`);
  const { run, host } = world();
  run.on(['losetup', '--associated'], { stdout: `/dev/loop4: [65024]:12 (${img})\n` });
  await assert.rejects(prepareDisk(host, { ...base, device: img, viaLoopback: true, imageMethod: 'offsets' }), { message: `install to-disk: ${img} is in use: attached to /dev/loop4` });
  const small = tempImage(1024 * 1024 * 1024);
  assert.equal(await refusal({ device: small, viaLoopback: true, imageMethod: 'offsets' }), `install to-disk: ${small} is too small: 1024 MiB, need at least 1539 MiB`);
  assert.equal(await refusal({ device: img, viaLoopback: true }, { signatures: fixture('wipefs-gpt.json') }), `install to-disk: ${img} is not empty (found gpt, PMBR); pass --wipe to erase it`);
  const missing = tempImage();
  assert.equal(await refusal({ device: missing, viaLoopback: true, createSizeBytes: GiB }, { isRoot: false }), `install to-disk: ${missing} is too small: 1024 MiB, need at least 1539 MiB`);
  assert.equal(await refusal({ device: missing, viaLoopback: true }, { isRoot: false }), `install to-disk: ${missing} does not exist`);
  assert.equal(await refusal({ device: missing, viaLoopback: true, imageMethod: 'loop', createSizeBytes: GiB }), `install to-disk: ${missing} is too small: 1024 MiB, need at least 1539 MiB`);
  assert.deepEqual(readdirSync(path.dirname(missing)), [], 'nothing created');
  assert.equal(await refusal({ device: img, viaLoopback: true, imageMethod: 'offsets', filesystem: 'xfs', rootSource: '/src' }), `install to-disk: xfs cannot be populated from a directory without mounting (${img}); use ext4 or btrfs`);
  await assert.rejects(prepareDisk(world().host, { ...base, device: img, viaLoopback: true }), { message: `install to-disk: ${img} needs a loop device for as long as it is used; call withPreparedDisk` });
  assert.equal(await refusal({ device: img, viaLoopback: true, imageMethod: 'loop', rootSource: '/src' }), `install to-disk: a root source directory is only used when writing an image by offsets (${img})`);
});
