/**
 * Runs the built CLI (bin/tsbootc.js) as a subprocess, the way users do.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = path.join(REPO_ROOT, 'bin', 'tsbootc.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  /** What the CLI wrote to descriptor 3 (runCliAsync with `fd3: true`). */
  fd3?: string;
}

export function runCli(args: string[], opts: { env?: Record<string, string>; input?: string | Buffer; argv0Path?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [opts.argv0Path ?? BIN, ...args], {
    input: opts.input ?? '',
    env: { ...process.env, TSBOOTC_LOG: '', ...opts.env },
    maxBuffer: 1 << 30,
  });
  return { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), stdoutBytes: r.stdout };
}

export function tempDir(prefix = 'tsbootc-it-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** The shared/ folder beside the repository, where conformance assets live. */
export const SHARED = path.resolve(REPO_ROOT, '..', 'shared');

/**
 * runCli without blocking the event loop: needed when the test process itself
 * serves something the CLI talks to (the registry relay of helpers/registry.ts).
 */
export function runCliAsync(args: string[], opts: { env?: Record<string, string>; fd3?: boolean } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const stdio: Array<'ignore' | 'pipe'> = opts.fd3 === true ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TSBOOTC_LOG: '', ...opts.env }, stdio });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const fd3: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (opts.fd3 === true) (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => fd3.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      const r: CliResult = { status: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes };
      if (opts.fd3 === true) r.fd3 = Buffer.concat(fd3).toString('utf8');
      resolve(r);
    });
  });
}
