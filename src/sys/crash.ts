/**
 * Owns the side of fault injection: the crash hook built from the
 * environment. `TSBOOTC_CRASH_AT=<name>` (or `<name>:<n>` for the n-th hit)
 * makes the process die at that crash point as a power cut would look to the
 * disk: SIGKILL, no cleanup, no `finally`. `TSBOOTC_CRASH_TRACE=<file>`
 * appends the name of every crash point reached (the test uses it to find
 * the points a verb passes). Without either variable there is no hook.
 */
import * as fs from 'node:fs';
import { isCrashPointName, type CrashHook } from '../util/crash-point.js';
import { UsageError } from '../util/errors.js';

export function crashHookFromEnv(env: Readonly<Record<string, string | undefined>>): CrashHook | undefined {
  const at = env['TSBOOTC_CRASH_AT'];
  const trace = env['TSBOOTC_CRASH_TRACE'];
  if ((at === undefined || at === '') && (trace === undefined || trace === '')) return undefined;
  let target: string | undefined;
  let nth = 1;
  if (at !== undefined && at !== '') {
    const m = /^([^:]+)(?::(\d+))?$/.exec(at);
    if (m === null || !isCrashPointName(m[1]!)) throw new UsageError(`TSBOOTC_CRASH_AT=${at}: no such crash point (see \`tsbootc internals crash-points\`)`);
    target = m[1]!;
    nth = m[2] === undefined ? 1 : Number(m[2]);
  }
  let hits = 0;
  return (name) => {
    if (trace !== undefined && trace !== '') fs.appendFileSync(trace, `${name}\n`);
    if (name !== target || ++hits < nth) return;
    process.kill(process.pid, 'SIGKILL');
  };
}
