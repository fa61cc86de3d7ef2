/**
 * Owns running tmt's booted tests (tmt/tests) without tmt: the images disk,
 * the installed system disk, and the boot loop that plays tmt's part.
 *
 * Images disk (ext4, /dev/vdb in the guest, mounted on /run/tsbootc-test/hook-disk
 * by the test image's boot-check, which runs its hook.sh):
 *   oci/                the OCI layout: v1 v2 v3 (--with-node + systemd-boot) and v3-gen1..3
 *   current/            a layout sharing oci/blobs whose one tag `latest` the guest retags
 *   tags/<tag>.json     index.json variants naming <tag>'s manifest `latest`
 *   tmt/tests/          the tests (the fmf tree's tests dir)
 *   tmt-vm/bin/tmt-reboot, tmt-vm/test (the command), tmt-vm/reboot-count (written
 *                       by the driver before each boot with debugfs)
 *   hook.sh             sets TMT_REBOOT_COUNT, PATH, TSBOOTC_TEST_IMAGES; runs the test
 *
 * Boot loop: qemu TCG + OVMF boots the system disk; the serial console says
 * what happened: `TMT-VM-REBOOT:` (the tmt-reboot shim; the guest then reboots
 * or runs `-c CMD`, e.g. a sysrq reset) ⇒ boot again with the count + 1;
 * `TMT-VM-END: exit=N` ⇒ the test is over, passed iff N = 0; neither, or a
 * boot over its timeout ⇒ failed. A finalize at shutdown that fails
 * (`TSBOOTC-FINALIZE: exit=N`, N ≠ 0) fails the test too.
 */
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildTestImage } from '../image/build.js';
import { exec, execAllowFailure, execText } from '../image/exec.js';
import { setTreeMtime } from '../image/rootfs.js';
import { runCliAsync } from '../../helpers/run-cli.js';
import { markerLines, runQemu } from './qemu.js';
import { OVMF_CODE, OVMF_VARS } from './uefi-disk.js';
import { withSystemdBoot } from './with-systemd-boot.js';

/** Where the guest mounts the images disk (image/rootfs.ts). */
export const GUEST_IMAGES = '/run/tsbootc-test/hook-disk';
/** The reference the installed system tracks. */
export const CURRENT_REF = `${GUEST_IMAGES}/current:latest`;
export const GENERATIONS = ['v3-gen1', 'v3-gen2', 'v3-gen3'] as const;

const HOOK = `#!/bin/sh
# tmt-vm (tests-integration/vm/lib/tmt-vm.ts): plays tmt on the guest.
D=${GUEST_IMAGES}
TMT_REBOOT_COUNT=$(cat "$D/tmt-vm/reboot-count")
TMT_TEST_NAME=$(cat "$D/tmt-vm/name")
export TMT_REBOOT_COUNT TMT_TEST_NAME
export TSBOOTC_TEST_IMAGES="$D"
export PATH="$D/tmt-vm/bin:/usr/bin"
echo "TMT-VM-BEGIN: test=$TMT_TEST_NAME reboot-count=$TMT_REBOOT_COUNT"
cd "$D/tmt/tests" || exit 1
sh -c "$(cat "$D/tmt-vm/test")"
rc=$?
echo "TMT-VM-END: exit=$rc"
`;

const TMT_REBOOT = `#!/bin/sh
# tmt-reboot for tmt-vm: tells the driver on the serial console, then reboots
# (or runs -c COMMAND, as tmt-reboot does); the driver boots again with
# TMT_REBOOT_COUNT + 1. Never returns.
cmd=
while getopts c:t:e: o; do
  case "$o" in c) cmd=$OPTARG ;; *) ;; esac
done
echo "TMT-VM-REBOOT: count=$TMT_REBOOT_COUNT command=\${cmd:-reboot}"
# A moment for the console to drain before a command such as a sysrq reset (no sync meanwhile).
if [ -n "$cmd" ]; then sleep 2; sh -c "$cmd"; else reboot; fi
while :; do sleep 3600; done
`;

export interface PreparedImages {
  /** The images dir (its oci/ is also the install source). */
  dir: string;
  buildMs: number;
}

/** index.json naming `tag`'s manifest of `layout` as `latest`. */
function tagIndex(layout: string, tag: string): string {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<Record<string, unknown> & { annotations?: Record<string, string> }> };
  const m = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (m === undefined) throw new Error(`${layout} has no tag ${tag}`);
  return `${JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] })}\n`;
}

/**
 * Builds the images dir: v1, v2 (and with `withV3`, v3 and three generations
 * over it) with node and systemd-boot; current/ = v1.
 */
export async function prepareImages(work: string, withV3 = true): Promise<PreparedImages> {
  const started = Date.now();
  const dir = path.join(work, 'images');
  const oci = path.join(dir, 'oci');
  for (const v of withV3 ? (['v1', 'v2', 'v3'] as const) : (['v1', 'v2'] as const)) {
    const built = await buildTestImage({ out: oci, variant: v, tag: `${v}-base`, withNode: true });
    await withSystemdBoot(built.layout, built.tag, v, path.join(work, `sdboot-${v}`));
    await exec(['umoci', 'rm', '--image', `${oci}:${v}-base`]);
  }
  // Generations: new content under the same ref, userspace only (the v3 kernel is shared).
  let prev = 'v3';
  for (const [i, g] of (withV3 ? GENERATIONS : []).entries()) {
    const layer = path.join(work, `layer-${g}`);
    mkdirSync(path.join(layer, 'usr/share/tsbootc-test'), { recursive: true });
    writeFileSync(path.join(layer, 'usr/share/tsbootc-test/generation'), `gen${i + 1}\n`);
    // umoci 0.4.7 cuts the last tar entry's padding: end the layer with an empty file.
    writeFileSync(path.join(layer, 'usr/share/tsbootc-test/zz-generation-end'), '');
    setTreeMtime(layer, 1735689600);
    await exec(['umoci', 'tag', '--image', `${oci}:${prev}`, g]);
    await exec(['umoci', 'insert', '--image', `${oci}:${g}`, '--history.created', '2025-01-01T00:00:00Z', '--history.created_by', `tsbootc: ${g}`, layer, '/']);
    prev = g;
  }
  mkdirSync(path.join(dir, 'tags'));
  for (const t of withV3 ? ['v1', 'v2', 'v3', ...GENERATIONS] : ['v1', 'v2']) writeFileSync(path.join(dir, 'tags', `${t}.json`), tagIndex(oci, t));
  mkdirSync(path.join(dir, 'current'));
  copyFileSync(path.join(oci, 'oci-layout'), path.join(dir, 'current', 'oci-layout'));
  symlinkSync('../oci/blobs', path.join(dir, 'current', 'blobs'));
  copyFileSync(path.join(dir, 'tags', 'v1.json'), path.join(dir, 'current', 'index.json'));
  return { dir, buildMs: Date.now() - started };
}

/** Installs v1 onto a new disk file; returns the install's stdout. */
export async function installV1(images: PreparedImages, disk: string): Promise<string> {
  writeFileSync(disk, '');
  truncateSync(disk, 4 * 1024 ** 3);
  const r = await runCliAsync([
    'install', 'to-disk', '--via-loopback', '--wipe', '--filesystem', 'ext4',
    '--source-imgref', `oci:${path.join(images.dir, 'oci')}:v1`,
    '--target-transport', 'oci', '--target-imgref', CURRENT_REF,
    '--karg', 'console=ttyS0', '--karg', 'panic=-1', disk,
  ]);
  if (r.status !== 0) throw new Error(`install to-disk exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The images disk of one test: images + tests + the tmt-vm runner, as an ext4 image. */
export async function makeImagesDisk(images: PreparedImages, repoRoot: string, test: { name: string; test: string }, work: string): Promise<string> {
  const stage = path.join(work, 'images-disk');
  rmSync(stage, { recursive: true, force: true });
  await exec(['cp', '-al', images.dir, stage]);
  // The guest rewrites current/index.json: give this disk its own copy, not a hard link.
  rmSync(path.join(stage, 'current', 'index.json'));
  copyFileSync(path.join(images.dir, 'current', 'index.json'), path.join(stage, 'current', 'index.json'));
  cpSync(path.join(repoRoot, 'tmt', 'tests'), path.join(stage, 'tmt', 'tests'), { recursive: true });
  mkdirSync(path.join(stage, 'tmt-vm', 'bin'), { recursive: true });
  writeFileSync(path.join(stage, 'hook.sh'), HOOK, { mode: 0o755 });
  writeFileSync(path.join(stage, 'tmt-vm', 'bin', 'tmt-reboot'), TMT_REBOOT, { mode: 0o755 });
  writeFileSync(path.join(stage, 'tmt-vm', 'test'), `${test.test}\n`);
  writeFileSync(path.join(stage, 'tmt-vm', 'name'), `${test.name}\n`);
  writeFileSync(path.join(stage, 'tmt-vm', 'reboot-count'), '0\n');
  const disk = path.join(work, 'images-disk.img');
  rmSync(disk, { force: true });
  await exec(['mkfs.ext4', '-q', '-F', '-b', '4096', '-L', 'tmt-vm', '-d', stage, disk, '1536M']);
  rmSync(stage, { recursive: true, force: true });
  return disk;
}

/** Replays the journal (a reset guest leaves one) and writes the reboot count for the next boot. */
async function writeRebootCount(disk: string, count: number, work: string): Promise<void> {
  const fsck = await execAllowFailure(['e2fsck', '-fy', disk]);
  if (fsck.exitCode !== 0 && fsck.exitCode !== 1) throw new Error(`e2fsck ${disk} exited ${fsck.exitCode}: ${fsck.stdout.toString('utf8')}`);
  const src = path.join(work, 'reboot-count');
  writeFileSync(src, `${count}\n`);
  const cmds = path.join(work, 'debugfs.cmds');
  writeFileSync(cmds, `cd tmt-vm\nrm reboot-count\nwrite ${src} reboot-count\n`);
  await exec(['debugfs', '-w', '-f', cmds, disk]);
  const back = await execText(['debugfs', '-R', 'cat tmt-vm/reboot-count', disk]);
  if (back.trim() !== String(count)) throw new Error(`debugfs wrote reboot-count ${JSON.stringify(back)}, not ${count}`);
}

export interface BootRecord {
  count: number;
  durationMs: number;
  outcome: 'reboot' | 'end' | 'timeout' | 'no-marker';
  exit?: number;
  asserts: string[];
  finalize: number[];
}

export interface TmtVmResult {
  name: string;
  passed: boolean;
  reason: string;
  boots: BootRecord[];
  durationMs: number;
  /** Serial logs of every boot, concatenated with `=== boot N ===` separators. */
  serial: string;
}

export interface RunTmtTestOptions {
  systemDisk: string;
  imagesDisk: string;
  work: string;
  /** The fmf duration as a cap on the whole test. */
  durationMs: number;
  bootTimeoutMs: number;
  maxBoots?: number;
  log?: (line: string) => void;
}

/** Boots until the test ends (TMT-VM-END), fails or runs out of time or boots. */
export async function runTmtTest(name: string, o: RunTmtTestOptions): Promise<TmtVmResult> {
  const started = Date.now();
  const vars = path.join(o.work, 'OVMF_VARS.fd');
  copyFileSync(OVMF_VARS, vars);
  const boots: BootRecord[] = [];
  let serialAll = '';
  const done = (passed: boolean, reason: string): TmtVmResult => ({ name, passed, reason, boots, durationMs: Date.now() - started, serial: serialAll });
  for (let count = 0; count < (o.maxBoots ?? 12); count++) {
    const left = o.durationMs - (Date.now() - started);
    if (left <= 0) return done(false, `over the test's duration after ${count} boots`);
    await writeRebootCount(o.imagesDisk, count, o.work);
    const serialLog = path.join(o.work, `serial-${count}.log`);
    const q = await runQemu({ serialLog, disks: [o.systemDisk, o.imagesDisk], ovmf: { code: OVMF_CODE, vars }, memoryMiB: 1536, timeoutMs: Math.min(o.bootTimeoutMs, left) });
    serialAll += `=== boot ${count} ===\n${q.serial}`;
    const markers = markerLines(q.serial, 'T');
    const asserts = markers.filter((m) => m.startsWith('TMT-VM-ASSERT: '));
    const finalize = markers.filter((m) => m.startsWith('TSBOOTC-FINALIZE: exit=')).map((m) => Number(m.slice('TSBOOTC-FINALIZE: exit='.length)));
    const end = markers.find((m) => m.startsWith('TMT-VM-END: exit='));
    const reboot = markers.some((m) => m.startsWith('TMT-VM-REBOOT: '));
    const rec: BootRecord = { count, durationMs: q.durationMs, outcome: q.timedOut ? 'timeout' : end !== undefined ? 'end' : reboot ? 'reboot' : 'no-marker', asserts, finalize };
    if (end !== undefined) rec.exit = Number(end.slice('TMT-VM-END: exit='.length));
    boots.push(rec);
    o.log?.(`tmt-vm: ${name}: boot ${count}: ${rec.outcome}${rec.exit !== undefined ? ` exit=${rec.exit}` : ''}, ${asserts.length} asserts, ${(q.durationMs / 1000).toFixed(1)} s`);
    if (finalize.some((f) => f !== 0)) return done(false, `boot ${count}: finalize at shutdown failed (${finalize.join(',')})`);
    if (rec.outcome === 'timeout') return done(false, `boot ${count} timed out after ${q.durationMs} ms`);
    if (rec.outcome === 'end') return done(rec.exit === 0, rec.exit === 0 ? 'passed' : `boot ${count}: the test exited ${rec.exit}: ${asserts.filter((a) => a.includes(': FAIL ')).join('; ')}`);
    if (rec.outcome === 'no-marker') return done(false, `boot ${count}: qemu exited (${q.exitCode ?? q.signal}) with neither TMT-VM-END nor TMT-VM-REBOOT`);
  }
  return done(false, `more than ${o.maxBoots ?? 12} boots`);
}
