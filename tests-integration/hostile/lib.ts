/**
 * Owns the harness of the hostile-input corpus: running the built CLI under a
 * measured memory limit and a timeout, asserting one-line errors, tree
 * snapshots for "nothing else changed", the host scan for device nodes and
 * setuid files, and a seeded PRNG for the fuzz cases.
 *
 * Limits (also in README.md): every subprocess runs as
 * `/usr/bin/time -f %M timeout -s KILL 60 node --max-old-space-size=256 bin/tsbootc.js …`;
 * its peak RSS must stay at or under 512 MiB, it must not be killed by the
 * timeout, and its stderr must never hold a JavaScript stack trace.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, tempDir } from '../helpers/run-cli.js';
import { toolMissing } from '../helpers/tools.js';

/** V8 old-space limit given to every subprocess (MiB). */
export const HEAP_LIMIT_MB = 256;
/** Peak resident set size allowed to every subprocess (KiB, as GNU time reports it). */
export const RSS_LIMIT_KB = 512 * 1024;
/** Wall-clock limit of one subprocess (s); past it the process is killed and the case fails. */
export const TIMEOUT_S = 60;

/** Why the hostile tests cannot run here, or undefined. */
export const skipReason: string | undefined = toolMissing(['/usr/bin/time', 'timeout']);
if (skipReason !== undefined) console.log(`# skipping hostile tests: ${skipReason}`);

export interface BoundedResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  /** Peak RSS in KiB. */
  rssKb: number;
}

/** Largest peak RSS seen in this process, for the summary line. */
export const peak = { rssKb: 0, what: '' };

/**
 * Runs the CLI under the limits and asserts them: not killed by the timeout,
 * peak RSS ≤ RSS_LIMIT_KB, no JavaScript stack in stderr. TMPDIR points at a
 * fresh directory that must be empty afterwards.
 */
export function cli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): BoundedResult {
  const scratch = tempDir('tsbootc-hostile-run-');
  const tmp = path.join(scratch, 'tmp');
  fs.mkdirSync(tmp);
  const rssFile = path.join(scratch, 'rss');
  const started = Date.now();
  try {
    const r = spawnSync('/usr/bin/time', ['-o', rssFile, '-f', '%M', 'timeout', '-s', 'KILL', String(TIMEOUT_S), process.execPath, `--max-old-space-size=${HEAP_LIMIT_MB}`, BIN, ...args], {
      env: { ...process.env, TSBOOTC_LOG: '', TMPDIR: tmp, ...opts.env },
      cwd: opts.cwd ?? scratch,
      maxBuffer: 1 << 30,
    });
    const lines = fs.readFileSync(rssFile, 'utf8').trim().split('\n');
    const rssKb = Number(lines[lines.length - 1]);
    const res: BoundedResult = { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), stdoutBytes: r.stdout, rssKb };
    const what = args.join(' ').slice(0, 200);
    assert.notEqual(res.status, 137, `killed after ${TIMEOUT_S} s (or by the kernel): ${what}`);
    assert.ok(Number.isFinite(rssKb) && rssKb > 0, `no RSS measured for ${what}: ${lines.join(' | ')}`);
    assert.ok(rssKb <= RSS_LIMIT_KB, `peak RSS ${rssKb} KiB > ${RSS_LIMIT_KB} KiB: ${what}`);
    assert.doesNotMatch(res.stderr, /^\s+at .+:\d+:\d+\)?$/m, `a JavaScript stack trace in stderr of ${what}:\n${res.stderr.slice(0, 2000)}`);
    assert.doesNotMatch(res.stderr, /\b(TypeError|RangeError|ReferenceError|Maximum call stack|Cannot read properties|is not a function|FATAL ERROR)\b/, `an internal error in stderr of ${what}:\n${res.stderr.slice(0, 2000)}`);
    assert.deepEqual(fs.readdirSync(tmp), [], `${what} left files in TMPDIR`);
    if (rssKb > peak.rssKb) Object.assign(peak, { rssKb, what });
    if (process.env['TSBOOTC_HOSTILE_TRACE'] === '1') console.log(`# ${Date.now() - started} ms, ${rssKb} KiB: ${what.slice(0, 120)}`);
    return res;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Asserts exit 1, nothing on stdout and exactly `error: <message>\n` on stderr. */
export function assertError(r: BoundedResult, message: string | RegExp): void {
  assert.equal(r.stdout, '', 'stdout of a failing command');
  if (typeof message === 'string') assert.equal(r.stderr, `error: ${message}\n`);
  else {
    assert.match(r.stderr, message);
    assert.equal(r.stderr.split('\n').length, 2, `more than one line: ${r.stderr}`);
  }
  assert.equal(r.status, 1, r.stderr);
}

/**
 * Every path under `dir` (relative, sorted) with its type, mode, size and, for
 * small regular files, a content digest; symlinks with their target.
 */
export function snapshot(dir: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (skip(r)) continue;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${r}/ ${mode}`);
        walk(r);
      } else if (st.isFile()) out.push(`${r} ${mode} ${st.size} ${st.size <= 1 << 20 ? fs.readFileSync(p).toString('base64').slice(0, 64) : ''}`);
      else out.push(`${r} special ${st.mode.toString(8)}`);
    }
  };
  walk('');
  return out;
}

/** Paths under `dir` that are device nodes, fifos or sockets, or files with the setuid/setgid bit. */
export function specialFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    for (const name of fs.readdirSync(p)) {
      const q = path.join(p, name);
      const st = fs.lstatSync(q);
      if (st.isDirectory()) walk(q);
      else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO() || st.isSocket()) out.push(`${q} (type ${(st.mode >> 12).toString(8)})`);
      else if (st.isFile() && (st.mode & 0o6000) !== 0) out.push(`${q} (mode ${(st.mode & 0o7777).toString(8)})`);
    }
  };
  walk(dir);
  return out;
}

/** mulberry32: a tiny seeded PRNG, so a failing fuzz case reproduces from its seed. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T; bytes(n: number): Buffer } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]!, bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))) };
}

/** Counts cases per category for the summary line each file prints. */
export class Tally {
  private readonly counts = new Map<string, number>();
  add(category: string, n = 1): void {
    this.counts.set(category, (this.counts.get(category) ?? 0) + n);
  }
  print(file: string): void {
    const parts = [...this.counts].map(([k, v]) => `${k} ${v}`);
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    console.log(`# hostile ${file}: ${total} cases (${parts.join(', ')}); peak RSS ${peak.rssKb} KiB (limit ${RSS_LIMIT_KB} KiB) in: ${peak.what}`);
  }
}
