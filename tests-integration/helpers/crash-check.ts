/**
 * Owns the invariants the fault-injection test checks on a host after a
 * crash (tests-integration/cli/crash-points.test.ts): every live boot entry
 * (the default first) names a complete deployment — kernel and initrd (or
 * UKI) present, state dir with /etc and origin, its EROFS image and every
 * object it references in the repository, its manifest stream present; the
 * repository's fsck finds nothing but garbage of non-live images and
 * streams; and a normalized tree snapshot to compare end states.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { Repository } from '../../src/composefs/repository/index.js';
import { realRepoSyscalls } from '../../src/sys/repo-syscalls.js';
import { libzstdCodec } from '../../src/sys/zstd.js';
import { listEntries, openBootState } from '../../src/deploy/boot-state.js';
import { readOrigin, readStagedMarker } from '../../src/deploy/deployments.js';
import { openStoredImage } from '../../src/composefs/oci/stored.js';
import { testHost } from './host.js';
import { snapshotTree } from './os-image.js';
import { BIN } from './run-cli.js';
import { main } from '../../src/cli/main.js';
import * as C from '../../src/deploy/constants.js';

export interface Spawned {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI without blocking (cases run side by side), optionally under `wrapper` (setpriv …). */
export function spawnCli(args: string[], env: Record<string, string> = {}, wrapper: readonly string[] = []): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const argv = [...wrapper, process.execPath, BIN, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, TSBOOTC_LOG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/**
 * Runs the CLI in this process (main() with a stand-in process): a fresh
 * node costs about a second here, and only the crash itself needs its own
 * process. Cases on different host trees do not share any state.
 */
export async function cliInProcess(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (a: string[]) => ({ write: (d: string | Uint8Array) => a.push(typeof d === 'string' ? d : Buffer.from(d).toString('utf8')) > 0, isTTY: false });
  const proc = { argv: [process.execPath, BIN, ...args], env: { ...process.env, TSBOOTC_LOG: '', ...env }, stdout: sink(out), stderr: sink(err), exitCode: undefined as number | undefined, getuid: () => process.getuid?.() ?? -1 };
  await main(proc as unknown as NodeJS.Process);
  return { status: proc.exitCode ?? 0, signal: null, stdout: out.join(''), stderr: err.join('') };
}

async function openRepo(dir: string): Promise<Repository> {
  return Repository.open(`${dir}/sysroot/composefs`, { sys: realRepoSyscalls(), zstd: libzstdCodec() });
}

/** Problems that would keep the host from booting its entries; [] when fine. */
export async function bootProblems(dir: string): Promise<{ problems: string[]; live: string[] }> {
  const problems: string[] = [];
  const st = await openBootState(testHost(dir));
  if (st === undefined) return { problems: ['not booted'], live: [] };
  const entries = await listEntries(st, { strict: true });
  const ours = entries.live.filter((e) => e.target.verity !== undefined);
  if (ours.length === 0) problems.push('no boot entry names a deployment');
  const marker = await readStagedMarker(st.host.root);
  const live = [...new Set([...ours.map((e) => e.target.verity!), ...(marker ? [marker.deplId] : [])])];
  const repo = await openRepo(dir);
  try {
    for (const e of ours) {
      const v = e.target.verity!;
      // Type1 paths are relative to the ESP (systemd-boot) or to the root filesystem holding /boot (GRUB); UKIs live on the ESP.
      const type1Base = st.bootloader === 'grub' ? C.SYSROOT : await st.esp();
      for (const f of [e.bls?.linux, ...(e.bls?.initrd ?? [])]) {
        if (f !== undefined && !fs.existsSync(st.host.root.resolve(`${type1Base}${f}`))) problems.push(`${e.file}: ${f} missing`);
      }
      if (e.bls?.efi !== undefined && !fs.existsSync(st.host.root.resolve(`${await st.esp()}${e.bls.efi}`))) problems.push(`${e.file}: ${e.bls.efi} missing`);
      if (e.menu !== undefined && !fs.existsSync(st.host.root.resolve(`${await st.esp()}/${C.BOOTC_UKI_DIR}/${C.ARTIFACT_PREFIX}${v}${C.UKI_EXT}`))) problems.push(`${e.file}: the UKI of ${v} missing`);
      if (!fs.existsSync(st.sysroot.resolve(`state/deploy/${v}/etc`))) problems.push(`${v}: state dir /etc missing`);
      const origin = await readOrigin(st.sysroot, v).catch(() => undefined);
      if (origin?.manifestDigest === undefined) problems.push(`${v}: origin missing`);
      else if ((await openStoredImage(repo, origin.manifestDigest).catch(() => undefined)) === undefined) problems.push(`${v}: manifest or config stream missing`);
      if (!(await repo.listImages()).includes(v)) problems.push(`${v}: image missing from the repository`);
      else for (const o of await repo.objectsForImage(v)) if (!(await repo.hasObject(o))) problems.push(`${v}: object ${o} missing`);
    }
    if (marker !== undefined) {
      if (!(await st.sysroot.exists(`state/deploy/${marker.deplId}/${marker.deplId}.origin`))) problems.push(`staged ${marker.deplId}: origin missing`);
      // Staged (entries.staged names it) or already finalized (a live entry names it).
      if (![...entries.staged, ...ours].some((e) => e.target.verity === marker.deplId)) problems.push(`staged ${marker.deplId}: neither a staged nor a live entry`);
    }
  } finally {
    repo.close();
  }
  return { problems, live };
}

const GARBAGE_KINDS = new Set(['missing-named-ref', 'broken-symlink', 'missing-object-ref', 'image-missing-object', 'stream-open-failed', 'image-open-failed']);

/** fsck errors that are not garbage of non-live images/streams. */
export async function fsckProblems(dir: string, live: readonly string[]): Promise<string[]> {
  const repo = await openRepo(dir);
  try {
    const r = await repo.fsck();
    return r.errors.filter((e) => !GARBAGE_KINDS.has(e.type) || live.some((v) => e.message.includes(v))).map((e) => e.message);
  } finally {
    repo.close();
  }
}

/** The host tree minus the fake /proc and /sys and the (empty-able) object fan-out dirs. */
export function hostSnapshot(dir: string): string[] {
  return snapshotTree(dir).filter((l) => !/^(proc|sys)\//.test(l) && !/^sysroot\/composefs\/objects\/[0-9a-f]{2}\/ /.test(l));
}
