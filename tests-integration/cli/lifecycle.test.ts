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
  const s = JSON.parse(runCli(['--root', h.t.dir, 'status', '--json']).stdout) as StatusJson;
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
});

function bootDigestOf(dir: string): string {
  return createHash('sha256').update(fs.readFileSync(path.join(dir, 'vmlinuz'))).update(fs.readFileSync(path.join(dir, 'initrd'))).digest('hex');
}
