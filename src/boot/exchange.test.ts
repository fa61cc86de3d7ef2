import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { TestRoot } from '../testing/test-root.js';
import { SyscallError } from '../sys/libc.js';
import { parseBls } from './bls.js';
import { blsEntryTarget, sortBlsEntries } from './entry-order.js';
import { rejectsWith } from '../testing/assert.js';
import { commitStagedBls, completePendingCommit, hasPendingCommit } from './exchange.js';

const fatExchange = () => {
  throw new SyscallError('renameat2(RENAME_EXCHANGE)', 'a <-> b', osConstants.errno.EINVAL);
};

async function liveEntries(t: TestRoot): Promise<Record<string, string>> {
  const dir = t.p('/boot/loader/entries');
  const out: Record<string, string> = {};
  for (const n of (await fs.readdir(dir)).sort()) out[n] = await fs.readFile(`${dir}/${n}`, 'utf8');
  return out;
}

/** The host can boot: a parseable default entry whose kernel, initrd and state dir exist. */
async function assertBootable(t: TestRoot, what: string): Promise<void> {
  const entries = await liveEntries(t);
  const parsed = Object.entries(entries).filter(([n]) => n.endsWith('.conf')).map(([fileName, text]) => ({ fileName, entry: parseBls(text) }));
  const first = sortBlsEntries(parsed, 'systemd')[0];
  assert.ok(first !== undefined, `${what}: no entries at all`);
  for (const p of [first.entry.linux!, ...first.entry.initrd]) await fs.access(t.p(`/boot${p}`));
  await fs.access(t.p(`/sysroot/state/deploy/${blsEntryTarget(first.entry).verity}`));
}

async function stagedHost(): Promise<TestRoot> {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.upgrade(1, 'kernel');
  await t.stage(2, 'kernel');
  return t;
}

test('exchange: RENAME_EXCHANGE swaps entries.staged and entries and removes the old set', async () => {
  const t = await stagedHost();
  const want = Object.fromEntries(await Promise.all((await fs.readdir(t.p('/boot/loader/entries.staged'))).map(async (n) => [n, await t.read(`/boot/loader/entries.staged/${n}`)])));
  assert.equal(await commitStagedBls(t.root, '/boot'), 'exchanged');
  assert.deepEqual(await liveEntries(t), want);
  assert.deepEqual(await t.tree('/boot/loader'), ['/boot/loader/entries/', ...Object.keys(want).sort().map((n) => `/boot/loader/entries/${n}`)]);
});

test('exchange on FAT (EINVAL): a crash after any step leaves a bootable default and the next run completes the commit', async () => {
  const ref = await stagedHost();
  const steps: string[] = [];
  const order = ['bootc_fedora-44-1.conf'];
  assert.equal(await commitStagedBls(ref.root, '/boot', { exchange: fatExchange, step: (s) => steps.push(s), order }), 'rolled-forward');
  const want = await liveEntries(ref);
  assert.deepEqual(steps, ['marker', 'copy bootc_fedora-44-1.conf', 'copy bootc_fedora-44-0.conf', 'cleanup']);
  for (let i = 0; i < steps.length; i++) {
    const t = await stagedHost();
    const crash = (s: string) => {
      if (s === steps[i]) throw new Error(`crash after ${s}`);
    };
    await rejectsWith(commitStagedBls(t.root, '/boot', { exchange: fatExchange, step: crash, order }), /crash after/);
    await assertBootable(t, `crash after ${steps[i]}`);
    const pending = await hasPendingCommit(t.root, '/boot');
    assert.equal(pending, i < steps.length - 1, `pending after ${steps[i]}`);
    await completePendingCommit(t.root, '/boot');
    assert.deepEqual(await liveEntries(t), want, `after repairing a crash after ${steps[i]}`);
    assert.deepEqual((await t.tree('/boot/loader')).filter((p) => p.includes('entries.staged') || p.includes('.tmp-')), []);
  }
});

test('exchange on FAT drops entries that are not in the staged set and never commits an empty set', async () => {
  const t = await stagedHost();
  await t.write('/boot/loader/entries/memtest.conf', 'title m\nversion 1\nlinux /m\n');
  await commitStagedBls(t.root, '/boot', { exchange: fatExchange });
  assert.deepEqual(Object.keys(await liveEntries(t)), ['bootc_fedora-44-0.conf', 'bootc_fedora-44-1.conf']);
  await fs.mkdir(t.p('/boot/loader/entries.staged'));
  await rejectsWith(commitStagedBls(t.root, '/boot'), /^Committing \/boot\/loader\/entries.staged: \/boot\/loader\/entries.staged holds no entries; refusing to replace/);
  assert.deepEqual(Object.keys(await liveEntries(t)), ['bootc_fedora-44-0.conf', 'bootc_fedora-44-1.conf']);
});
