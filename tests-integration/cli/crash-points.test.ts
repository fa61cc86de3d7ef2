/**
 * Fault injection: every verb that mutates the host is killed (SIGKILL, via
 * TSBOOTC_CRASH_AT) at each crash point it passes, on a fresh copy of a fake
 * host booted into a tiny real image — systemd-boot Type1, and for switch,
 * finalize and rollback also systemd-boot UKI, GRUB on BLS and GRUB UKI.
 * After each crash the host must still boot its default entry (complete
 * deployment, image and objects present), `status` must work, fsck may only
 * find garbage, re-running the verb must succeed, and after `composefs-gc
 * --prune-repo` the host must be exactly what an uninterrupted run leaves (no
 * orphan state dirs, kernels, staged entries, objects or work dirs).
 * `install to-disk` is killed at each install step too. Prints the points
 * and cases covered; fails when a registered crash point is never hit.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/run-cli.js';
import { bootRealImage, buildOsImage } from '../helpers/os-image.js';
import { bootProblems, cliInProcess, fsckProblems, hostSnapshot, spawnCli } from '../helpers/crash-check.js';
import { buildInstallImage, fakeBootedRoot, SYSTEMD_BOOT } from '../helpers/install-fixture.js';
import { espCat, espListing, ext4Ls } from '../helpers/disk-readback.js';
import { crashPointNames } from '../../src/util/crash-point.js';
import type { Layout } from '../../src/testing/test-root.js';

const missing = spawnSync('umoci', ['--version']).status !== 0 ? 'umoci is not installed' : spawnSync('skopeo', ['--version']).status !== 0 ? 'skopeo is not installed' : undefined;
if (missing !== undefined) console.log(`# skipping crash-point tests: ${missing}`);

const work = tempDir('tsbootc-crash-');
const cleanup = [work];
after(() => cleanup.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const layout = path.join(work, 'oci');
const ukiLayout = path.join(work, 'oci-uki');
const FAT = { TSBOOTC_TEST_NO_RENAME_EXCHANGE: '1' };

/** Points tag `to` at the manifest of tag `from` in the index of OCI layout `oci`. */
function copyTag(oci: string, from: string, to: string): void {
  const file = path.join(oci, 'index.json');
  type Desc = { annotations?: Record<string, string> };
  const idx = JSON.parse(fs.readFileSync(file, 'utf8')) as { manifests: Desc[] };
  const name = (m: Desc) => m.annotations?.['org.opencontainers.image.ref.name'];
  const src = idx.manifests.find((m) => name(m) === from)!;
  idx.manifests = [...idx.manifests.filter((m) => name(m) !== to), { ...src, annotations: { 'org.opencontainers.image.ref.name': to } }];
  fs.writeFileSync(file, JSON.stringify(idx));
}

let seq = 0;
function copyHost(template: string): string {
  const dir = path.join(work, `h${seq++}`);
  execFileSync('cp', ['-a', template, dir]);
  return dir;
}

async function ok(dir: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await cliInProcess(['--root', dir, ...args], env);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
}

/** Host trees for one boot layout, each a starting point of some scenario. */
interface LayoutTemplates {
  base: string;
  staged: string;
  two: string;
  v2: string;
}

interface Templates extends LayoutTemplates {
  unfinalized: string;
  legacy: string;
  /** The other layouts (systemd-type1 is the top level). */
  layouts: Partial<Record<Layout, LayoutTemplates>>;
}

/** A host of `kind` booted into `cur` of `oci` (v1), with `cur` then moved to v2, plus its staged and finalized copies. */
async function layoutTemplates(kind: Layout, oci: string): Promise<LayoutTemplates> {
  copyTag(oci, 'v1', 'cur');
  const h = await bootRealImage(kind, oci, 'cur');
  // Live /etc changes for finalize to merge: one modified, one added, one removed.
  fs.writeFileSync(h.t.p('/etc/hostname'), 'mine\n');
  fs.writeFileSync(h.t.p('/etc/added'), 'added\n');
  fs.rmSync(h.t.p('/etc/conf/a'));
  copyTag(oci, 'v2', 'cur'); // `upgrade` now finds v2 under the booted tag
  const base = h.t.dir;
  cleanup.push(base);
  fs.mkdirSync(path.join(base, 'run'), { recursive: true }); // a real host always has /run (the lock lives there)
  const staged = copyHost(base);
  await ok(staged, ['switch', '--quiet', '--transport', 'oci', `${oci}:v2`]);
  const v2 = (JSON.parse(fs.readFileSync(path.join(staged, 'run/composefs/staged-deployment'), 'utf8')) as { depl_id: string }).depl_id;
  const two = copyHost(staged);
  await ok(two, ['composefs-finalize-staged']);
  return { base, staged, two, v2 };
}

let templates: Promise<Templates> | undefined;
/** Built once: the image layouts and the host trees every case copies. */
function buildTemplates(): Promise<Templates> {
  return (templates ??= (async () => {
    for (const [oci, uki] of [[layout, false], [ukiLayout, true]] as const) {
      await buildOsImage(oci, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n', 'conf/a': 'a1\n' }, ...(uki ? { uki: {} } : {}) });
      await buildOsImage(oci, 'v2', { version: '2.0', kernel: '2', etc: { hostname: 'v2\n', 'conf/a': 'a2\n' }, kargs: ['splash'], ...(uki ? { uki: {} } : {}) });
      await buildOsImage(oci, 'v3', { version: '3.0', kernel: '3', etc: { hostname: 'v3\n', 'conf/b': 'b3\n' }, ...(uki ? { uki: {} } : {}) });
    }
    const main = await layoutTemplates('systemd-type1', layout);
    const layouts: Templates['layouts'] = {};
    for (const kind of OTHER_LAYOUTS) layouts[kind] = await layoutTemplates(kind, ociFor(kind));
    const unfinalized = copyHost(main.staged);
    fs.rmSync(path.join(unfinalized, 'run/composefs/staged-deployment')); // rebooted without finalizing
    const legacy = copyHost(main.base); // bootc ≤ 1.15: kernel dirs without the bootc_composefs- prefix
    const efi = path.join(legacy, 'boot/EFI/Linux');
    for (const n of fs.readdirSync(efi)) fs.renameSync(path.join(efi, n), path.join(efi, n.replace('bootc_composefs-', '')));
    const entries = path.join(legacy, 'boot/loader/entries');
    for (const n of fs.readdirSync(entries)) fs.writeFileSync(path.join(entries, n), fs.readFileSync(path.join(entries, n), 'utf8').replaceAll('bootc_composefs-', ''));
    return { ...main, unfinalized, legacy, layouts };
  })());
}

type TemplateName = 'base' | 'staged' | 'two' | 'unfinalized' | 'legacy';

interface Scenario {
  name: string;
  template: TemplateName;
  /** Boot layout of the host (default systemd-type1). */
  layout?: Layout;
  args: (t: LayoutTemplates) => string[];
  env?: Record<string, string>;
  /** Running it twice undoes it (rollback): a re-run after a completed crash run toggles back. */
  toggle?: boolean;
  /** stderr of a re-run when the crashed run had already done the work. */
  alreadyDone?: (t: LayoutTemplates) => string;
}

/** Systemd-boot with UKIs (EFI/Linux/bootc), GRUB on BLS (/sysroot/boot/loader/entries) and GRUB with UKIs (grub2/user.cfg). */
const OTHER_LAYOUTS = ['systemd-uki', 'grub-type1', 'grub-uki'] as const satisfies readonly Layout[];
const ociFor = (kind: Layout): string => (kind.endsWith('uki') ? ukiLayout : layout);

const SCENARIOS: Scenario[] = [
  { name: 'switch', template: 'base', args: () => ['switch', '--quiet', '--transport', 'oci', `${layout}:v2`] },
  { name: 'upgrade', template: 'base', args: () => ['upgrade', '--quiet'] },
  { name: 'switch replacing a staged deployment', template: 'staged', args: () => ['switch', '--quiet', '--transport', 'oci', `${layout}:v3`] },
  { name: 'finalize', template: 'staged', args: () => ['composefs-finalize-staged'] },
  { name: 'finalize (FAT)', template: 'staged', args: () => ['composefs-finalize-staged'], env: FAT },
  { name: 'rollback', template: 'two', args: () => ['rollback'], toggle: true },
  { name: 'rollback (FAT)', template: 'two', args: () => ['rollback'], env: FAT, toggle: true },
  { name: 'delete-deployment', template: 'two', args: (t) => ['delete-deployment', t.v2], alreadyDone: (t) => `error: Deleting deployment ${t.v2}: No deployment ${t.v2}\n` },
  { name: 'composefs-gc', template: 'unfinalized', args: () => ['internals', 'composefs-gc', '--prune-repo'] },
  { name: 'migration', template: 'legacy', args: () => ['internals', 'composefs-gc'] },
  ...OTHER_LAYOUTS.flatMap((kind): Scenario[] => [
    { name: `switch (${kind})`, layout: kind, template: 'base', args: () => ['switch', '--quiet', '--transport', 'oci', `${ociFor(kind)}:v2`] },
    // Replacing a staged deployment removes its kernel dir (GRUB: under /sysroot/boot) or UKI (ESP).
    ...(kind !== 'grub-uki' ? [{ name: `switch replacing a staged deployment (${kind})`, layout: kind, template: 'staged', args: () => ['switch', '--quiet', '--transport', 'oci', `${ociFor(kind)}:v3`] } satisfies Scenario] : []),
    { name: `finalize (${kind})`, layout: kind, template: 'staged', args: () => ['composefs-finalize-staged'] },
    { name: `rollback (${kind})`, layout: kind, template: 'two', args: () => ['rollback'], toggle: true },
    // The systemd-boot entries live on the ESP (FAT): no RENAME_EXCHANGE there.
    ...(kind === 'systemd-uki' ? [{ name: `finalize (${kind}, FAT)`, layout: kind, template: 'staged', args: () => ['composefs-finalize-staged'], env: FAT } satisfies Scenario] : []),
  ]),
];

/** The template tree of a scenario and the layout's ids. */
function templateOf(t: Templates, s: Scenario): { dir: string; lt: LayoutTemplates } {
  if (s.layout === undefined || s.layout === 'systemd-type1') return { dir: t[s.template], lt: t };
  const lt = t.layouts[s.layout]!;
  if (s.template !== 'base' && s.template !== 'staged' && s.template !== 'two') throw new Error(`${s.name}: no ${s.template} template for ${s.layout}`);
  return { dir: lt[s.template], lt };
}

const covered = new Map<string, string[]>();
const GC = ['internals', 'composefs-gc', '--prune-repo'];

/** The crash points an uninterrupted run passes, in order, and the end state(s) after GC. */
async function baseline(t: Templates, s: Scenario): Promise<{ points: string[]; ends: string[][] }> {
  const { dir: tdir, lt } = templateOf(t, s);
  const dir = copyHost(tdir);
  const trace = path.join(work, `trace-${seq++}`);
  await ok(dir, s.args(lt), { ...s.env, TSBOOTC_CRASH_TRACE: trace });
  const points = [...new Set(fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l !== ''))];
  const twice = s.toggle === true ? copyHost(dir) : undefined;
  await ok(dir, GC);
  const ends = [hostSnapshot(dir)];
  if (twice !== undefined) {
    await ok(twice, s.args(lt), s.env);
    await ok(twice, GC);
    ends.push(hostSnapshot(twice));
  }
  return { points, ends };
}

/** Crashes at `point`; returns what went wrong (nothing when every invariant holds). */
async function crashCase(t: Templates, s: Scenario, point: string, ends: string[][]): Promise<string[]> {
  const { dir: tdir, lt } = templateOf(t, s);
  const dir = copyHost(tdir);
  const bad: string[] = [];
  const crash = await spawnCli(['--root', dir, ...s.args(lt)], { ...s.env, TSBOOTC_CRASH_AT: point });
  if (crash.signal !== 'SIGKILL') return [`${point}: not killed (exit ${crash.status}): ${crash.stderr}`];
  const boot = await bootProblems(dir);
  bad.push(...boot.problems.map((p) => `${point}: after the crash: ${p}`));
  const status = await cliInProcess(['--root', dir, 'status', '--json']);
  if (status.status !== 0) bad.push(`${point}: status failed: ${status.stderr}`);
  bad.push(...(await fsckProblems(dir, boot.live)).map((p) => `${point}: fsck: ${p}`));
  const again = await cliInProcess(['--root', dir, ...s.args(lt)], s.env ?? {});
  if (again.status !== 0 && again.stderr !== s.alreadyDone?.(lt)) bad.push(`${point}: re-run failed: ${again.stderr}`);
  const gc = await cliInProcess(['--root', dir, ...GC]);
  if (gc.status !== 0) bad.push(`${point}: gc failed: ${gc.stderr}`);
  bad.push(...(await bootProblems(dir)).problems.map((p) => `${point}: after re-run and GC: ${p}`));
  bad.push(...(await fsckProblems(dir, [])).map((p) => `${point}: fsck after GC: ${p}`));
  const end = hostSnapshot(dir);
  if (!ends.some((e) => e.join('\n') === end.join('\n'))) {
    const want = new Set(ends[0]);
    const got = new Set(end);
    bad.push(`${point}: end state differs from an uninterrupted run: extra ${JSON.stringify(end.filter((l) => !want.has(l)).map((l) => l.slice(0, 120)))}, missing ${JSON.stringify(ends[0]!.filter((l) => !got.has(l)).map((l) => l.slice(0, 120)))}`);
  }
  if (bad.length === 0) fs.rmSync(dir, { recursive: true, force: true });
  return bad;
}

/** Runs `fn` over `items`, three at a time (two cores; a case waits on a child process part of the time). */
async function pool<T, R>(items: readonly T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return out;
}

for (const s of SCENARIOS) {
  test(`crash at every step of ${s.name} leaves a bootable host the next run repairs`, { skip: missing ?? false }, async () => {
    const t = await buildTemplates();
    const { points: all, ends } = await baseline(t, s);
    // The repository steps do not depend on the boot layout: crashed there on systemd-type1 only.
    const points = s.layout === undefined ? all : all.filter((p) => !/^(repo(-gc)?:|finalize:after-etc-merge-step$)/.test(p));
    assert.notDeepEqual(points, [], `${s.name} passes no crash point`);
    const bad = (await pool(points, (p) => crashCase(t, s, p, ends))).flat();
    covered.set(s.name, points);
    console.log(`# ${s.name}: ${points.length} crash points: ${points.join(' ')}`);
    assert.deepEqual(bad, []);
  });
}

/**
 * install to-disk into an image file, by byte offsets (no loop device, no
 * mount: as nobody when the test runs as root), killed at every install
 * step. Afterwards no ESP entry may name a deployment whose state dir or
 * image is missing on the root filesystem; a re-run with --wipe must
 * succeed, and `status` must read the installed target.
 */
const installMissing =
  missing ??
  (!fs.existsSync(SYSTEMD_BOOT) ? `no ${SYSTEMD_BOOT}` : ['mkfs.ext4', 'mkfs.fat', 'mcopy', 'debugfs', 'sfdisk'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0)?.concat(' is not installed'));
const NOBODY = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
const ESP_AT = 4096 * 512;
const ROOT_AT = 2101248 * 512;

/** The ids the ESP's entries name, and problems with the deployments they name. */
function installedProblems(img: string): { ids: string[]; problems: string[] } {
  const entries = espListing(img, ESP_AT).filter((p) => p.startsWith('loader/entries/') && p.endsWith('.conf'));
  const ids: string[] = [];
  const problems: string[] = [];
  for (const e of entries) {
    const id = /composefs=\??([0-9a-f]{128})/.exec(espCat(img, ESP_AT, e))?.[1];
    if (id === undefined) {
      problems.push(`${e}: no composefs=`);
      continue;
    }
    ids.push(id);
    if (!ext4Ls(img, ROOT_AT, '/').includes('40700 composefs')) problems.push('the repository is not mode 0700');
    if (!ext4Ls(img, ROOT_AT, `/state/deploy/${id}`).some((l) => l.endsWith(` ${id}.origin`))) problems.push(`${e}: state dir of ${id} missing`);
    if (!ext4Ls(img, ROOT_AT, '/composefs/images').some((l) => l.endsWith(` ${id}`))) problems.push(`${e}: image ${id} missing`);
    for (const f of ['vmlinuz', 'initrd']) if (!espListing(img, ESP_AT).includes(`EFI/Linux/bootc_composefs-${id}/${f}`)) problems.push(`${e}: ${f} missing`);
  }
  return { ids, problems };
}

/** `status --json` of the installed target (root filesystem and ESP copied out), as booted into `id`. */
async function installedStatus(img: string, id: string, dir: string): Promise<string[]> {
  const phys = path.join(dir, 'phys');
  const esp = path.join(dir, 'esp');
  fs.mkdirSync(phys, { recursive: true });
  fs.mkdirSync(esp, { recursive: true });
  execFileSync('debugfs', ['-R', `rdump / ${phys}`, `${img}?offset=${ROOT_AT}`], { stdio: 'ignore' });
  execFileSync('mcopy', ['-s', '-n', '-i', `${img}@@${ESP_AT}`, '::/loader', '::/EFI', esp], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  const root = fakeBootedRoot(path.join(dir, 'root'), { verity: id, cmdline: `composefs=?${id} rw`, physRoot: phys, espCopy: esp });
  const r = await cliInProcess(['--root', root, 'status', '--json']);
  if (r.status !== 0) return [`status failed: ${r.stderr}`];
  const booted = (JSON.parse(r.stdout) as { status: { booted: { composefs: { verity: string } } | null } }).status.booted?.composefs.verity;
  return booted === id ? [] : [`status: booted ${String(booted)}, expected ${id}`];
}

test('crash at every step of install to-disk leaves no entry without its deployment; a re-run with --wipe works', { skip: installMissing ?? false }, async () => {
  const idir = path.join(work, 'install');
  fs.mkdirSync(idir, { recursive: true });
  fs.chmodSync(work, 0o755); // nobody reaches its disk images and the trace file
  const src = await buildInstallImage(path.join(idir, 'oci'), 'v1');
  execFileSync('chmod', ['-R', 'a+rX', idir]);
  const args = (img: string) => ['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', src.ref, '--filesystem', 'ext4', img];
  const target = () => {
    const d = path.join(idir, `t${seq++}`);
    fs.mkdirSync(d);
    if (NOBODY.length > 0) fs.chownSync(d, 65534, 65534);
    const img = path.join(d, 'disk.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 3 * 1024 ** 3);
    if (NOBODY.length > 0) fs.chownSync(img, 65534, 65534);
    return { d, img };
  };
  const install = (img: string, env: Record<string, string>) => spawnCli(args(img), env, NOBODY);
  const trace = path.join(work, `trace-${seq++}`);
  fs.writeFileSync(trace, '');
  fs.chmodSync(trace, 0o666);
  const base = target();
  const first = await install(base.img, { TSBOOTC_CRASH_TRACE: trace });
  assert.equal(first.status, 0, first.stderr);
  // Repository steps are crashed in the scenarios above; here, the install's own steps.
  const points = [...new Set(fs.readFileSync(trace, 'utf8').split('\n'))].filter((p) => p.startsWith('install:'));
  const bad = (
    await pool(points, async (point) => {
      const { d, img } = target();
      const out: string[] = [];
      const crash = await install(img, { TSBOOTC_CRASH_AT: point });
      if (crash.signal !== 'SIGKILL') return [`${point}: not killed (exit ${crash.status}): ${crash.stderr}`];
      const before = installedProblems(img);
      out.push(...before.problems.map((p) => `${point}: after the crash: ${p}`));
      const again = await install(img, {});
      if (again.status !== 0) return [...out, `${point}: re-run with --wipe failed: ${again.stderr}`];
      const afterRun = installedProblems(img);
      out.push(...afterRun.problems.map((p) => `${point}: after the re-run: ${p}`));
      if (afterRun.ids.length !== 1) out.push(`${point}: ${afterRun.ids.length} entries after the re-run`);
      else out.push(...(await installedStatus(img, afterRun.ids[0]!, path.join(d, 'status'))).map((p) => `${point}: ${p}`));
      if (out.length === 0) fs.rmSync(d, { recursive: true, force: true });
      return out;
    })
  ).flat();
  covered.set('install to-disk', points);
  console.log(`# install to-disk: ${points.length} crash points: ${points.join(' ')}`);
  assert.deepEqual(bad, []);
});

test('every registered crash point is exercised', { skip: missing ?? false }, () => {
  const hit = new Set([...covered.values()].flat());
  const cases = [...covered.values()].reduce((n, p) => n + p.length, 0);
  console.log(`# crash points: ${crashPointNames().length} registered, ${hit.size} covered in ${cases} crash cases`);
  // Without the install tools the install points cannot be reached (that test said why it skipped).
  const expected = crashPointNames().filter((n) => installMissing === undefined || !n.startsWith('install:'));
  assert.deepEqual(expected.filter((n) => !hit.has(n)), []);
});
