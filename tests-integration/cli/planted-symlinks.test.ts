/**
 * Issue #10 item 5: symlinks planted under /sysroot or the boot/ESP paths
 * never redirect tsbootc's writes outside the tree. On fake hosts booted
 * into a real image, a link is planted at an intermediate or final
 * component of a path a verb writes; the verb must either refuse, naming the
 * path and the link, or replace the link — and the directory the link
 * points at must be byte-identical before and after.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/run-cli.js';
import { bootRealImage, buildOsImage, snapshotTree } from '../helpers/os-image.js';
import { cliInProcess } from '../helpers/crash-check.js';

const missing = spawnSync('umoci', ['--version']).status !== 0 ? 'umoci is not installed' : spawnSync('skopeo', ['--version']).status !== 0 ? 'skopeo is not installed' : undefined;
if (missing !== undefined) console.log(`# skipping planted-symlink tests: ${missing}`);

const work = tempDir('tsbootc-planted-');
const cleanup = [work];
after(() => cleanup.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const layout = path.join(work, 'oci');

interface Hosts {
  base: string;
  staged: string;
  two: string;
  v2: string;
}

let hosts: Promise<Hosts> | undefined;
function buildHosts(): Promise<Hosts> {
  return (hosts ??= (async () => {
    await buildOsImage(layout, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n' } });
    await buildOsImage(layout, 'v2', { version: '2.0', kernel: '2', etc: { hostname: 'v2\n' } });
    const h = await bootRealImage('systemd-type1', layout, 'v1');
    cleanup.push(h.t.dir);
    fs.mkdirSync(path.join(h.t.dir, 'run'), { recursive: true });
    const staged = copy(h.t.dir);
    await ok(staged, ['switch', '--quiet', '--transport', 'oci', `${layout}:v2`]);
    const v2 = (JSON.parse(fs.readFileSync(path.join(staged, 'run/composefs/staged-deployment'), 'utf8')) as { depl_id: string }).depl_id;
    const two = copy(staged);
    await ok(two, ['composefs-finalize-staged']);
    return { base: h.t.dir, staged, two, v2 };
  })());
}

let seq = 0;
function copy(template: string): string {
  const dir = path.join(work, `h${seq++}`);
  execFileSync('cp', ['-a', template, dir]);
  return dir;
}

async function ok(dir: string, args: string[]): Promise<void> {
  const r = await cliInProcess(['--root', dir, ...args]);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
}

/**
 * Moves `rel` of `dir` to a fresh outside dir and leaves a symlink in its
 * place (or, with `empty`, links `rel` to an outside dir holding a bait file).
 */
function plant(dir: string, rel: string, opts: { empty?: boolean } = {}): string {
  const outside = path.join(work, `outside-${seq++}`);
  fs.mkdirSync(outside);
  const target = path.join(outside, 'moved');
  const p = path.join(dir, rel);
  if (opts.empty === true) fs.mkdirSync(target);
  else fs.renameSync(p, target);
  fs.writeFileSync(path.join(outside, 'bait'), 'do not touch\n');
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.symlinkSync(target, p);
  return outside;
}

/** Runs the verb: it must fail with exactly `stderr` and leave `outside` as it was. */
async function refused(dir: string, args: string[], outside: string, stderr: string): Promise<void> {
  const before = snapshotTree(outside);
  const r = await cliInProcess(['--root', dir, ...args]);
  assert.equal(r.stderr, stderr);
  assert.equal(r.status, 1);
  assert.deepEqual(snapshotTree(outside), before, 'the link target changed');
}

/** The refusal's text for a write to `target` through the symlink `link` → `to`. */
const planted = (target: string, link: string, to: string) => `refusing to write ${target}: ${link} is a symlink (to ${to}), not part of the tree tsbootc manages`;

test('switch refuses to write kernels through a symlinked boot/EFI/Linux', { skip: missing ?? false }, async () => {
  const t = await buildHosts();
  const dir = copy(t.base);
  const outside = plant(dir, 'boot/EFI/Linux');
  await refused(
    dir,
    ['switch', '--quiet', '--transport', 'oci', `${layout}:v2`],
    outside,
    `error: Switching: Staging deployment ${t.v2}: Writing boot artifacts of ${t.v2}: Creating directory /boot/EFI/Linux/bootc_composefs-${t.v2}: ${planted(`${dir}/boot/EFI/Linux/bootc_composefs-${t.v2}`, `${dir}/boot/EFI/Linux`, `${outside}/moved`)}\n`,
  );
});

test('switch replaces a symlink planted at the new deployment\'s state dir instead of writing through it', { skip: missing ?? false }, async () => {
  const t = await buildHosts();
  const dir = copy(t.base);
  const outside = plant(dir, `sysroot/state/deploy/${t.v2}`, { empty: true });
  const before = snapshotTree(outside);
  await ok(dir, ['switch', '--quiet', '--transport', 'oci', `${layout}:v2`]);
  assert.deepEqual(snapshotTree(outside), before);
  assert.ok(fs.lstatSync(path.join(dir, `sysroot/state/deploy/${t.v2}`)).isDirectory());
  assert.ok(fs.existsSync(path.join(dir, `sysroot/state/deploy/${t.v2}/${t.v2}.origin`)));
});

test('finalize refuses to merge /etc through a symlinked state/deploy/<id>/etc', { skip: missing ?? false }, async () => {
  const t = await buildHosts();
  const dir = copy(t.staged);
  fs.writeFileSync(path.join(dir, 'etc/hostname'), 'changed\n'); // a live change the merge would write
  const outside = plant(dir, `sysroot/state/deploy/${t.v2}/etc`);
  await refused(
    dir,
    ['composefs-finalize-staged'],
    outside,
    `error: Finalizing the staged deployment: ${planted(`${dir}/sysroot/state/deploy/${t.v2}/etc`, `${dir}/sysroot/state/deploy/${t.v2}/etc`, `${outside}/moved`)}\n`,
  );
});

test('rollback refuses to write entries through a symlinked boot/loader', { skip: missing ?? false }, async () => {
  const t = await buildHosts();
  const dir = copy(t.two);
  const outside = plant(dir, 'boot/loader');
  await refused(dir, ['rollback'], outside, `error: Rolling back: Removing /boot/loader/entries.staged: ${planted(`${dir}/boot/loader/entries.staged`, `${dir}/boot/loader`, `${outside}/moved`)}\n`);
});

test('GC refuses to sweep a symlinked objects/XX (it would delete files elsewhere)', { skip: missing ?? false }, async () => {
  const t = await buildHosts();
  const dir = copy(t.two);
  const objects = path.join(dir, 'sysroot/composefs/objects');
  const xx = ['00', '01', '02', '03'].find((x) => !fs.existsSync(path.join(objects, x)))!;
  const outside = plant(dir, `sysroot/composefs/objects/${xx}`, { empty: true });
  fs.writeFileSync(path.join(outside, 'moved', 'a'.repeat(126)), 'looks like an unreferenced object\n');
  const repo = path.join(dir, 'sysroot/composefs');
  await refused(
    dir,
    ['internals', 'composefs-gc', '--prune-repo'],
    outside,
    `error: Garbage-collecting deployments: Garbage-collecting ${repo}: Running garbage collection in ${repo}: refusing to use ${objects}/${xx}: it is a symlink (to ${outside}/moved), not a directory of the repository\n`,
  );
});

test('the host repository is never opened through a symlinked /sysroot/composefs', { skip: missing ?? false }, async () => {
  const t = await buildHosts();
  const dir = copy(t.two);
  const outside = plant(dir, 'sysroot/composefs');
  await refused(dir, ['internals', 'composefs-gc', '--prune-repo'], outside, `error: Garbage-collecting deployments: ${planted(`${dir}/sysroot/composefs`, `${dir}/sysroot/composefs`, `${outside}/moved`)}\n`);
});
