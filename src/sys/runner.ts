/**
 * Owns subprocesses. Every child process tsbootc starts goes through a Runner;
 * the real one wraps execa, tests substitute a FakeRunner. Failures carry the
 * argv and the tail of stderr.
 */
import type { Logger } from '../util/log.js';
import { TsbootcError } from '../util/errors.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Uint8Array;
  /** Do not throw on a non-zero exit; return it. */
  allowFailure?: boolean;
  /** Inherit stdio (interactive tools); stdout/stderr come back empty. */
  inherit?: boolean;
  timeoutMs?: number;
  /** Return stdout as bytes instead of text. */
  binary?: boolean;
}

export interface RunResult {
  argv: readonly string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutBytes?: Buffer;
}

export interface Runner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

const STDERR_TAIL = 1024;

export class CommandFailedError extends TsbootcError {
  readonly argv: readonly string[];
  readonly commandExitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderrTail: string;
  constructor(argv: readonly string[], exitCode: number | undefined, signal: string | undefined, stderr: string) {
    const tail = stderr.length > STDERR_TAIL ? stderr.slice(-STDERR_TAIL) : stderr;
    const how = signal !== undefined ? `killed by ${signal}` : `exit status ${exitCode ?? '?'}`;
    const detail = tail.trim().length > 0 ? `: ${tail.trim()}` : '';
    super(`${argv[0] ?? '?'} failed (${how})${detail}`, { code: 'ERR_COMMAND_FAILED' });
    this.argv = argv;
    this.commandExitCode = exitCode;
    this.signal = signal;
    this.stderrTail = tail;
  }
}
Object.defineProperty(CommandFailedError.prototype, 'name', { value: 'CommandFailedError', enumerable: false });

/** The real Runner. execa is loaded lazily: most verbs never spawn anything. */
export class ExecaRunner implements Runner {
  constructor(private readonly log: Logger) {}

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    if (file === undefined) throw new TsbootcError('empty command line');
    this.log.debug(opts.cwd !== undefined ? { kind: 'exec', argv, cwd: opts.cwd } : { kind: 'exec', argv });
    const { execa } = await import('execa');
    const r = await execa(file, args, {
      reject: false,
      stdin: opts.input !== undefined ? undefined : opts.inherit ? 'inherit' : 'ignore',
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      stdout: opts.inherit ? 'inherit' : 'pipe',
      stderr: opts.inherit ? 'inherit' : 'pipe',
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.env !== undefined ? { env: opts.env, extendEnv: true } : {}),
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
      encoding: opts.binary ? 'buffer' : 'utf8',
      stripFinalNewline: false,
    });
    const stdoutBytes = opts.binary ? Buffer.from(r.stdout as unknown as Uint8Array) : undefined;
    const stdout = opts.binary ? '' : (r.stdout as unknown as string | undefined) ?? '';
    const stderrRaw = r.stderr as unknown;
    const stderr = typeof stderrRaw === 'string' ? stderrRaw : stderrRaw instanceof Uint8Array ? Buffer.from(stderrRaw).toString('utf8') : '';
    if (r.failed && r.exitCode === undefined) {
      if (r.signal === undefined) {
        throw new TsbootcError(`running ${file}`, { cause: r.cause ?? new Error(r.shortMessage), code: 'ERR_COMMAND_FAILED' });
      }
    }
    const exitCode = r.exitCode ?? 128;
    if ((exitCode !== 0 || r.signal !== undefined) && !opts.allowFailure) {
      throw new CommandFailedError(argv, r.exitCode, r.signal, stderr);
    }
    const res: RunResult = { argv, exitCode, stdout, stderr };
    if (stdoutBytes !== undefined) res.stdoutBytes = stdoutBytes;
    return res;
  }
}
