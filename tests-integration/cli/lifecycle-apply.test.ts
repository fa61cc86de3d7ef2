/**
 * Applying updates through the built CLI on fake roots booted into real
 * images: softRebootCapable in status, the soft-reboot checks and errors of
 * switch/upgrade/internals prep-soft-reboot (nothing here mounts: the
 * privileged tier does), "Update already staged", and --progress-fd
 * validation. With --root nothing reboots: what would run is printed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { writeUnder } from '../helpers/host.js';
import { bootRealImage, buildOsImage } from '../helpers/os-image.js';

const missing = spawnSync('umoci', ['--version']).status !== 0 ? 'umoci is not installed' : spawnSync('skopeo', ['--version']).status !== 0 ? 'skopeo is not installed' : undefined;
if (missing !== undefined) console.log(`# skipping lifecycle-apply tests: ${missing}`);

const UNIT = '/usr/lib/systemd/system/soft-reboot.target';
const DIFFERENT = 'its kernel, initramfs, kernel arguments or SELinux policy differ from the booted one';

interface Entry {
  softRebootCapable: boolean;
  composefs: { verity: string };
}
interface StatusJson {
  status: { staged: Entry | null; booted: Entry; rollback: Entry | null };
}

function status(dir: string): StatusJson {
  const r = runCli(['--root', dir, 'status', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

async function images() {
  const layout = path.join(tempDir('tsbootc-lca-img-'), 'oci');
  await buildOsImage(layout, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n' }, kargs: ['quiet'] });
  await buildOsImage(layout, 'v2', { version: '2.0', kernel: '2', etc: { hostname: 'v2\n' }, kargs: ['quiet'] });
  return layout;
}

test('same kernel: softRebootCapable; prep-soft-reboot checks; upgrade of an already staged update reports and reboots', { skip: missing ?? false }, async () => {
  const layout = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  // Same kernel and kargs, new userspace under the same tag.
  await buildOsImage(layout, 'v1', { version: '1.1', kernel: '1', etc: { hostname: 'v1\n' }, kargs: ['quiet'], extra: [{ path: 'usr/lib/new', content: 'new\n' }] });
  const up = runCli(['--root', h.t.dir, 'upgrade', '--quiet']);
  assert.deepEqual([up.status, up.stdout, up.stderr], [0, `Queued for next boot: oci:${layout}:v1\n`, '']);
  const s = status(h.t.dir);
  const staged = s.status.staged!.composefs.verity;
  assert.deepEqual([s.status.booted.softRebootCapable, s.status.staged?.softRebootCapable], [false, true]);
  const run = (...args: string[]) => {
    const r = runCli(['--root', h.t.dir, ...args]);
    return [r.status, r.stdout, r.stderr];
  };
  assert.deepEqual(run('internals', 'prep-soft-reboot', staged), [1, '', `error: Soft rebooting: System does not support soft reboots (no ${UNIT})\n`]);
  writeUnder(h.t.dir, UNIT, '[Unit]\nDescription=Reboot System Userspace\n');
  assert.deepEqual(run('internals', 'prep-soft-reboot', h.verity), [1, '', 'error: Soft rebooting: Cannot soft-reboot to currently booted deployment\n']);
  assert.deepEqual(run('internals', 'prep-soft-reboot', 'ab'.repeat(64)), [1, '', `error: Soft rebooting: Deployment '${'ab'.repeat(64)}' not found\n`]);
  assert.deepEqual(run('internals', 'prep-soft-reboot', '--reset'), [0, 'No deployment staged for soft rebooting\n', '']);
  const noId = runCli(['--root', h.t.dir, 'internals', 'prep-soft-reboot']);
  assert.deepEqual([noId.status, noId.stdout], [2, '']);
  assert.match(noId.stderr, /^error: prep-soft-reboot: DEPLOYMENT is required unless --reset is given\n/);
  const both = runCli(['--root', h.t.dir, 'internals', 'prep-soft-reboot', staged, '--reboot', '--reset']);
  assert.deepEqual([both.status, both.stdout], [2, '']);
  assert.match(both.stderr, /mutually exclusive/);
  assert.deepEqual(fs.existsSync(h.t.p('/run/nextroot')), false);
  // The same update again: already staged; --apply reboots into it (here: says so).
  const again = 'Update already staged. To apply update run `tsbootc update --apply`\n';
  assert.deepEqual(run('upgrade', '--quiet'), [0, again, '']);
  assert.deepEqual(run('upgrade', '--quiet', '--apply'), [0, `${again}Would reboot now (systemctl reboot), but ${h.t.dir} is not the running system\n`, '']);
  assert.deepEqual(status(h.t.dir).status.staged?.composefs.verity, staged);
  // --soft-reboot conflicts with --check and --download-only.
  for (const other of ['--check', '--download-only']) {
    const r = runCli(['--root', h.t.dir, 'upgrade', '--soft-reboot=auto', other]);
    assert.deepEqual([r.status, r.stdout], [2, ''], other);
    assert.match(r.stderr, /mutually exclusive/, other);
  }
  const bad = runCli(['--root', h.t.dir, 'upgrade', '--soft-reboot=sometimes']);
  assert.deepEqual([bad.status, bad.stdout], [2, '']);
  assert.match(bad.stderr, /soft-reboot/);
});

test('new kernel: --soft-reboot=required fails after staging; auto falls back to the --apply reboot', { skip: missing ?? false }, async () => {
  const layout = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  writeUnder(h.t.dir, UNIT, '');
  const sw = runCli(['--root', h.t.dir, 'switch', '--quiet', '--soft-reboot=required', '--transport', 'oci', `${layout}:v2`]);
  assert.deepEqual([sw.status, sw.stdout, sw.stderr], [1, `Queued for next boot: oci:${layout}:v2\n`, 'error: Soft rebooting: Cannot soft-reboot to deployment with a different kernel state\n']);
  const s = status(h.t.dir);
  const staged = s.status.staged!.composefs.verity;
  assert.equal(s.status.staged?.softRebootCapable, false);
  const auto = runCli(['--root', h.t.dir, 'switch', '--quiet', '--soft-reboot=auto', '--apply', '--transport', 'oci', `${layout}:v2`]);
  assert.deepEqual(
    [auto.status, auto.stdout, auto.stderr],
    [0, `Image specification is unchanged.\nDeployment ${staged} cannot be soft-rebooted into (${DIFFERENT}); rebooting instead\nWould reboot now (systemctl reboot), but ${h.t.dir} is not the running system\n`, ''],
  );
  const noApply = runCli(['--root', h.t.dir, 'upgrade', '--quiet', '--soft-reboot=auto']);
  assert.deepEqual([noApply.status, noApply.stdout, noApply.stderr], [0, `Update already staged. To apply update run \`tsbootc update --apply\`\nDeployment ${staged} cannot be soft-rebooted into (${DIFFERENT})\n`, '']);
  assert.equal(fs.existsSync(h.t.p('/run/nextroot')), false);
});

test('--progress-fd: not a number or not an open descriptor is a usage error naming the flag; nothing is fetched', { skip: missing ?? false }, async () => {
  const layout = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  for (const [verb, extra] of [['upgrade', []], ['switch', ['--transport', 'oci', `${layout}:v2`]]] as const) {
    const nan = runCli(['--root', h.t.dir, verb, ...extra, '--progress-fd', 'x']);
    assert.deepEqual([nan.status, nan.stdout, nan.stderr.split('\n')[0]], [2, '', 'error: --progress-fd: expected a file descriptor number'], verb);
    const closed = runCli(['--root', h.t.dir, verb, ...extra, '--progress-fd', '99']);
    assert.deepEqual([closed.status, closed.stdout, closed.stderr.split('\n')[0]], [2, '', 'error: --progress-fd: file descriptor 99 is not open'], verb);
  }
  assert.equal(fs.existsSync(h.t.p('/run/composefs/staged-deployment')), false);
});

test('pre-1.16 origin without manifest_digest: status and upgrade find the image by a tag scan; GC keeps its tag', { skip: missing ?? false }, async () => {
  const layout = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  const originPath = h.t.p(`/sysroot/state/deploy/${h.verity}/${h.verity}.origin`);
  const origin = fs.readFileSync(originPath, 'utf8');
  const legacy = origin.replace(/\n\[image\]\nmanifest_digest = [^\n]*\n?$/, '');
  assert.notEqual(legacy, origin);
  fs.writeFileSync(originPath, legacy);
  interface ImgStatus {
    status: { booted: { image: { imageDigest: string; version: string } | null }; staged: { image: { imageDigest: string } | null } | null };
  }
  const st = runCli(['--root', h.t.dir, 'status', '--json']);
  assert.deepEqual([st.status, st.stderr], [0, '']);
  const s = JSON.parse(st.stdout) as ImgStatus;
  assert.deepEqual([s.status.booted.image?.imageDigest, s.status.booted.image?.version], [h.manifestDigest, '1.0']);
  const v1b = await buildOsImage(layout, 'v1', { version: '1.1', kernel: '1', etc: { hostname: 'v1\n' }, kargs: ['quiet'], extra: [{ path: 'usr/lib/new', content: 'new\n' }] });
  // --check diffs against the booted manifest found by the scan: its one layer is removed.
  const check = runCli(['--root', h.t.dir, 'upgrade', '--check']);
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /\nRemoved layers: {3}1 {5}Size: /);
  const up = runCli(['--root', h.t.dir, 'upgrade', '--quiet']);
  assert.deepEqual([up.status, up.stdout, up.stderr], [0, `Queued for next boot: oci:${layout}:v1\n`, '']);
  // The pruning GC of the upgrade kept the booted image's tag and metadata.
  assert.deepEqual(fs.readdirSync(h.t.p('/sysroot/composefs/streams/refs/oci')).sort(), [`localhost%2Fbootc-${h.manifestDigest}`, `localhost%2Fbootc-${v1b.manifestDigest}`].sort());
  const after = JSON.parse(runCli(['--root', h.t.dir, 'status', '--json']).stdout) as ImgStatus;
  assert.deepEqual([after.status.booted.image?.imageDigest, after.status.staged?.image?.imageDigest], [h.manifestDigest, v1b.manifestDigest]);
  assert.equal(fs.readFileSync(originPath, 'utf8'), legacy, 'the origin is read, never rewritten');
});
