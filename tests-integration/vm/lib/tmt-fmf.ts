/**
 * Owns reading the tmt metadata of the booted tests (tmt/tests/*.fmf) for the
 * VM driver and the metadata check: each `/name` node of a tests file with
 * its summary, test command, duration and tags, as plain values. Only the
 * subset of fmf the project writes is understood (no inheritance, no `+` keys).
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

export interface TmtTest {
  /** The node name without the leading slash, e.g. test-01-status. */
  name: string;
  /** The fmf file it comes from, relative to the repository. */
  file: string;
  summary: unknown;
  test: unknown;
  duration: unknown;
  tag: unknown;
  /** Every key of the node, for the metadata check. */
  keys: string[];
}

export const TMT_TESTS_DIR = 'tmt/tests';

/** The tests of every tmt/tests/*.fmf, in file then node order. */
export function readTmtTests(repoRoot: string): TmtTest[] {
  const dir = path.join(repoRoot, TMT_TESTS_DIR);
  const out: TmtTest[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.fmf')).sort()) {
    const doc = parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown> | null;
    for (const [key, value] of Object.entries(doc ?? {})) {
      if (!key.startsWith('/')) throw new Error(`${TMT_TESTS_DIR}/${f}: top-level key ${key} is not a /test node`);
      const node = (value ?? {}) as Record<string, unknown>;
      out.push({ name: key.slice(1), file: `${TMT_TESTS_DIR}/${f}`, summary: node['summary'], test: node['test'], duration: node['duration'], tag: node['tag'], keys: Object.keys(node) });
    }
  }
  return out;
}

/** tmt's duration format: a number with an optional s/m/h/d suffix, e.g. 15m. */
export function durationSeconds(d: string): number | undefined {
  const m = /^(\d+)([smhd]?)$/.exec(d);
  if (m === null) return undefined;
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? ''] ?? 1);
}

/** The script of a `test: sh booted/<file>.sh` command, relative to tmt/tests; undefined for other forms. */
export function testScript(test: string): string | undefined {
  const m = /^sh (booted\/[A-Za-z0-9_.-]+\.sh)$/.exec(test);
  return m?.[1];
}
