/**
 * Owns what the benchmarks share: where the repository and ../shared are, the
 * machine facts printed with every result, best-of-N wall-clock timing of
 * subprocesses and in-process calls, one subprocess timed under
 * /usr/bin/time -v (wall, CPU, peak RSS), and podman (installed when missing).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, availableParallelism } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/bench/). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = path.resolve(REPO, '..', 'shared');
export const BIN = path.join(REPO, 'bin', 'tsbootc.js');

export function machineFacts(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const load = spawnSync('cat', ['/proc/loadavg']).stdout?.toString().trim().split(' ').slice(0, 3).join(' ') ?? '?';
  return `date ${new Date().toISOString()}, nproc ${availableParallelism()}, ${cpu}, node ${process.version}, loadavg ${load}`;
}

/**
 * CPU seconds (user + system) used by this process's waited-for children so far,
 * from /proc/self/stat (cutime + cstime, in clock ticks of 1/100 s). On a busy
 * shared machine this is steadier than wall time.
 */
export function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is index 0, so cutime (field 16) is index 13.
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** Runs argv `n` times; returns the best wall and CPU times in seconds and the last stdout. */
export function bestOfProcess(n: number, argv: string[]): { best: number; bestCpu: number; times: number[]; stdout: Buffer } {
  const times: number[] = [];
  const cpu: number[] = [];
  let stdout = Buffer.alloc(0);
  for (let i = 0; i < n; i++) {
    const c0 = childCpuSeconds();
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0]!, argv.slice(1), { maxBuffer: 1 << 30 });
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr?.toString()}`);
    times.push(dt);
    cpu.push(childCpuSeconds() - c0);
    stdout = r.stdout;
  }
  return { best: Math.min(...times), bestCpu: Math.min(...cpu), times, stdout };
}

/**
 * Runs an async function `n` times; the best wall time and the best CPU time
 * (this process, all threads) in seconds, and its last result.
 */
export async function bestOf<T>(n: number, fn: () => Promise<T>): Promise<{ best: number; bestCpu: number; times: number[]; value: T }> {
  const times: number[] = [];
  const cpu: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    value = await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  return { best: Math.min(...times), bestCpu: Math.min(...cpu), times, value: value as T };
}

export function fmt(s: number): string {
  return s.toFixed(3);
}

/** True when `cmd` can be run (`--version` exits 0). */
export function haveCommand(cmd: string): boolean {
  return spawnSync(cmd, ['--version']).status === 0;
}

export interface Timing {
  best: number;
  bestCpu: number;
  times: number[];
}

/** Best-of-N for two contenders run alternately (A, B, A, B, …), so load swings hit both alike. */
export async function interleaved<A extends Timing, B extends Timing>(n: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  const ra: A[] = [];
  const rb: B[] = [];
  for (let i = 0; i < n; i++) {
    ra.push(await a());
    rb.push(await b());
  }
  const merge = <T extends Timing>(rs: T[]): T => ({
    ...rs[rs.length - 1]!,
    best: Math.min(...rs.map((r) => r.best)),
    bestCpu: Math.min(...rs.map((r) => r.bestCpu)),
    times: rs.map((r) => r.times[0]!),
  });
  return [merge(ra), merge(rb)];
}

/** One run of a command under /usr/bin/time -v. */
export interface Timed {
  name: string;
  wallSec: number;
  /** User + system time of the command and every child it waited for. */
  cpuSec: number;
  /** Peak RSS of the largest single process. */
  maxRssMiB: number;
}

/** Runs argv under /usr/bin/time -v; a non-zero exit throws with the end of its stderr. */
export function timed(name: string, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Timed {
  const r = spawnSync('/usr/bin/time', ['-v', ...argv], { encoding: 'utf8', maxBuffer: 1 << 26, ...(opts.env !== undefined ? { env: opts.env } : {}) });
  if (r.status !== 0) throw new Error(`${name}: exit ${r.status}: ${r.stderr.slice(-2000)}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const user = /User time \(seconds\): ([\d.]+)/.exec(r.stderr);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(r.stderr);
  if (wall === null || rss === null || user === null || sys === null) throw new Error(`${name}: cannot parse /usr/bin/time output`);
  const wallSec = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  return { name, wallSec, cpuSec: Number(user[1]) + Number(sys[1]), maxRssMiB: Number(rss[1]) / 1024 };
}

/** Runs a command to completion; its exit status and stdout + stderr. */
export function runCmd(cmd: string, args: string[], opts: { input?: string } = {}): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/**
 * podman, installed with apt-get when missing and we are root (the benchmarks
 * only: scripts/setup.sh does not). Returns why podman cannot run, or undefined.
 */
export function ensurePodman(): string | undefined {
  if (runCmd('podman', ['--version']).status === 0) return undefined;
  if (process.getuid?.() !== 0) return 'podman is not installed and installing it needs root';
  console.error('bench: podman missing: apt-get install -y podman');
  let r = runCmd('apt-get', ['install', '-y', '--no-install-recommends', 'podman']);
  if (r.status !== 0) {
    runCmd('apt-get', ['update']);
    r = runCmd('apt-get', ['install', '-y', '--no-install-recommends', 'podman']);
  }
  const installed = [...r.out.matchAll(/^Setting up (\S+)/gm)].map((m) => m[1]!);
  console.log(`bench: apt-get install podman: exit ${r.status}; installed ${installed.length} packages: ${installed.join(', ')}\n`);
  if (r.status !== 0) return `apt-get install podman failed: ${r.out.slice(-500)}`;
  return runCmd('podman', ['--version']).status === 0 ? undefined : 'podman still does not run after apt-get install';
}

/** The median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The 1, 5 and 15 minute load averages and the runnable/total task counts, as /proc/loadavg gives them. */
export function loadNow(): string {
  return readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 4).join(' ');
}

/** podman's global flags for a private store under `store` (root, runroot) with `driver`. */
export function podmanGlobal(store: string, driver: string): string[] {
  return ['podman', '--root', path.join(store, 'root'), '--runroot', path.join(store, 'run'), '--storage-driver', driver, '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
}

/** Removes a private podman store: `podman system reset` (unmounts its layers), then the directory. */
export function removePodmanStore(store: string, driver: string): void {
  runCmd(podmanGlobal(store, driver)[0]!, [...podmanGlobal(store, driver).slice(1), 'system', 'reset', '--force']);
  rmSync(store, { recursive: true, force: true });
}

/** Pushes `oci:LAYOUT:latest` to `ref` (a plain-HTTP registry) with skopeo; returns the seconds it took. */
export function pushToRegistry(layout: string, ref: string): number {
  const t0 = Date.now();
  const push = runCmd('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${ref}`]);
  if (push.status !== 0) throw new Error(`skopeo copy to the registry failed: ${push.out.slice(-1000)}`);
  return (Date.now() - t0) / 1000;
}

/** The markdown rows of a side-by-side run: each run, then the medians and tsbootc/peer ratios. */
export function sideBySideTable(tsbootc: Timed[], peer: Timed[], peerName: string): string {
  if (tsbootc.length === 0 || peer.length === 0) return '(no timed runs: TSBOOTC_BENCH_RUNS=0)';
  const f = (x: number, d = 1) => x.toFixed(d);
  const lines = ['| run | wall (s) | CPU user+sys (s) | peak RSS (MiB) |', '|---|---:|---:|---:|'];
  for (const r of [...tsbootc, ...peer]) lines.push(`| ${r.name} | ${f(r.wallSec)} | ${f(r.cpuSec)} | ${f(r.maxRssMiB, 0)} |`);
  const med = (rs: Timed[]) => ({ wall: median(rs.map((r) => r.wallSec)), cpu: median(rs.map((r) => r.cpuSec)), rss: median(rs.map((r) => r.maxRssMiB)) });
  const a = med(tsbootc);
  const b = med(peer);
  lines.push(
    '',
    `| median of ${tsbootc.length} / ${peer.length} runs | wall (s) | CPU user+sys (s) | peak RSS (MiB) |`,
    '|---|---:|---:|---:|',
    `| tsbootc | ${f(a.wall)} | ${f(a.cpu)} | ${f(a.rss, 0)} |`,
    `| ${peerName} | ${f(b.wall)} | ${f(b.cpu)} | ${f(b.rss, 0)} |`,
    `| ratio tsbootc / ${peerName} | ${f(a.wall / b.wall, 2)} | ${f(a.cpu / b.cpu, 2)} | ${f(a.rss / b.rss, 2)} |`,
  );
  return lines.join('\n');
}

/**
 * TSBOOTC_BENCH_PROFILE=DIR: one extra, untimed run of argv (which should
 * carry node's `--cpu-prof --cpu-prof-dir DIR` and tsbootc's `-v`): its
 * stderr lines go to DIR/phases.log, each prefixed with the seconds since
 * the start, so the debug log shows where the wall time goes.
 */
export async function profiledRun(argv: string[], dir: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const { mkdirSync, createWriteStream } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const log = createWriteStream(path.join(dir, 'phases.log'));
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  createInterface({ input: child.stderr }).on('line', (l) => log.write(`${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3).padStart(8)} ${l}\n`));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  log.write(`${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3).padStart(8)} exit ${code}\n`);
  await new Promise((r) => log.end(r));
  console.error(`bench: profiled run: exit ${code}; ${path.join(dir, 'phases.log')} and the .cpuprofile files in ${dir}`);
}
