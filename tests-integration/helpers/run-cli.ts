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
export function runCliAsync(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TSBOOTC_LOG: '', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ status: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}
