/**
 * Owns running the CLI's own `main()` in this process with a fake process
 * object, for the fuzz loops: the same argv parsing, dispatch, verbs, output
 * and error rendering as bin/tsbootc.js, without a Node start-up per case
 * (hundreds of cases would not fit the time budget as subprocesses). The
 * subprocess-level limits (memory, timeout) are checked on a sample of the
 * same cases through lib.ts's `cli`.
 */
import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface InProcResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `tsbootc ARGS` in-process; rejects if it takes longer than `timeoutMs`. */
export async function runInProcess(args: string[], timeoutMs = 20_000): Promise<InProcResult> {
  const out: Buffer[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  const proc = {
    argv: [process.execPath, '/tsbootc/bin/tsbootc.js', ...args],
    env: { ...process.env, TSBOOTC_LOG: '' },
    stdout: Object.assign(stdout, { isTTY: false }),
    stderr: { write: (s: string | Uint8Array) => void err.push(typeof s === 'string' ? s : Buffer.from(s).toString('utf8')) },
    exitCode: undefined as number | undefined,
    getuid: () => 0,
  };
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    main(proc as unknown as NodeJS.Process),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`tsbootc ${args.join(' ')} did not finish within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  await new Promise<void>((r) => setImmediate(r));
  return { status: proc.exitCode ?? 0, stdout: Buffer.concat(out).toString('utf8'), stderr: err.join('') };
}

/** V8's own messages: an error that reached the user from a bug, not from a check. */
const INTERNAL = /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|Cannot convert|Invalid array length|Maximum call stack|Invalid string length|out of memory|\bundefined\b|\bNaN\b/;

/**
 * A clean outcome: exit 0 with only `warning:` lines on stderr (a degraded
 * result), or exit 1 with nothing on stdout and one `error:` line (plus an
 * optional `hint:` line); never an internal error message.
 */
export function assertClean(r: InProcResult, what: string): 'ok' | 'degraded' | 'error' {
  assert.doesNotMatch(r.stderr, INTERNAL, `${what}: an internal error reached the user:\n${r.stderr.slice(0, 1000)}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: a stack trace:\n${r.stderr.slice(0, 1000)}`);
  if (r.status === 0) {
    for (const line of r.stderr.split('\n').filter((l) => l !== '')) assert.match(line, /^warning: /, `${what}: stderr of a successful run`);
    return r.stderr === '' ? 'ok' : 'degraded';
  }
  assert.equal(r.status, 1, `${what}: exit ${r.status}: ${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: stdout of a failed run`);
  assert.match(r.stderr, /^error: [^\n]+\n(hint: [^\n]+\n)?$/, `${what}: not one error line`);
  return 'error';
}
