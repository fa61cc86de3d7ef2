/**
 * Owns the Host: the bundle of side-effect capabilities (the Root for host
 * paths, the Runner for subprocesses, the environment, a clock, a logger)
 * that every verb receives as its first argument.
 */
import type { CrashHook } from '../util/crash-point.js';
import type { Logger } from '../util/log.js';
import { crashHookFromEnv, rootFromEnv } from './crash.js';
import type { Root } from './root.js';
import { ExecaRunner, type Runner } from './runner.js';

export interface Host {
  root: Root;
  run: Runner;
  env: Readonly<Record<string, string | undefined>>;
  now: () => Date;
  log: Logger;
  /** True when the process runs as uid 0. */
  isRoot: boolean;
  /** Fault injection (util/crash-point.ts); absent in normal runs. */
  crash?: CrashHook | undefined;
}

export interface RealHostOptions {
  rootDir: string;
  env: Record<string, string | undefined>;
  log: Logger;
  uid: number;
}

/** Builds the Host the CLI uses. Only cli/main calls this. */
export function realHost(opts: RealHostOptions): Host {
  return {
    root: rootFromEnv(opts.rootDir, opts.env),
    run: new ExecaRunner(opts.log),
    env: opts.env,
    now: () => new Date(),
    log: opts.log,
    isRoot: opts.uid === 0,
    crash: crashHookFromEnv(opts.env),
  };
}
