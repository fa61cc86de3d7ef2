/**
 * Owns what the benchmarks share: where the repository and ../shared are, the
 * machine facts printed with every result, and best-of-N wall-clock timing of
 * subprocesses and in-process calls.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
