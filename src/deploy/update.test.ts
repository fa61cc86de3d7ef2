import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bootImageHost, tempLayout, writeTestImage, type ImageHost } from '../testing/image-host.js';
import { rejectsWith } from '../testing/assert.js';
import { switchImage } from './switch.js';
import { upgrade } from './upgrade.js';
import { finalizeStagedDeployment } from './finalize.js';
import { openOfflineState } from './offline.js';
import { openOciLayout, pullOciImage } from '../composefs/index.js';

/** Everything under the host root except the repository internals (objects, streams, images). */
function tree(h: ImageHost): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of fs.readdirSync(h.t.p(rel)).sort()) {
      const r = path.posix.join(rel, n);
      if (/^\/sysroot\/composefs\/(objects|images|streams\/oci)/.test(r)) continue;
      const st = fs.lstatSync(h.t.p(r));
      if (st.isDirectory()) walk(r);
      else out.push(st.isSymbolicLink() ? `${r} -> ${fs.readlinkSync(h.t.p(r))}` : `${r} ${fs.readFileSync(h.t.p(r)).toString('base64')}`);
    }
  };
  walk('/');
  return out;
}

const marker = (h: ImageHost) => JSON.parse(fs.readFileSync(h.t.p('/run/composefs/staged-deployment'), 'utf8')) as { depl_id: string; finalization_locked: boolean };

async function host() {
  const v1 = tempLayout();
  await writeTestImage(v1, { version: '1', kernel: '1', etc: { hostname: 'one\n' }, kargs: ['quiet'] });
  return { v1, h: await bootImageHost(v1) };
}

test('switch: an unchanged spec fetches nothing; a newer switch replaces the staged one', async () => {
  const { v1, h } = await host();
  const same = await switchImage(await h.state(), h.deps, { target: v1, transport: 'oci', enforceSigpolicy: false });
  assert.deepEqual(same, { kind: 'unchanged', staged: undefined, messages: ['Image specification is unchanged.'] });
  assert.deepEqual(h.deps.fetcher.calls, []);
  const v2 = tempLayout();
  await writeTestImage(v2, { version: '2', kernel: '2', etc: { hostname: 'two\n' } });
  const r2 = await switchImage(await h.state(), h.deps, { target: v2, transport: 'oci', enforceSigpolicy: false });
  assert.equal(r2.kind, 'staged');
  const first = marker(h).depl_id;
  const v3 = tempLayout();
  await writeTestImage(v3, { version: '3', kernel: '3' });
  const r3 = await switchImage(await h.state(), h.deps, { target: v3, transport: 'oci', enforceSigpolicy: false });
  assert.equal(r3.kind, 'staged');
  const second = marker(h).depl_id;
  assert.notEqual(first, second);
  // The first staged deployment is gone entirely: state dir, kernel, entries, tag.
  assert.deepEqual(fs.readdirSync(h.t.p('/sysroot/state/deploy')).sort(), [h.verity, second].sort());
  assert.deepEqual(fs.readdirSync(h.t.p('/boot/EFI/Linux')).sort(), [`bootc_composefs-${h.verity}`, `bootc_composefs-${second}`].sort());
  assert.equal(fs.readdirSync(h.t.p('/sysroot/composefs/streams/refs/oci')).length, 2);
  assert.deepEqual(h.runner.calls, [], 'no systemctl on a fake root');
});

test('switch to an already pulled image with the booted content fails before fetching it', async () => {
  const { v1, h } = await host();
  const copy = tempLayout();
  fs.cpSync(v1, copy, { recursive: true });
  const before = tree(h);
  const msg = await rejectsWith(switchImage(await h.state(), h.deps, { target: copy, transport: 'oci', enforceSigpolicy: false }), /Booted/);
  assert.equal(msg, 'Switching: Target image has the same fs-verity digest as the existing Some(Booted) deployment.');
  assert.deepEqual(h.deps.fetcher.calls, [`manifest ${copy} insecure`]);
  assert.deepEqual(tree(h), before);
});

test('upgrade --check stages nothing even when the update is already in the repository', async () => {
  const { v1, h } = await host();
  fs.rmSync(v1, { recursive: true });
  await writeTestImage(v1, { version: '2', kernel: '1', etc: { hostname: 'one\n' } });
  const repo = (await h.deps.repo.open())!;
  await pullOciImage(repo, openOciLayout(v1), { bootable: true });
  repo.close();
  const before = tree(h);
  const r = await upgrade(await h.state(), h.deps, { check: true, downloadOnly: false, fromDownloaded: false });
  assert.equal(r.outcome, 'checked');
  assert.match(r.messages.join('\n'), /^Update available for: oci:.*\n {2}Digest: sha256:[0-9a-f]{64}\nTotal new layers: 1 {5}Size: .*\nRemoved layers: {3}1 {5}Size: .*\nAdded layers: {5}1 {5}Size: .*$/);
  assert.deepEqual(tree(h), before);
  const up = await upgrade(await h.state(), h.deps, { check: false, downloadOnly: false, fromDownloaded: false });
  assert.equal(up.outcome, 'staged');
  const again = await upgrade(await h.state(), h.deps, { check: true, downloadOnly: false, fromDownloaded: false });
  assert.deepEqual(again, { outcome: 'already-staged', messages: ['Update already staged. To apply update run `tsbootc update --apply`'], verity: up.verity });
});

test('--enforce-container-sigpolicy is remembered in the origin and enforced by later upgrades', async () => {
  const { h } = await host();
  const v2 = tempLayout();
  await writeTestImage(v2, { version: '2', kernel: '2' });
  await switchImage(await h.state(), h.deps, { target: v2, transport: 'oci', enforceSigpolicy: true });
  const id = marker(h).depl_id;
  assert.match(fs.readFileSync(h.t.p(`/sysroot/state/deploy/${id}/${id}.origin`), 'utf8'), new RegExp(`^\\[origin\\]\ncontainer-image-reference = ostree-image-signed:oci:${v2}\n`));
  fs.rmSync(v2, { recursive: true });
  await writeTestImage(v2, { version: '2.1', kernel: '2' });
  const r = await upgrade(await h.state(), h.deps, { check: false, downloadOnly: false, fromDownloaded: false });
  assert.equal(r.outcome, 'staged');
  assert.deepEqual(h.deps.fetcher.calls.slice(-2), [`manifest ${v2} containerPolicy`, `fetch ${v2} containerPolicy`]);
});

test('finalize: download-only is left alone; otherwise /etc is merged and the entries exchanged', async () => {
  const { h } = await host();
  const v2 = tempLayout();
  await writeTestImage(v2, { version: '2', kernel: '2', etc: { hostname: 'two\n', motd: 'hi\n' } });
  fs.writeFileSync(h.t.p('/etc/local'), 'mine\n');
  await switchImage(await h.state(), h.deps, { target: v2, transport: 'oci', enforceSigpolicy: false });
  const id = marker(h).depl_id;
  fs.writeFileSync(h.t.p('/run/composefs/staged-deployment'), JSON.stringify({ depl_id: id, finalization_locked: true }));
  assert.deepEqual(await finalizeStagedDeployment(await h.state(), h.deps.repo), { result: 'download-only', verity: id });
  const r = await upgrade(await h.state(), h.deps, { check: false, downloadOnly: false, fromDownloaded: true });
  assert.deepEqual([r.outcome, marker(h).finalization_locked], ['unlocked', false]);
  const f = await finalizeStagedDeployment(await h.state(), h.deps.repo);
  assert.equal(f.result, 'finalized');
  assert.deepEqual(f.etc, { added: ['local'], modified: [], removed: [], unmergeable: [] });
  assert.deepEqual(fs.readdirSync(h.t.p(`/sysroot/state/deploy/${id}/etc`)).sort(), ['hostname', 'local', 'motd']);
  assert.equal(fs.readFileSync(h.t.p(`/sysroot/state/deploy/${id}/etc/hostname`), 'utf8'), 'two\n');
  assert.equal(fs.existsSync(h.t.p('/boot/loader/entries.staged')), false);
  assert.match(fs.readdirSync(h.t.p('/boot/loader/entries')).map((n) => fs.readFileSync(h.t.p(`/boot/loader/entries/${n}`), 'utf8')).join(''), new RegExp(`composefs=${id}`));
});

test('offline tree (no composefs= in its /proc/cmdline): switch stages and finalizes at once, merging the default deployment /etc', async () => {
  const { h } = await host();
  fs.rmSync(h.t.p('/proc'), { recursive: true });
  fs.writeFileSync(h.t.p(`/sysroot/state/deploy/${h.verity}/etc/local`), 'mine\n');
  const v2 = tempLayout();
  await writeTestImage(v2, { version: '2', kernel: '2', etc: { hostname: 'two\n' } });
  const st = (await openOfflineState(h.t.host(h.runner)))!;
  assert.deepEqual([st.offline, st.booted.digest, st.bootDir], [true, h.verity, '/boot']);
  const r = await switchImage(st, h.deps, { target: v2, transport: 'oci', enforceSigpolicy: false });
  assert.equal(r.kind, 'staged');
  const id = (r as { verity: string }).verity;
  assert.deepEqual(r.messages, [`Deployed oci:${v2} as the default boot entry of ${h.t.dir} (offline: not the booted system, finalized now)`]);
  assert.equal(fs.existsSync(h.t.p('/run/composefs/staged-deployment')), false);
  assert.equal(fs.existsSync(h.t.p('/boot/loader/entries.staged')), false);
  const entries = fs.readdirSync(h.t.p('/boot/loader/entries')).sort();
  assert.deepEqual(entries, ['bootc_testos-1-0.conf', 'bootc_testos-2-1.conf']);
  assert.match(fs.readFileSync(h.t.p('/boot/loader/entries/bootc_testos-2-1.conf'), 'utf8'), new RegExp(`options root=UUID=\\S+ rw composefs=${id}\n`));
  assert.deepEqual(fs.readdirSync(h.t.p(`/sysroot/state/deploy/${id}/etc`)).sort(), ['hostname', 'local']);
  assert.deepEqual(h.runner.calls, []);
  // Upgrading the offline tree again: the new default is now what is "booted".
  const again = await upgrade((await openOfflineState(h.t.host(h.runner)))!, h.deps, { check: false, downloadOnly: false, fromDownloaded: false });
  assert.deepEqual(again.messages, [`No changes in: oci:${v2}`]);
});

test('upgrade follows a staged switch (it takes precedence) and replaces it with a newer image; --tag edits the reference', async () => {
  const { h } = await host();
  const v2 = tempLayout();
  await writeTestImage(v2, { version: '2', kernel: '2' });
  await switchImage(await h.state(), h.deps, { target: v2, transport: 'oci', enforceSigpolicy: false });
  const first = marker(h).depl_id;
  const same = await upgrade(await h.state(), h.deps, { check: false, downloadOnly: false, fromDownloaded: false });
  assert.deepEqual(same, { outcome: 'already-staged', messages: ['Update already staged. To apply update run `tsbootc update --apply`'], verity: first });
  fs.rmSync(v2, { recursive: true });
  await writeTestImage(v2, { version: '2.1', kernel: '2' });
  const r = await upgrade(await h.state(), h.deps, { check: false, downloadOnly: false, fromDownloaded: false });
  assert.equal(r.outcome, 'staged');
  assert.notEqual(marker(h).depl_id, first);
  assert.deepEqual(fs.readdirSync(h.t.p('/sysroot/state/deploy')).sort(), [h.verity, marker(h).depl_id].sort());
  h.deps.fetcher.calls.length = 0;
  // The fake fetcher ignores the tag, so the same (staged) image comes back.
  const tagged = await upgrade(await h.state(), h.deps, { check: true, downloadOnly: false, fromDownloaded: false, tag: 'next' });
  assert.deepEqual(tagged.messages, ['Update already staged. To apply update run `tsbootc update --apply`']);
  assert.deepEqual(h.deps.fetcher.calls, [`manifest ${v2}:next insecure`]);
});

test('switch and finalize on a GRUB (Type1) host: kernels and entries under /sysroot/boot', async () => {
  const v1 = tempLayout();
  await writeTestImage(v1, { version: '1', kernel: '1', kargs: ['quiet'] });
  const h = await bootImageHost(v1, 'grub-type1');
  const v2 = tempLayout();
  await writeTestImage(v2, { version: '2', kernel: '2', kargs: ['splash'] });
  const r = await switchImage(await h.state(), h.deps, { target: v2, transport: 'oci', enforceSigpolicy: false });
  assert.equal(r.kind, 'staged');
  const id = marker(h).depl_id;
  assert.deepEqual(fs.readdirSync(h.t.p('/sysroot/boot/loader/entries.staged')).sort(), ['bootc_testos-2-0.conf', 'bootc_testos-2-1.conf']);
  assert.match(fs.readFileSync(h.t.p('/sysroot/boot/loader/entries.staged/bootc_testos-2-1.conf'), 'utf8'), new RegExp(`linux /boot/bootc_composefs-${id}/vmlinuz\n[^]*options root=UUID=\\S+ rw composefs=${id} splash\n`));
  assert.equal((await finalizeStagedDeployment(await h.state(), h.deps.repo)).result, 'finalized');
  assert.deepEqual(fs.readdirSync(h.t.p('/sysroot/boot/loader/entries')).sort(), ['bootc_testos-2-0.conf', 'bootc_testos-2-1.conf']);
  assert.ok(fs.existsSync(h.t.p(`/sysroot/boot/bootc_composefs-${id}/vmlinuz`)));
});
