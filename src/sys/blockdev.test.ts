import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { packagePath } from './package-data.js';
import { FakeRunner, fakeHost } from '../testing/fake-runner.js';
import {
  flattenDevices,
  listBlockDevice,
  listSignatures,
  LSBLK_COLUMNS,
  parseBlkidExport,
  parseLsblk,
  parseMountinfo,
  parsePartitionTable,
  parseSwaps,
  parseWipefs,
  partitionPath,
  probeBlkid,
  readPartitionTable,
} from './blockdev.js';

const fixture = (name: string) => readFileSync(packagePath('src', 'sys', 'fixtures', name), 'utf8');

const none = { fstype: undefined, label: undefined, uuid: undefined, pttype: undefined, partlabel: undefined, parttype: undefined, partuuid: undefined };

test('parseLsblk: a loop device with three partitions, one mounted (no udev: no labels)', () => {
  const [d] = parseLsblk(fixture('lsblk-loop-mounted.json'));
  assert.deepEqual(d, {
    name: 'loop0', path: '/dev/loop0', majMin: '7:0', size: 3221225472, type: 'loop', ...none, mountpoints: [],
    children: [
      { name: 'loop0p1', path: '/dev/loop0p1', majMin: '259:0', size: 1048576, type: 'part', ...none, mountpoints: [], children: [] },
      { name: 'loop0p2', path: '/dev/loop0p2', majMin: '259:1', size: 1073741824, type: 'part', ...none, mountpoints: [], children: [] },
      { name: 'loop0p3', path: '/dev/loop0p3', majMin: '259:2', size: 2144337920, type: 'part', ...none, mountpoints: ['/tmp/tsbootc-disk-exp.wqUF/m'], children: [] },
    ],
  });
  assert.deepEqual(flattenDevices(d!).map((x) => x.name), ['loop0', 'loop0p1', 'loop0p2', 'loop0p3']);
});

test('parseLsblk: the host disk mounted on / and malformed input', () => {
  const [d] = parseLsblk(fixture('lsblk-vda-root.json'));
  assert.deepEqual(d, { name: 'vda', path: '/dev/vda', majMin: '254:0', size: 274877906944, type: 'disk', ...none, mountpoints: ['/'], children: [] });
  assert.throws(() => parseLsblk('nope'), { message: 'lsblk: output is not JSON' });
  assert.throws(() => parseLsblk('{}'), { message: 'lsblk: no "blockdevices" array' });
  assert.throws(() => parseLsblk('{"blockdevices":[{"name":"sda","size":"1G"}]}'), { message: 'lsblk: blockdevices[0]: missing name or byte size (run with -b)' });
});

test('parseBlkidExport: ESP and btrfs root probes', () => {
  assert.deepEqual(parseBlkidExport(fixture('blkid-esp.txt')), {
    DEVNAME: '/dev/loop0p2', LABEL_FATBOOT: 'EFI-SYSTEM', LABEL: 'EFI-SYSTEM', UUID: '35E0-FDE5', VERSION: 'FAT32', BLOCK_SIZE: '512', TYPE: 'vfat', USAGE: 'filesystem',
    PART_ENTRY_SCHEME: 'gpt', PART_ENTRY_NAME: 'EFI-SYSTEM', PART_ENTRY_UUID: '7d88ee13-6c86-764c-8fd6-d2cc34a24d41', PART_ENTRY_TYPE: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
    PART_ENTRY_NUMBER: '2', PART_ENTRY_OFFSET: '4096', PART_ENTRY_SIZE: '2097152', PART_ENTRY_DISK: '7:0',
  });
  const root = parseBlkidExport(fixture('blkid-root-btrfs.txt'));
  assert.deepEqual([root['TYPE'], root['LABEL'], root['UUID'], root['PART_ENTRY_NAME']], ['btrfs', 'root', '7aa2db62-e53c-462d-bcc7-00db87ca66ff', 'root']);
});

test('parseWipefs: a GPT image and an empty one', () => {
  assert.deepEqual(parseWipefs(fixture('wipefs-gpt.json')), [
    { offset: 0x200, type: 'gpt' },
    { offset: 0xbffffe00, type: 'gpt' },
    { offset: 0x1fe, type: 'PMBR' },
  ]);
  assert.deepEqual(parseWipefs(fixture('wipefs-empty.json')), []);
  assert.deepEqual(parseWipefs(''), []);
});

test('parsePartitionTable: the x86_64 composefs layout of a 3 GiB image', () => {
  assert.deepEqual(parsePartitionTable(fixture('sfdisk-x86_64-3g.json')), {
    label: 'gpt',
    id: '1b1bca4f-c147-4ae8-85dd-29ba755e3eb8',
    sectorSize: 512,
    partitions: [
      { number: 1, node: 'l.img1', startBytes: 1048576, sizeBytes: 1048576, type: '21686148-6449-6e6f-744e-656564454649', uuid: '90737acf-b98a-7243-b0ef-f595980a0970', name: 'BIOS-BOOT' },
      { number: 2, node: 'l.img2', startBytes: 2097152, sizeBytes: 1073741824, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', uuid: '7d88ee13-6c86-764c-8fd6-d2cc34a24d41', name: 'EFI-SYSTEM' },
      { number: 3, node: 'l.img3', startBytes: 1075838976, sizeBytes: 2144337920, type: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', uuid: 'd39d83c0-1a23-6c4d-93b3-c77aff5b2443', name: 'root' },
    ],
  });
});

test('partitionPath follows the kernel naming rule', () => {
  assert.deepEqual([partitionPath('/dev/sda', 2), partitionPath('/dev/vda', 3), partitionPath('/dev/loop0', 1), partitionPath('/dev/nvme0n1', 3)], ['/dev/sda2', '/dev/vda3', '/dev/loop0p1', '/dev/nvme0n1p3']);
});

test('queries run the expected argv', async () => {
  const run = new FakeRunner()
    .on(['lsblk'], { stdout: fixture('lsblk-loop-empty.json') })
    .on(['wipefs'], { stdout: fixture('wipefs-gpt.json') })
    .on(['sfdisk', '--json'], { stdout: fixture('sfdisk-x86_64-3g.json') })
    .on(['blkid', '-p', '-o', 'export', '-O', '2097152'], { stdout: 'TYPE=vfat\nLABEL=EFI-SYSTEM\n' })
    .on(['blkid', '-p', '-o', 'export', 'empty.img'], { exitCode: 2 });
  const host = fakeHost(run);
  assert.equal((await listBlockDevice(host, '/dev/loop0')).size, 104857600);
  assert.equal((await listSignatures(host, 'l.img')).length, 3);
  assert.equal((await readPartitionTable(host, 'l.img')).partitions.length, 3);
  assert.deepEqual(await probeBlkid(host, 'l.img', 2097152), { TYPE: 'vfat', LABEL: 'EFI-SYSTEM' });
  assert.deepEqual(await probeBlkid(host, 'empty.img'), {});
  assert.deepEqual(run.argvs, [
    ['lsblk', '--json', '-b', '-o', LSBLK_COLUMNS, '/dev/loop0'],
    ['wipefs', '--no-act', '--json', 'l.img'],
    ['sfdisk', '--json', 'l.img'],
    ['blkid', '-p', '-o', 'export', '-O', '2097152', 'l.img'],
    ['blkid', '-p', '-o', 'export', 'empty.img'],
  ]);
});

test('parseMountinfo: device numbers, escaped mount points, optional fields', () => {
  const text = [
    '26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '42 27 259:2 / /tmp/my\\040disk/m rw,relatime - ext4 /dev/loop0p3 rw',
    '30 26 0:25 / /proc rw,nosuid shared:5 master:2 - proc proc rw',
    '',
  ].join('\n');
  assert.deepEqual(parseMountinfo(text), [
    { majMin: '254:0', mountPoint: '/', fstype: 'ext4', source: '/dev/vda' },
    { majMin: '259:2', mountPoint: '/tmp/my disk/m', fstype: 'ext4', source: '/dev/loop0p3' },
    { majMin: '0:25', mountPoint: '/proc', fstype: 'proc', source: 'proc' },
  ]);
});

test('parseSwaps skips the header', () => {
  assert.deepEqual(parseSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0 partition 4194300 0 100\n/dev/vdb2 partition 1 0 -2\n'), ['/dev/zram0', '/dev/vdb2']);
  assert.deepEqual(parseSwaps(''), []);
});
