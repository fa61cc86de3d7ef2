import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { Root } from '../sys/root.js';
import { recordingMounts, overlayPathOption } from '../sys/mount-port.js';
import { SyscallError } from '../sys/libc.js';
import { TestRoot, mountinfo } from '../testing/test-root.js';
import { formatErrorChain } from '../util/errors.js';
import { parseMountinfo } from './detect.js';
import { mountUsrOverlay, usrOverlayMessages, usrOverlayOf } from './usr-overlay.js';

const line = (mp: string, opts: string, sup = 'rw') => `40 22 0:50 / ${mp} ${opts},relatime - overlay overlay ${sup},lowerdir=/usr`;

test('usrOverlayOf: a mount at /usr (host path, or the real path under --root); ro in mount or superblock options ⇒ readOnly', () => {
  const host = new Root('/');
  const fake = new Root('/tmp/fake');
  const of = (r: Root, l: string) => usrOverlayOf(r, parseMountinfo(mountinfo('v', '/boot', [l])));
  assert.deepEqual(
    [
      of(host, line('/usr', 'rw')),
      of(host, line('/usr', 'ro')),
      of(host, line('/usr', 'rw', 'ro')),
      of(fake, line('/tmp/fake/usr', 'rw')),
      of(fake, line('/usr', 'ro')),
      of(host, line('/tmp/fake/usr', 'rw')),
      of(host, line('/usr/local', 'rw')),
    ],
    [
      { accessMode: 'readWrite', persistence: 'transient' },
      { accessMode: 'readOnly', persistence: 'transient' },
      { accessMode: 'readOnly', persistence: 'transient' },
      { accessMode: 'readWrite', persistence: 'transient' },
      { accessMode: 'readOnly', persistence: 'transient' },
      null,
      null,
    ],
  );
});

test('usrOverlayMessages: bootc state.rs wording', () => {
  assert.deepEqual(
    [usrOverlayMessages({ kind: 'mounted', accessMode: 'readWrite' }), usrOverlayMessages({ kind: 'mounted', accessMode: 'readOnly' }), usrOverlayMessages({ kind: 'already-mounted', overlay: { accessMode: 'readOnly', persistence: 'transient' } })],
    [
      ['A read/write overlayfs is now mounted on /usr', 'All changes there will be discarded on reboot.'],
      ['A read-only overlayfs is now mounted on /usr', 'All changes there will be discarded on reboot.'],
      ['An overlayfs is already mounted on /usr'],
    ],
  );
});

test('overlayPathOption escapes the option separators', () => {
  assert.equal(overlayPathOption('/a,b:c\\d'), '/a\\,b\\:c\\\\d');
});

/** A port that records, and on the tmpfs umount empties the scratch dir as the real tmpfs would vanish. */
function port() {
  return recordingMounts((c) => {
    if (c[0] === 'umount') for (const n of readdirSync(c[1]!)) rmSync(path.join(c[1]!, n), { recursive: true });
    return undefined;
  });
}

const norm = (calls: string[][], dir: string) => calls.map((c) => c.map((x) => x.replaceAll(dir, '<root>').replace(/usr-overlay\.[0-9a-f]{12}/g, 'usr-overlay.X')));

for (const readOnly of [false, true]) {
  test(`mountUsrOverlay${readOnly ? ' --read-only' : ''}: tmpfs scratch under <root>/run/tsbootc, overlay on <root>/usr, tmpfs detached, scratch removed`, async () => {
    const t = await TestRoot.create({ layout: 'grub-type1' });
    await t.write('/usr/lib/x', 'x');
    const p = port();
    assert.deepEqual(await mountUsrOverlay(t.host(), { readOnly }, p), { kind: 'mounted', accessMode: readOnly ? 'readOnly' : 'readWrite' });
    const s = '<root>/run/tsbootc/usr-overlay.X';
    assert.deepEqual(norm(p.calls, t.dir), [
      ['mount', 'tmpfs', 'tmpfs', s, '0', 'mode=0700'],
      ['mount', 'overlay', 'overlay', '<root>/usr', readOnly ? '1' : '0', `lowerdir=<root>/usr,upperdir=${s}/upper,workdir=${s}/work`],
      ['umount', s, '2'],
    ]);
    assert.deepEqual(readdirSync(t.p('/run/tsbootc')), []);
  });
}

test('mountUsrOverlay: already mounted ⇒ no mount; a failing overlay mount still detaches the tmpfs and names the path', async () => {
  const t = await TestRoot.create({ layout: 'grub-type1' });
  await t.write('/usr/lib/x', 'x');
  await t.write('/proc/self/mountinfo', mountinfo(t.booted.verity, '/boot', [line('/usr', 'ro')]));
  const idle = port();
  assert.deepEqual(await mountUsrOverlay(t.host(), { readOnly: false }, idle), { kind: 'already-mounted', overlay: { accessMode: 'readOnly', persistence: 'transient' } });
  assert.deepEqual(idle.calls, []);
  await t.write('/proc/self/mountinfo', mountinfo(t.booted.verity, '/boot'));
  const failing = recordingMounts((c) => {
    if (c[0] === 'umount') for (const n of readdirSync(c[1]!)) rmSync(path.join(c[1]!, n), { recursive: true });
    return c[1] === 'overlay' ? new SyscallError('mount', `overlay on ${c[3]}`, 22) : undefined;
  });
  await assert.rejects(mountUsrOverlay(t.host(), { readOnly: false }, failing), (e) => {
    assert.equal(formatErrorChain(e).replaceAll(t.dir, '<root>'), 'Mounting a transient overlay on <root>/usr: mount overlay on <root>/usr: EINVAL (errno 22)');
    return true;
  });
  assert.deepEqual(norm(failing.calls, t.dir).map((c) => c.slice(0, 2)), [['mount', 'tmpfs'], ['mount', 'overlay'], ['umount', '<root>/run/tsbootc/usr-overlay.X']]);
  assert.deepEqual(readdirSync(t.p('/run/tsbootc')), []);
});
