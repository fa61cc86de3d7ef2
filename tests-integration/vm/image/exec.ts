/**
 * Owns how the test-image builder and the VM tests run host tools: one async
 * wrapper over node:child_process that captures output and throws with the
 * argv and the tail of stderr, so a failed build step says which tool failed.
 */
import { spawn } from 'node:child_process';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to stdin. */
  input?: Buffer | string;
  /** Kill the process (SIGKILL) after this long. */
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderrTail: string,
  ) {
    super(`${argv.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderrTail.trim()}`);
  }
}
Object.defineProperty(ExecError.prototype, 'name', { value: 'ExecError', enumerable: false });

/** Runs argv; throws ExecError unless it exits 0. */
export async function exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execAllowFailure(argv, opts);
  if (r.exitCode !== 0) throw new ExecError(argv, r.exitCode, r.stderr.slice(-2048));
  return r;
}

/** Runs argv and returns whatever happened (exit code -1 on a signal or timeout). */
export function execAllowFailure(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('exec: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), exitCode: code ?? -1 });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs argv and returns stdout as trimmed text. */
export async function execText(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  return (await exec(argv, opts)).stdout.toString('utf8').trim();
}
