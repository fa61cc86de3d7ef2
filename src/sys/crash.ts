/**
 * Owns the side of fault injection: the crash hook built from the
 * environment. `TSBOOTC_CRASH_AT=<name>` (or `<name>:<n>` for the n-th hit)
 * makes the process die at that crash point as a power cut would look to the
 * disk: SIGKILL, no cleanup, no `finally`. `TSBOOTC_CRASH_TRACE=<file>`
 * appends the name of every crash point reached (the test uses it to find
 * the points a verb passes). Without either variable there is no hook.
 * `TSBOOTC_TEST_NO_RENAME_EXCHANGE=1` makes the Root refuse
 * renameat2(RENAME_EXCHANGE) with EINVAL, as FAT does, so the roll-forward
 * sequence of boot/exchange.ts can be crash-tested on any filesystem.
 * `TSBOOTC_PAUSE_AT=<name>` with `TSBOOTC_PAUSE_FILE=<file>` writes the pid
 * to the file at that point and blocks until the file is removed (the lock
 * tests hold a verb mid-way with it).
 */
import * as fs from 'node:fs';
import { isCrashPointName, type CrashHook } from '../util/crash-point.js';
import { UsageError } from '../util/errors.js';
import { SyscallError } from './libc.js';
import { Root } from './root.js';

/** A Root on a filesystem without RENAME_EXCHANGE (FAT). */
class NoExchangeRoot extends Root {
  override exchange(a: string, b: string): void {
    throw new SyscallError('renameat2', `${a} ${b}`, 22);
  }
}

export function rootFromEnv(dir: string, env: Readonly<Record<string, string | undefined>>): Root {
  return env['TSBOOTC_TEST_NO_RENAME_EXCHANGE'] === '1' ? new NoExchangeRoot(dir) : new Root(dir);
}

/** Blocks the whole process (on purpose: nothing else may run) until `file` is gone. */
function pause(file: string): void {
  fs.writeFileSync(file, `${process.pid}\n`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (fs.existsSync(file)) Atomics.wait(cell, 0, 0, 20);
}

export function crashHookFromEnv(env: Readonly<Record<string, string | undefined>>): CrashHook | undefined {
  const at = env['TSBOOTC_CRASH_AT'];
  const trace = env['TSBOOTC_CRASH_TRACE'];
  const pauseAt = env['TSBOOTC_PAUSE_AT'];
  const pauseFile = env['TSBOOTC_PAUSE_FILE'];
  if (!at && !trace && !(pauseAt && pauseFile)) return undefined;
  let target: string | undefined;
  let nth = 1;
  if (at !== undefined && at !== '') {
    const m = /^(.+?)(?::(\d+))?$/.exec(at);
    if (m === null || !isCrashPointName(m[1]!)) throw new UsageError(`TSBOOTC_CRASH_AT=${at}: no such crash point (see \`tsbootc internals crash-points\`)`);
    target = m[1]!;
    nth = m[2] === undefined ? 1 : Number(m[2]);
  }
  let hits = 0;
  let paused = false;
  return (name) => {
    if (trace !== undefined && trace !== '') fs.appendFileSync(trace, `${name}\n`);
    if (name === pauseAt && pauseFile && !paused) {
      paused = true;
      pause(pauseFile);
    }
    if (name !== target || ++hits < nth) return;
    process.kill(process.pid, 'SIGKILL');
  };
}
