/**
 * Runs the built CLI (bin/tsbootc.js) as a subprocess, the way users do.
 */
import { spawnSync } from 'node:child_process';
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
