/**
 * Owns the architecture rules (docs/architecture.md), as a checker over
 * TypeScript sources:
 *  1. src/composefs/ imports only itself, src/util/, node:* and allow-listed packages;
 *  2. code outside src/cli/ and src/sys/ (and test-only code) does not touch
 *     console, process.stdout/stderr, process.argv or process.exit.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** npm packages src/composefs/ may import. */
export const COMPOSEFS_ALLOWED_PACKAGES: readonly string[] = ['tar-stream', 'koffi', 'zstd-napi'];
/** Dev dependencies that composefs *tests* may import (property tests). */
export const COMPOSEFS_TEST_PACKAGES: readonly string[] = ['fast-check'];

export interface Violation {
  file: string;
  line: number;
  rule: 'composefs-import' | 'process-edge';
  detail: string;
}

function listTs(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) listTs(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;
const EDGE_RE = /\bconsole\s*\.|\bprocess\s*\.\s*(?:stdout|stderr|argv|exit)\b/g;

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

function stripComments(text: string): string {
  // Keep offsets stable: replace comment characters with spaces.
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (m) => m.replace(/[^\n]/g, ' '));
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

/** Checks the tree rooted at `srcDir` (a `src/` folder) and returns every violation. */
export function checkArchitecture(srcDir: string): Violation[] {
  const out: Violation[] = [];
  const composefsDir = path.join(srcDir, 'composefs');
  const utilDir = path.join(srcDir, 'util');
  for (const file of listTs(srcDir)) {
    const rel = path.relative(srcDir, file);
    const text = stripComments(readFileSync(file, 'utf8'));
    const isTest = rel.endsWith('.test.ts') || rel.startsWith('testing' + path.sep);
    if (file.startsWith(composefsDir + path.sep)) {
      for (const m of text.matchAll(IMPORT_RE)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (spec === undefined) continue;
        let ok: boolean;
        if (spec.startsWith('node:')) ok = true;
        else if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(file), spec);
          ok = target.startsWith(composefsDir + path.sep) || target.startsWith(utilDir + path.sep);
        } else ok = COMPOSEFS_ALLOWED_PACKAGES.includes(packageName(spec)) || (isTest && COMPOSEFS_TEST_PACKAGES.includes(packageName(spec)));
        if (!ok) out.push({ file: rel, line: lineOf(text, (m.index ?? 0) + (m[0].length - m[0].trimStart().length)), rule: 'composefs-import', detail: `imports ${spec}` });
      }
    }
    const top = rel.split(path.sep)[0];
    if (top !== 'cli' && top !== 'sys' && !isTest) {
      for (const m of text.matchAll(EDGE_RE)) {
        out.push({ file: rel, line: lineOf(text, m.index ?? 0), rule: 'process-edge', detail: `uses ${m[0].replace(/\s+/g, '')}` });
      }
    }
  }
  return out;
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: ${v.rule}: ${v.detail}`;
}
