import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { FakeRunner, fakeHost } from '../testing/fake-runner.js';
import { ensurePartitionNodes, findLoopDevicesFor, parseLosetupAssociations, withLoopDevice } from './loop.js';

test('withLoopDevice attaches with partscan, runs fn, removes partitions and detaches', async () => {
  const run = new FakeRunner().on(['losetup', '--find'], { stdout: '/dev/loop3\n' });
  const got = await withLoopDevice(fakeHost(run), '/var/tmp/disk.img', async (loop) => `used ${loop}`);
  assert.equal(got, 'used /dev/loop3');
  assert.deepEqual(run.argvs, [
    ['losetup', '--find', '--show', '--partscan', '/var/tmp/disk.img'],
    ['partx', '-d', '/dev/loop3'],
    ['losetup', '--detach', '/dev/loop3'],
  ]);
});

test('withLoopDevice detaches when fn throws, and tolerates partx -d finding nothing', async () => {
  const run = new FakeRunner().on(['losetup', '--find'], { stdout: '/dev/loop0\n' }).on(['partx', '-d'], { exitCode: 1, stderr: 'partx: /dev/loop0: error deleting partitions 1-3' });
  const host = fakeHost(run);
  await assert.rejects(withLoopDevice(host, 'x.img', async () => { throw new Error('mkfs went wrong'); }), { message: 'mkfs went wrong' });
  assert.deepEqual(run.argvs.map((a) => a.slice(0, 2)), [['losetup', '--find'], ['partx', '-d'], ['losetup', '--detach']]);
  assert.deepEqual(host.log.lines, ['partx -d /dev/loop0 exited 1 (no partitions to remove): partx: /dev/loop0: error deleting partitions 1-3']);
});

test('attach refuses odd losetup output', async () => {
  const run = new FakeRunner().on(['losetup', '--find'], { stdout: 'loop0\n' });
  await assert.rejects(withLoopDevice(fakeHost(run), 'x.img', async () => 1), { message: 'Attaching x.img to a loop device' });
  assert.equal(run.argvs.length, 1);
});

test('ensurePartitionNodes: nothing when nodes exist, partx -a when the kernel knows none, partx -u when it knows some', async () => {
  const run = new FakeRunner();
  const host = fakeHost(run);
  const dev = host.root.resolve('/dev');
  mkdirSync(dev, { recursive: true });
  mkdirSync(host.root.resolve('/sys/class/block/loop5'), { recursive: true });
  const makeNodes = (disk: string, n: number) => () => {
    for (let i = 1; i <= n; i++) writeFileSync(`${dev}/${disk}p${i}`, '');
    return {};
  };
  run.on(['partx', '-a', '/dev/loop5'], makeNodes('loop5', 3));
  await ensurePartitionNodes(host, '/dev/loop5', [1, 2, 3]);
  await ensurePartitionNodes(host, '/dev/loop5', [1, 2, 3]);
  mkdirSync(host.root.resolve('/sys/class/block/loop6/loop6p1'), { recursive: true });
  run.on(['partx', '-u', '/dev/loop6'], makeNodes('loop6', 2));
  await ensurePartitionNodes(host, '/dev/loop6', [1, 2]);
  assert.deepEqual(run.argvs, [['partx', '-a', '/dev/loop5'], ['partx', '-u', '/dev/loop6']]);
});

test('ensurePartitionNodes names the nodes that never appear', async () => {
  const run = new FakeRunner();
  const host = fakeHost(run);
  await assert.rejects(ensurePartitionNodes(host, '/dev/loop7', [1, 2]), (err: Error) => {
    assert.equal(err.message, 'Creating partition nodes for /dev/loop7');
    assert.equal((err.cause as Error).message, 'partition nodes did not appear after partx: /dev/loop7p1, /dev/loop7p2');
    return true;
  });
  assert.deepEqual(run.argvs, [['partx', '-a', '/dev/loop7']]);
});

test('losetup --associated output', async () => {
  assert.deepEqual(parseLosetupAssociations('/dev/loop0: [65024]:2148087 (/tmp/a/d.img)\n/dev/loop12: [65024]:2148087 (/tmp/a/d.img)\n'), ['/dev/loop0', '/dev/loop12']);
  assert.deepEqual(parseLosetupAssociations(''), []);
  const run = new FakeRunner().on(['losetup', '--associated'], { stdout: '/dev/loop2: [65024]:7 (/x.img)\n' });
  assert.deepEqual(await findLoopDevicesFor(fakeHost(run), '/x.img'), ['/dev/loop2']);
  assert.deepEqual(run.argvs, [['losetup', '--associated', '/x.img']]);
});
