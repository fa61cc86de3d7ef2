/**
 * Privileged tier: an install SIGKILLed (TSBOOTC_CRASH_AT) at each install
 * crash point leaves its scratch dir beside the disk image, with the root
 * mounted below it and the loop device attached; the next install of the
 * same image finds them (owner pid gone), unmounts, detaches, removes them,
 * says so on stderr, and completes. Afterwards no scratch dir, mount or loop
 * device is left, and the disk holds exactly one entry with its deployment.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, runCli, tempDir } from '../helpers/run-cli.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { cleanup, espCat, espListing, loopsOf } from '../helpers/disk-readback.js';
import { buildInstallImage, SYSTEMD_BOOT } from '../helpers/install-fixture.js';
import { crashPointNames } from '../../src/util/crash-point.js';

const TOOLS = ['umoci', 'sfdisk', 'partx', 'losetup', 'wipefs', 'blkid', 'mkfs.fat', 'mkfs.ext4', 'mdir', 'mtype', 'mcopy', 'fstrim', 'fsfreeze'];
const skip: string | false = privilegedSkipReason(TOOLS) ?? (existsSync(SYSTEMD_BOOT) ? undefined : `missing ${SYSTEMD_BOOT}`) ?? false;
if (skip !== false) console.error(`install-recovery: skipped: ${skip}`);

const ESP_OFFSET = 4096 * 512;

function mountsBelow(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/'));
}

function scratchDirs(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.tsbootc-install-'));
}

test('a SIGKILLed install leaves scratch state that the next install cleans up, at every install crash point', { skip }, async () => {
  const work = tempDir('tsbootc-install-recovery-');
  chmodSync(work, 0o755);
  const built = await buildInstallImage(path.join(work, 'oci'), 'v1');
  const img = path.join(work, 'disk.img');
  writeFileSync(img, '');
  truncateSync(img, 3 * 1024 ** 3);
  const args = ['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', built.ref, '--filesystem', 'ext4', img];
  const points = crashPointNames().filter((n) => n.startsWith('install:'));
  assert.deepEqual(points, ['install:after-disk', 'install:after-repository', 'install:after-pull', 'install:after-bootloader', 'install:after-kernel', 'install:after-state', 'install:after-entries']);
  try {
    for (const point of points) {
      const killed = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsbootc.js'), ...args], { encoding: 'utf8', env: { ...process.env, TSBOOTC_CRASH_AT: point } });
      assert.equal(killed.signal, 'SIGKILL', `${point}: ${killed.stderr}`);
      const [dir, ...more] = scratchDirs(work);
      assert.ok(dir !== undefined && more.length === 0, `${point}: one scratch dir`);
      const pid = /^\.tsbootc-install-(\d+)-[0-9a-f]{8}$/.exec(dir)?.[1];
      assert.equal(Number(pid), killed.pid, point);
      const loops = loopsOf(img);
      assert.equal(loops.length, 1, `${point}: the loop device stays attached`);
      assert.deepEqual(readFileSync(path.join(work, dir, 'loops'), 'utf8'), `${loops[0]} ${img}\n`);
      const mounted = mountsBelow(work);
      assert.deepEqual(mounted, point === 'install:after-disk' ? [] : [path.join(work, dir, 'rootfs')], point);

      const again = runCli(args);
      assert.equal(again.status, 0, `${point}: ${again.stderr}`);
      const detail = `${mounted.length > 0 ? `, unmounted ${mounted[0]}` : ''}, detached ${loops[0]}`;
      assert.equal(again.stderr.split('\n')[0], `removed the scratch state of a killed install (pid ${pid}): ${path.join(work, dir)}${detail}`, point);
      assert.deepEqual(scratchDirs(work), [], point);
      assert.deepEqual(mountsBelow(work), [], point);
      assert.deepEqual(loopsOf(img), [], point);
      const entries = espListing(img, ESP_OFFSET).filter((p) => p.startsWith('loader/entries/') && p.endsWith('.conf'));
      assert.deepEqual(entries, ['loader/entries/bootc_tsbootc_test-1.0-1.conf'], point);
      assert.match(espCat(img, ESP_OFFSET, entries[0]!), /composefs=\?[0-9a-f]{128}/);
    }
  } finally {
    for (const m of mountsBelow(work).sort().reverse()) spawnSync('umount', ['-l', m]);
    cleanup([], [img]);
    rmSync(work, { recursive: true, force: true });
  }
});
