import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { FakeRunner } from '../testing/fake-runner.js';
import { TestRoot, mountinfo } from '../testing/test-root.js';
import { parseMountinfo } from './detect.js';
import { espScope, withEsp } from './esp-scope.js';
import { getStatus } from './status.js';
import { formatErrorChain } from '../util/errors.js';

const LSBLK = ['lsblk', '--json', '--output', 'PATH,PKNAME,TYPE,PARTTYPE'];
const LSBLK_OUT = JSON.stringify({
  blockdevices: [
    { path: '/dev/vda', pkname: null, type: 'disk', parttype: null },
    { path: '/dev/vda2', pkname: 'vda', type: 'part', parttype: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b' },
    { path: '/dev/vda3', pkname: 'vda', type: 'part', parttype: '0fc63daf-8483-4772-8e79-3d69d8477de4' },
  ],
});
const NO_ESP_MOUNTS = '22 1 0:21 / / ro - overlay composefs:x ro\n23 22 252:3 / /sysroot ro - ext4 /dev/vda3 rw\n';

function runner(opts: { mountFails?: boolean } = {}): FakeRunner {
  return new FakeRunner({ strict: true })
    .on(LSBLK, { stdout: LSBLK_OUT })
    .on(['mount'], opts.mountFails ? { exitCode: 32, stderr: 'mount: wrong fs type' } : {})
    .on(['umount'], {});
}

/** The argv lists with the random scratch dir replaced by <tmp>, and that dir. */
function normalized(run: FakeRunner, t: TestRoot): { argvs: string[][]; dirs: string[] } {
  const dirs: string[] = [];
  const argvs = run.argvs.map((a) =>
    a.map((x) => {
      const m = new RegExp(`^${t.dir}/run/tsbootc/esp\\.[0-9a-f]{12}$`).exec(x);
      if (m === null) return x;
      dirs.push(x);
      return '<tmp>';
    }),
  );
  return { argvs, dirs };
}

const MOUNT = ['mount', '-t', 'vfat', '-o', 'noexec,nosuid,fmask=0177,dmask=0077', '/dev/vda2', '<tmp>'];

test('withEsp: an ESP already mounted at /boot, /efi or /boot/efi is reused; nothing is mounted or unmounted', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  for (const mp of ['/boot', '/efi', '/boot/efi']) {
    const run = runner();
    const mounts = parseMountinfo(mountinfo('x', mp));
    assert.equal(await withEsp(t.host(run), async (esp) => esp, mounts), mp);
    assert.deepEqual(run.argvs, []);
  }
});

test('withEsp: an unmounted ESP is mounted on a private dir under <root>/run/tsbootc and unmounted and removed afterwards', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  const run = runner();
  let seen = '';
  const r = await withEsp(
    t.host(run),
    async (esp) => {
      seen = esp;
      assert.ok(existsSync(t.p(esp)), 'the mount point exists during fn');
      return 'done';
    },
    parseMountinfo(NO_ESP_MOUNTS),
  );
  assert.equal(r, 'done');
  assert.match(seen, /^\/run\/tsbootc\/esp\.[0-9a-f]{12}$/);
  const n = normalized(run, t);
  assert.deepEqual(n.argvs, [LSBLK, MOUNT, ['umount', '<tmp>']]);
  assert.deepEqual(n.dirs, [t.p(seen), t.p(seen)], 'mount and umount name the same dir');
  assert.deepEqual(readdirSync(t.p('/run/tsbootc')), [], 'the scratch dir is removed');
});

test('withEsp: the ESP is unmounted and the dir removed when fn throws; the error comes through', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  const run = runner();
  await assert.rejects(
    withEsp(t.host(run), async () => Promise.reject(new Error('boom')), parseMountinfo(NO_ESP_MOUNTS)),
    (e: Error) => e.message === 'boom',
  );
  assert.deepEqual(normalized(run, t).argvs, [LSBLK, MOUNT, ['umount', '<tmp>']]);
  assert.deepEqual(readdirSync(t.p('/run/tsbootc')), []);
});

test('withEsp: a failed mount leaves no dir and no umount', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  const run = runner({ mountFails: true });
  await assert.rejects(withEsp(t.host(run), async () => 'never', parseMountinfo(NO_ESP_MOUNTS)), (e) => {
    assert.equal(formatErrorChain(e).replace(/esp\.[0-9a-f]{12}/, 'esp.X'), `Mounting the ESP /dev/vda2 on ${t.dir}/run/tsbootc/esp.X: mount failed (exit status 32): mount: wrong fs type`);
    return true;
  });
  assert.deepEqual(normalized(run, t).argvs, [LSBLK, MOUNT]);
  assert.deepEqual(readdirSync(t.p('/run/tsbootc')), []);
});

test('espScope: release is idempotent and a no-op when path() was never called', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  const run = runner();
  const idle = espScope(t.host(run), parseMountinfo(NO_ESP_MOUNTS));
  await idle.release();
  assert.deepEqual(run.argvs, []);
  const s = espScope(t.host(run), parseMountinfo(NO_ESP_MOUNTS));
  const a = await s.path();
  assert.equal(await s.path(), a, 'mounted once');
  await s.release();
  await s.release();
  assert.deepEqual(normalized(run, t).argvs, [LSBLK, MOUNT, ['umount', '<tmp>']]);
});

test('status on a host whose ESP is not mounted: mounts it for the read, unmounts it before returning', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.write('/proc/self/mountinfo', mountinfo(t.booted.verity, '/boot').split('\n').filter((l) => !l.includes(' vfat ')).join('\n'));
  const run = runner();
  await getStatus(t.host(run), { bootedOnly: false }, { images: t.imageMetadata() });
  assert.deepEqual(normalized(run, t).argvs, [LSBLK, MOUNT, ['umount', '<tmp>']]);
  assert.deepEqual(readdirSync(t.p('/run/tsbootc')), []);
});
