/**
 * The update lifecycle through the built CLI on fake roots booted into real
 * images (oci: layouts built with umoci, pulled into /sysroot/composefs):
 * switch, upgrade, --check, download-only, finalize and config-diff.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { bootRealImage, buildOsImage, snapshotTree } from '../helpers/os-image.js';
import { assertGolden, hostSchemaErrors } from '../../src/testing/golden.js';

const missing = spawnSync('umoci', ['--version']).status !== 0 ? 'umoci is not installed' : spawnSync('skopeo', ['--version']).status !== 0 ? 'skopeo is not installed' : undefined;
if (missing !== undefined) console.log(`# skipping lifecycle tests: ${missing}`);

interface StatusJson {
  spec: { image: { image: string; transport: string } };
  status: {
    staged: { image: { image: { image: string }; version: string; imageDigest: string }; composefs: { verity: string }; downloadOnly: boolean } | null;
    booted: { image: { image: { image: string }; version: string; imageDigest: string }; composefs: { verity: string } };
  };
}

async function images() {
  const layout = path.join(tempDir('tsbootc-lc-img-'), 'oci');
  const v1 = await buildOsImage(layout, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n', 'conf/a': 'a1\n' }, kargs: ['quiet'] });
  const v2 = await buildOsImage(layout, 'v2', { version: '2.0', kernel: '2', etc: { hostname: 'v2\n', 'conf/a': 'a2\n', 'conf/b': 'b2\n' }, kargs: ['splash'] });
  return { layout, v1, v2 };
}

test('switch v1 → v2 stages v2 with its entries, origin and merged kargs; status reads the repository', { skip: missing ?? false }, async () => {
  const { layout, v1, v2 } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  const r = runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${layout}:v2`]);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, `Queued for next boot: oci:${layout}:v2\n`);
  assert.equal(r.status, 0);
  const json = runCli(['--root', h.t.dir, 'status', '--json']);
  assert.equal(json.stderr, '');
  assert.equal(hostSchemaErrors(JSON.parse(json.stdout)), '');
  // Digests and ids are reproducible (pinned dates); only the layout path varies.
  assertGolden('lifecycle/switch-v1-v2.json', json.stdout.split(layout).join('<LAYOUT>'));
  const s = JSON.parse(json.stdout) as StatusJson;
  assert.equal(s.status.booted.composefs.verity, h.verity);
  assert.equal(s.status.booted.image.version, '1.0');
  assert.equal(s.status.booted.image.imageDigest, v1.manifestDigest);
  assert.equal(s.status.staged?.image.version, '2.0');
  assert.equal(s.status.staged?.image.imageDigest, v2.manifestDigest);
  assert.deepEqual(s.spec.image, { image: `${layout}:v2`, transport: 'oci' });
  const staged = s.status.staged!.composefs.verity;
  const origin = fs.readFileSync(h.t.p(`/sysroot/state/deploy/${staged}/${staged}.origin`), 'utf8');
  assert.equal(origin, `[origin]\ncontainer-image-reference = ostree-unverified-image:oci:${layout}:v2\n\n[boot]\nboot_type = bls\ndigest = ${bootDigestOf(h.t.p(`/boot/EFI/Linux/bootc_composefs-${staged}`))}\n\n[image]\nmanifest_digest = ${v2.manifestDigest}`);
  const entries = fs.readdirSync(h.t.p('/boot/loader/entries.staged')).sort();
  assert.deepEqual(entries, ['bootc_testos-1.0-0.conf', 'bootc_testos-2.0-1.conf']);
  assert.equal(
    fs.readFileSync(h.t.p('/boot/loader/entries.staged/bootc_testos-2.0-1.conf'), 'utf8'),
    `title Test OS 2.0\nversion 2.0\nlinux /EFI/Linux/bootc_composefs-${staged}/vmlinuz\ninitrd /EFI/Linux/bootc_composefs-${staged}/initrd\noptions root=UUID=6f3c2d1e-0000-4000-8000-000000000001 rw composefs=${staged} splash\nsort-key bootc-testos-0\n`,
  );
  assert.equal(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8'), `{"depl_id":"${staged}","finalization_locked":false}`);
  assert.deepEqual(snapshotTree(h.t.p(`/sysroot/state/deploy/${staged}/etc`)).map((l) => l.split(' ')[0]), ['conf/', 'conf/a', 'conf/b', 'hostname']);
  const tags = fs.readdirSync(h.t.p('/sysroot/composefs/streams/refs/oci')).sort();
  assert.deepEqual(tags, [`localhost%2Fbootc-${v1.manifestDigest}`, `localhost%2Fbootc-${v2.manifestDigest}`].sort());
  // --apply on a fake root says what it would do instead of rebooting this machine.
  const again = runCli(['--root', h.t.dir, 'switch', '--apply', '--transport', 'oci', `${layout}:v2`]);
  assert.deepEqual([again.status, again.stdout, again.stderr], [0, `Image specification is unchanged.\nWould reboot now (systemctl reboot), but ${h.t.dir} is not the running system\n`, '']);
});

function bootDigestOf(dir: string): string {
  return createHash('sha256').update(fs.readFileSync(path.join(dir, 'vmlinuz'))).update(fs.readFileSync(path.join(dir, 'initrd'))).digest('hex');
}

/**
 * The host's tree for "nothing changed" checks: everything but the proc/sys
 * fakes and the repository's objects/streams/images (a failed pull may leave
 * unreferenced ones; GC removes them), whose tags are kept.
 */
function hostTree(dir: string): string[] {
  return snapshotTree(dir).filter((l) => !/^(proc|sys)\//.test(l) && (!l.startsWith('sysroot/composefs/') || l.startsWith('sysroot/composefs/streams/refs')));
}

test('upgrade: --check reports and stages nothing, a new image under the same tag is staged, then no changes', { skip: missing ?? false }, async () => {
  const { layout, v1 } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  const before = hostTree(h.t.dir);
  const same = runCli(['--root', h.t.dir, 'upgrade', '--check']);
  assert.deepEqual([same.status, same.stdout, same.stderr], [0, `No changes in: oci:${layout}:v1\n`, '']);
  const v1b = await buildOsImage(layout, 'v1', { version: '1.1', kernel: '1', etc: { hostname: 'v1\n', 'conf/a': 'a1\n' }, kargs: ['quiet'], extra: [{ path: 'usr/lib/new-file', content: 'new\n' }] });
  const check = runCli(['--root', h.t.dir, 'upgrade', '--check']);
  assert.equal(check.stderr, '');
  assert.equal(check.status, 0);
  // The base layer changed too (os-release carries the version).
  const [b0, b1] = [v1b.layers[0]!.size, v1b.layers[1]!.size];
  const size = (n: number) => (n < 1000 ? `${n} bytes` : `${(n / 1000).toFixed(1)} kB`);
  assert.equal(
    check.stdout,
    `Update available for: oci:${layout}:v1\n  Digest: ${v1b.manifestDigest}\nTotal new layers: 2     Size: ${size(b0 + b1)}\nRemoved layers:   1     Size: ${size(v1.layers[0]!.size)}\nAdded layers:     2     Size: ${size(b0 + b1)}\n`,
  );
  assert.deepEqual(hostTree(h.t.dir), before, 'upgrade --check must not change the host');
  const up = runCli(['--root', h.t.dir, 'upgrade', '--quiet']);
  assert.deepEqual([up.status, up.stdout, up.stderr], [0, `Queued for next boot: oci:${layout}:v1\n`, '']);
  const s = JSON.parse(runCli(['--root', h.t.dir, 'status', '--json']).stdout) as StatusJson;
  assert.equal(s.status.staged?.image.imageDigest, v1b.manifestDigest);
  assert.equal(s.status.staged?.image.version, '1.1');
  const staged = hostTree(h.t.dir);
  const again = runCli(['--root', h.t.dir, 'upgrade', '--quiet']);
  assert.deepEqual([again.status, again.stdout], [0, 'Update already staged. To apply update run `tsbootc update --apply`\n']);
  const check2 = runCli(['--root', h.t.dir, 'upgrade', '--check']);
  assert.deepEqual([check2.status, check2.stdout], [0, 'Update already staged. To apply update run `tsbootc update --apply`\n']);
  assert.deepEqual(hostTree(h.t.dir), staged);
});

test('upgrade --download-only stages locked; finalize skips it; --from-downloaded unlocks it', { skip: missing ?? false }, async () => {
  const { layout } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  await buildOsImage(layout, 'v1', { version: '1.1', kernel: '3', etc: { hostname: 'v1\n' } });
  const up = runCli(['--root', h.t.dir, 'upgrade', '--quiet', '--download-only']);
  assert.equal(up.stderr, '');
  assert.equal(up.stdout, `Queued for next boot: oci:${layout}:v1 (download only: run \`upgrade --from-downloaded\` to apply it)\n`);
  const marker = JSON.parse(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8')) as { depl_id: string; finalization_locked: boolean };
  assert.equal(marker.finalization_locked, true);
  const s = JSON.parse(runCli(['--root', h.t.dir, 'status', '--json']).stdout) as StatusJson;
  assert.equal(s.status.staged?.downloadOnly, true);
  const fin = runCli(['--root', h.t.dir, 'composefs-finalize-staged']);
  assert.deepEqual([fin.status, fin.stdout], [0, `Staged deployment ${marker.depl_id} is download-only; not finalizing\n`]);
  assert.ok(fs.existsSync(h.t.p('/boot/loader/entries.staged')));
  const unlock = runCli(['--root', h.t.dir, 'upgrade', '--from-downloaded']);
  assert.deepEqual([unlock.status, unlock.stdout], [0, `Staged deployment ${marker.depl_id} will be finalized at shutdown\n`]);
  assert.equal(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8'), `{"depl_id":"${marker.depl_id}","finalization_locked":false}`);
  const twice = runCli(['--root', h.t.dir, 'upgrade', '--from-downloaded']);
  assert.deepEqual([twice.status, twice.stdout], [0, 'Staged deployment is present and not in download only mode.\n']);
});

test('switch to an image with the booted content fails; the same spec is unchanged', { skip: missing ?? false }, async () => {
  const { layout } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  // Same content under another tag: another manifest? No: umoci gives the same digest, so copy the tag.
  const idx = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
  const v1 = idx.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v1')!;
  idx.manifests.push({ ...v1, annotations: { 'org.opencontainers.image.ref.name': 'copy' } });
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(idx));
  const before = hostTree(h.t.dir);
  const r = runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${layout}:copy`]);
  assert.deepEqual([r.status, r.stdout, r.stderr], [1, '', 'error: Switching: Target image has the same fs-verity digest as the existing Some(Booted) deployment.\n']);
  assert.deepEqual(hostTree(h.t.dir), before);
  const u = runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${layout}:v1`]);
  assert.deepEqual([u.status, u.stdout, u.stderr], [0, 'Image specification is unchanged.\n', '']);
});

test('an /etc conflict aborts the switch with nothing staged', { skip: missing ?? false }, async () => {
  const { layout } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  await buildOsImage(layout, 'v3', { version: '3.0', kernel: '3', etc: { hostname: 'v3\n', 'conf/a': 'a3\n', 'local.d/x': 'x\n' } });
  fs.writeFileSync(h.t.p('/etc/local.d'), 'a local file where v3 has a directory\n');
  const before = hostTree(h.t.dir);
  const r = runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${layout}:v3`]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, "error: Switching: Merge conflicts found in etc: File 'local.d' now defaults to a directory in new etc\n");
  assert.deepEqual(hostTree(h.t.dir), before);
});

test('finalize merges local /etc changes into the staged deployment and exchanges the entries; config-diff lists them', { skip: missing ?? false }, async () => {
  const { layout } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  fs.writeFileSync(h.t.p('/etc/hostname'), 'mine\n');
  fs.writeFileSync(h.t.p('/etc/added'), 'added\n');
  fs.rmSync(h.t.p('/etc/conf/a'));
  const diff = runCli(['--root', h.t.dir, 'config-diff']);
  assert.deepEqual([diff.status, diff.stdout], [0, 'Added "added"\nModified "hostname"\nRemoved "conf/a"\n']);
  const sw = runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${layout}:v2`]);
  assert.equal(sw.status, 0, sw.stderr);
  const staged = (JSON.parse(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8')) as { depl_id: string }).depl_id;
  const fin = runCli(['--root', h.t.dir, 'composefs-finalize-staged']);
  assert.deepEqual([fin.status, fin.stdout, fin.stderr], [0, `Finalized deployment ${staged}\n`, '']);
  const etc = snapshotTree(h.t.p(`/sysroot/state/deploy/${staged}/etc`)).map((l) => {
    const [p, mode, b64] = l.split(' ');
    return b64 === undefined ? `${p} ${mode}` : `${p} ${mode} ${Buffer.from(b64, 'base64').toString('utf8').trim()}`;
  });
  assert.deepEqual(etc, ['added 644 added', 'conf/ 755', 'conf/b 644 b2', 'hostname 644 mine']);
  assert.equal(fs.existsSync(h.t.p('/boot/loader/entries.staged')), false);
  assert.deepEqual(fs.readdirSync(h.t.p('/boot/loader/entries')).sort(), ['bootc_testos-1.0-0.conf', 'bootc_testos-2.0-1.conf']);
  assert.match(fs.readFileSync(h.t.p('/boot/loader/entries/bootc_testos-2.0-1.conf'), 'utf8'), new RegExp(`composefs=${staged}`));
});

test('delete-deployment and composefs-gc --prune-repo untag and collect the image of a dropped deployment', { skip: missing ?? false }, async () => {
  const { layout, v1, v2 } = await images();
  const h = await bootRealImage('systemd-type1', layout, 'v1');
  assert.equal(runCli(['--root', h.t.dir, 'switch', '--quiet', '--transport', 'oci', `${layout}:v2`]).status, 0);
  const staged = (JSON.parse(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8')) as { depl_id: string }).depl_id;
  const objectsBefore = countObjects(h.t.p('/sysroot/composefs/objects'));
  const del = runCli(['--root', h.t.dir, 'delete-deployment', staged]);
  assert.equal(del.stderr, '');
  const removedObjects = objectsBefore - countObjects(h.t.p('/sysroot/composefs/objects'));
  assert.ok(removedObjects > 0);
  assert.match(
    del.stdout,
    new RegExp(`^Removed the staged deployment ${staged}\\nRemoved /boot/EFI/Linux/bootc_composefs-${staged}\\nRemoved /sysroot/state/deploy/${staged}\\nObjects: ${removedObjects} removed \\(\\d+ bytes\\)\\nPruned symlinks: 2 images, 3 streams\\n$`),
  );
  assert.deepEqual(fs.readdirSync(h.t.p('/sysroot/composefs/streams/refs/oci')), [`localhost%2Fbootc-${v1.manifestDigest}`]);
  assert.equal(fs.existsSync(h.t.p(`/sysroot/composefs/streams/oci-manifest-${v2.manifestDigest}`)), false);
  const gc = runCli(['--root', h.t.dir, 'internals', 'composefs-gc', '--prune-repo']);
  assert.deepEqual([gc.status, gc.stdout, gc.stderr], [0, 'Objects: 0 removed (0 bytes)\n', '']);
  const s = JSON.parse(runCli(['--root', h.t.dir, 'status', '--json']).stdout) as StatusJson;
  assert.deepEqual([s.status.staged, s.status.booted.image.version], [null, '1.0']);
});

function countObjects(dir: string): number {
  return fs.readdirSync(dir).reduce((n, d) => n + fs.readdirSync(path.join(dir, d)).length, 0);
}
