/**
 * Owns the test doubles for subprocesses: a FakeRunner that records every argv
 * (tests assert on them as golden lists) and answers from rules matched by
 * argv prefix (unmatched commands succeed with no output, or fail with exit 127
 * when the runner is strict), and `fakeHost`, a Host built around it and a temp-dir Root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Host } from '../sys/host.js';
import { Root } from '../sys/root.js';
import { CommandFailedError, type RunOptions, type RunResult, type Runner } from '../sys/runner.js';
import { memoryLogger } from '../util/log.js';

export interface FakeAnswer {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
}

type Responder = FakeAnswer | ((argv: readonly string[], opts: RunOptions) => FakeAnswer | Promise<FakeAnswer>);

export interface FakeCall {
  argv: string[];
  opts: RunOptions;
}

export class FakeRunner implements Runner {
  readonly calls: FakeCall[] = [];
  private readonly rules: { prefix: readonly string[]; answer: Responder }[] = [];
  /** Strict: a command no rule matches fails as if it were not installed. */
  constructor(private readonly opts: { strict?: boolean } = {}) {}

  /** Answers commands whose argv starts with `prefix`; the newest matching rule wins. */
  on(prefix: readonly string[], answer: Responder): this {
    this.rules.unshift({ prefix, answer });
    return this;
  }

  /** The recorded argv lists, in order. */
  get argvs(): string[][] {
    return this.calls.map((c) => c.argv);
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], opts });
    const rule = this.rules.find((r) => r.prefix.length <= argv.length && r.prefix.every((p, i) => argv[i] === p));
    if (rule === undefined && this.opts.strict === true) throw new CommandFailedError(argv, 127, undefined, `FakeRunner: unscripted command: ${argv.join(' ')}`);
    const a = rule === undefined ? {} : typeof rule.answer === 'function' ? await rule.answer(argv, opts) : rule.answer;
    const exitCode = a.exitCode ?? 0;
    const stderr = a.stderr ?? '';
    if (exitCode !== 0 && !opts.allowFailure) throw new CommandFailedError(argv, exitCode, undefined, stderr);
    return { argv, exitCode, stdout: a.stdout ?? '', stderr };
  }
}

const tempDirs = new Set<string>();
let cleanupRegistered = false;

/** A temp dir removed when the test process exits. */
export function tempDirForTest(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => {
      for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** A Host whose Root is a fresh temp dir (or `rootDir`) and whose Runner is `run`. */
export function fakeHost(run: Runner, o: { rootDir?: string; isRoot?: boolean } = {}): Host & { log: ReturnType<typeof memoryLogger> } {
  const dir = o.rootDir ?? tempDirForTest('tsbootc-fake-root-');
  return {
    root: new Root(dir),
    run,
    env: {},
    now: () => new Date('2026-01-01T00:00:00Z'),
    log: memoryLogger('debug'),
    isRoot: o.isRoot ?? true,
  };
}
