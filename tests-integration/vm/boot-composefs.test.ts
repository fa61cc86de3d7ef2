/**
 * The first qemu boot proof (vm tier): the v1 test image, laid out as a bootc
 * composefs physical root without the install verb, boots under TCG with direct
 * kernel boot; / is the composefs overlay of that image, /etc and /var are the
 * deployment's, and the guest powers off cleanly.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildTestImage } from './image/build.js';
import { execAllowFailure, execText } from './image/exec.js';
import { buildComposefsRoot, findMkcomposefs } from './lib/composefs-root.js';
import { announceSkip, bootSkipReason } from './lib/prereqs.js';
import { markerLines, runQemu } from './lib/qemu.js';

const skip = announceSkip('boot-composefs', await bootSkipReason());

const ETC_MARKER = 'etc-marker-written-before-boot';
const HOOK = `# tsbootc VM test hook (runs from the deployment's /var)
echo "TSBOOTC-TEST: etc-marker=$(cat /etc/tsbootc-marker)"
echo "TSBOOTC-TEST: root-listing=$(ls / | tr '\\n' ' ')"
echo guest-wrote-this > /var/lib/tsbootc-test/from-guest
echo "TSBOOTC-TEST: var-write=$?"
touch /usr/tsbootc-should-fail 2>/dev/null
echo "TSBOOTC-TEST: usr-write=$?"
`;

test('the v1 test image boots from a composefs root under qemu (direct kernel boot)', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-vm-boot-'));
  try {
    const built = await buildTestImage({ out: path.join(work, 'oci'), variant: 'v1' });
    const root = await buildComposefsRoot({
      layout: built.layout,
      tag: built.tag,
      workDir: path.join(work, 'deploy'),
      mkcomposefs: findMkcomposefs() ?? '',
      etcFiles: { 'tsbootc-marker': `${ETC_MARKER}\n` },
      varFiles: { 'lib/tsbootc-test/hook.sh': HOOK },
    });
    const imagePath = path.join(root.tree, 'composefs', 'images', root.id);
    assert.equal(await execText(['fsverity', 'digest', '--compact', imagePath]), root.id, 'the id is the EROFS fs-verity digest');

    const append = `console=ttyS0 composefs=${root.id} root=/dev/vda rw panic=-1`;
    const q = await runQemu({
      serialLog: path.join(work, 'serial.log'),
      disks: [root.disk],
      kernel: root.vmlinuz,
      initrd: root.initramfs,
      append,
      timeoutMs: 180_000,
    });
    process.stderr.write(`boot-composefs: build ${built.durationMs} ms, boot ${q.durationMs} ms, id ${root.id}\n`);
    assert.equal(q.timedOut, false, `qemu timed out; serial:\n${q.serial.slice(-4000)}`);
    assert.equal(q.exitCode, 0, `qemu: ${q.stderr}`);
    const id = root.id;
    const deployEtc = `/state/deploy/${id}/etc`;
    assert.deepEqual(markerLines(q.serial, 'TSBOOTC'), [
      `TSBOOTC-INITRAMFS: start kver=${root.kver}`,
      `TSBOOTC-INITRAMFS: switching root to composefs=${id}`,
      `TSBOOTC-BOOTED: root=composefs cmdline=${append}`,
      'TSBOOTC-MOUNT: / fstype=overlay source=composefs root=/ options=ro,lowerdir=/run/tsbootc/meta:/sysroot/composefs/objects,redirect_dir=on,metacopy=on',
      `TSBOOTC-MOUNT: /etc fstype=ext4 source=/dev/vda root=${deployEtc} options=rw`,
      'TSBOOTC-MOUNT: /var fstype=ext4 source=/dev/vda root=/state/os/default/var options=rw',
      'TSBOOTC-MOUNT: /sysroot fstype=ext4 source=/dev/vda root=/ options=rw',
      `TSBOOTC-LOOP: loop0 /sysroot/composefs/images/${id}`,
      'TSBOOTC-OS-RELEASE: ID=tsbootc-test VERSION_ID=1',
      'TSBOOTC-VERSION: v1',
      `TSBOOTC-KERNEL: ${root.kver}`,
      'TSBOOTC-HOOK-BEGIN: /var/lib/tsbootc-test/hook.sh',
      `TSBOOTC-TEST: etc-marker=${ETC_MARKER}`,
      // No object-store fan-out dirs (00…ff) leak into /: the V1 image's whiteout stubs hide them.
      'TSBOOTC-TEST: root-listing=bin boot dev etc lib mnt proc root run sbin sys sysroot tmp usr var ',
      'TSBOOTC-TEST: var-write=0',
      'TSBOOTC-TEST: usr-write=1',
      'TSBOOTC-HOOK-END: /var/lib/tsbootc-test/hook.sh exit=0',
      'TSBOOTC-POWEROFF: requested',
      'TSBOOTC-SHUTDOWN: begin',
      'TSBOOTC-SHUTDOWN: done sysroot=ro',
    ]);
    assert.match(q.serial, /reboot: Power down/);

    // What the guest wrote to /var landed in the shared var, and the filesystem was left clean.
    const fromGuest = await execText(['debugfs', '-R', 'cat /state/os/default/var/lib/tsbootc-test/from-guest', root.disk]);
    assert.equal(fromGuest, 'guest-wrote-this');
    const fsck = await execAllowFailure(['e2fsck', '-fn', root.disk]);
    assert.equal(fsck.exitCode, 0, fsck.stdout.toString('utf8'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
