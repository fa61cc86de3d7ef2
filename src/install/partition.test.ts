import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkfsArgv, parseSizeMiB, planPartitions, rootKargs } from './partition.js';

test('x86_64 composefs layout: BIOS-BOOT, 1 GiB ESP, DPS root', () => {
  const p = planPartitions({ arch: 'x86_64', labelId: '11111111-2222-3333-4444-555555555555', blockSetup: 'direct' });
  assert.equal(
    p.script,
    'label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\n' +
      'size=1MiB, bootable, type=21686148-6449-6E6F-744E-656564454649, name="BIOS-BOOT"\n' +
      'size=1024MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI-SYSTEM"\n' +
      'type=4f68bce3-e8cd-4db1-96e7-fbcaf984b709, name="root"\n',
  );
  assert.deepEqual([p.espPartno, p.bootPartno, p.rootPartno], [2, undefined, 3]);
});

test('aarch64 with tpm2-luks and a root size', () => {
  const p = planPartitions({ arch: 'aarch64', labelId: 'x', blockSetup: 'tpm2-luks', rootSizeMiB: 10240 });
  assert.equal(p.script, 'label: gpt\nlabel-id: x\nsize=1024MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI-SYSTEM"\nsize=510MiB, name="boot"\nsize=10240MiB, type=b921b045-1df0-41c3-af44-4c6f280d3fae, name="root"\n');
  assert.deepEqual([p.espPartno, p.bootPartno, p.rootPartno], [1, 2, 3]);
  assert.throws(() => planPartitions({ arch: 'mips', labelId: 'x', blockSetup: 'direct' }), { message: 'install to-disk: unsupported architecture mips' });
});

test('sizes, mkfs argv and root kargs', () => {
  assert.deepEqual(['512', '20G', '1t', '64M'].map(parseSizeMiB), [512, 20480, 1048576, 64]);
  assert.throws(() => parseSizeMiB('20GB'), { message: "invalid size '20GB': expected N[M|G|T]" });
  assert.throws(() => parseSizeMiB('0'), { message: "invalid size '0': must be a positive size" });
  assert.deepEqual(mkfsArgv('ext4', '/dev/loop0p3', 'root', 'u-1', true), ['mkfs.ext4', '-U', 'u-1', '-L', 'root', '-O', 'verity', '/dev/loop0p3']);
  assert.deepEqual(mkfsArgv('xfs', '/dev/vda3', 'root', 'u-2', true), ['mkfs.xfs', '-f', '-m', 'uuid=u-2', '-L', 'root', '/dev/vda3']);
  assert.deepEqual(mkfsArgv('btrfs', '/dev/vda3', 'root', 'u-3', false), ['mkfs.btrfs', '-U', 'u-3', '-L', 'root', '/dev/vda3']);
  assert.deepEqual(rootKargs({ discoverable: false, rootUuid: 'abc', cliKargs: ['rw', 'console=ttyS0'] }), ['root=UUID=abc', 'rw', 'console=ttyS0']);
  assert.deepEqual(rootKargs({ discoverable: true, rootUuid: 'abc', bootUuid: 'b', cliKargs: [] }), ['rw', 'boot=UUID=b']);
});
