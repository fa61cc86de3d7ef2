/**
 * Owns how composefs tests get real images: the conformance dumps (plain or
 * gzipped, with their version and strictness, composefs.md §5.8) built with the
 * C mkcomposefs, and the C composefs-info oracle. Tests skip when the tools are
 * not installed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { C_ASSETS, C_MKCOMPOSEFS } from '../test-assets.js';

export const C_COMPOSEFS_INFO = path.join(path.dirname(C_MKCOMPOSEFS), 'composefs-info');

/** Why C-based tests cannot run here, or undefined when they can. */
export function cToolsMissing(): string | undefined {
  for (const p of [C_MKCOMPOSEFS, C_COMPOSEFS_INFO]) if (!existsSync(p)) return `C tool not installed: ${p}`;
  if (!existsSync(C_ASSETS)) return `conformance assets not found: ${C_ASSETS}`;
  return undefined;
}

const NON_STRICT = new Set(['no-newline', 'longlink', 'honggfuzz-longlink-unterminated']);

export interface ConformanceCase {
  name: string;
  dump: Buffer;
  /** min = max version from the .version file, if any. */
  version: number | undefined;
  strict: boolean;
}

/** Every conformance dump that mkcomposefs must accept. */
export function conformanceCases(): ConformanceCase[] {
  const out: ConformanceCase[] = [];
  for (const f of readdirSync(C_ASSETS).sort()) {
    if (f.startsWith('should-fail-') || !(f.endsWith('.dump') || f.endsWith('.dump.gz'))) continue;
    const name = f.replace(/\.gz$/, '').replace(/\.dump$/, '');
    const raw = readFileSync(path.join(C_ASSETS, f));
    const vfile = path.join(C_ASSETS, `${f}.version`);
    out.push({
      name,
      dump: f.endsWith('.gz') ? gunzipSync(raw) : raw,
      version: existsSync(vfile) ? Number(readFileSync(vfile, 'utf8').trim()) : undefined,
      strict: !NON_STRICT.has(name),
    });
  }
  return out;
}

let scratch: string | undefined;
function scratchDir(): string {
  scratch ??= mkdtempSync(path.join(tmpdir(), 'tsbootc-erofs-'));
  return scratch;
}

/** Builds an image from a dumpfile with C mkcomposefs; returns the image path. */
export function cMkcomposefs(name: string, dump: Uint8Array, opts: { version?: number | undefined; strict?: boolean } = {}): string {
  const dir = scratchDir();
  const dumpPath = path.join(dir, `${name}.dump`);
  const imgPath = path.join(dir, `${name}.img`);
  writeFileSync(dumpPath, dump);
  const args = opts.version === undefined ? [] : [`--min-version=${opts.version}`, `--max-version=${opts.version}`];
  // env(1) sets or clears CFS_PARSE_STRICT without touching this process's environment.
  const strict = opts.strict === true ? ['CFS_PARSE_STRICT=1'] : [];
  execFileSync('env', ['-u', 'CFS_PARSE_STRICT', ...strict, C_MKCOMPOSEFS, ...args, '--from-file', dumpPath, imgPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  return imgPath;
}

/** Runs C composefs-info and returns its stdout. */
export function cComposefsInfo(args: readonly string[]): Buffer {
  return execFileSync(C_COMPOSEFS_INFO, [...args], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
}
