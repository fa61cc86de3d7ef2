/**
 * Owns the Host the in-process integration tests hand to library code: a
 * real ExecaRunner, a Root at a temp dir, a memory logger whose lines the test
 * can assert on, and an injectable clock.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Host } from '../../src/sys/host.js';
import { Root } from '../../src/sys/root.js';
import { ExecaRunner } from '../../src/sys/runner.js';
import { memoryLogger } from '../../src/util/log.js';

export interface TestHost extends Host {
  log: ReturnType<typeof memoryLogger>;
}

export function testHost(rootDir: string, opts: { env?: Record<string, string>; now?: () => Date } = {}): TestHost {
  const log = memoryLogger('debug');
  return { root: new Root(rootDir), run: new ExecaRunner(log), env: opts.env ?? {}, now: opts.now ?? (() => new Date()), log, isRoot: true };
}

/** Writes `content` at host path `hostPath` under `rootDir`. */
export function writeUnder(rootDir: string, hostPath: string, content: string): string {
  const p = path.join(rootDir, hostPath);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}
