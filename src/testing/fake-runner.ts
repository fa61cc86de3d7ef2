/**
 * Owns FakeRunner, the test Runner: records every argv and answers from a
 * script keyed by the exact argv; an unscripted command fails loudly.
 */
import type { Runner, RunOptions, RunResult } from '../sys/runner.js';
import { CommandFailedError } from '../sys/runner.js';

export interface FakeAnswer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
}

export class FakeRunner implements Runner {
  readonly calls: string[][] = [];
  private readonly script = new Map<string, FakeAnswer>();

  on(argv: readonly string[], answer: FakeAnswer): this {
    this.script.set(JSON.stringify(argv), answer);
    return this;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv]);
    const a = this.script.get(JSON.stringify(argv));
    if (a === undefined) throw new CommandFailedError(argv, 127, undefined, `FakeRunner: unscripted command: ${argv.join(' ')}`);
    const exitCode = a.exitCode ?? 0;
    if (exitCode !== 0 && !opts.allowFailure) throw new CommandFailedError(argv, exitCode, undefined, a.stderr ?? '');
    return { argv, exitCode, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  }
}
