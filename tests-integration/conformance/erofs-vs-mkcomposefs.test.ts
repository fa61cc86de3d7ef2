// Differential conformance: random dumpfiles from gen-dump.py (fixed seeds) are
// written by C mkcomposefs and by writeErofs; the images must be byte-identical.
// On a mismatch both `composefs-info dump` outputs are printed for a readable diff.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseDumpfile, writeErofs } from '../../src/composefs/index.js';
import { C_COMPOSEFS_INFO, C_GEN_DUMP, C_MKCOMPOSEFS } from '../../src/composefs/test-assets.js';

const SEEDS = Array.from({ length: 30 }, (_, i) => 1000 + i);
/** Cycled over the seeds, as fuzz-diff.sh does: C defaults, then V0 only, then V1 only. */
const FLAGSETS: Array<{ args: string[]; opts: { minVersion?: number; maxVersion?: number } }> = [
  { args: [], opts: {} },
  { args: ['--min-version=0', '--max-version=0'], opts: { minVersion: 0, maxVersion: 0 } },
  { args: ['--min-version=1', '--max-version=1'], opts: { minVersion: 1, maxVersion: 1 } },
];

function missingTool(): string | false {
  for (const t of [C_MKCOMPOSEFS, C_COMPOSEFS_INFO, C_GEN_DUMP]) if (!existsSync(t)) return `${t} is not installed`;
  if (spawnSync('python3', ['--version']).status !== 0) return 'python3 is not installed';
  return false;
}

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 28, env: { ...process.env, CFS_PARSE_STRICT: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

function infoDump(image: Buffer, dir: string, name: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, image);
  return run(C_COMPOSEFS_INFO, ['dump', file]).toString('latin1');
}

const skip = missingTool();

test('writeErofs matches C mkcomposefs byte for byte on 30 random dumpfiles', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-erofs-conf-'));
  try {
    const mismatches: string[] = [];
    SEEDS.forEach((seed, i) => {
      const flags = FLAGSETS[i % FLAGSETS.length]!;
      const dump = run('python3', [C_GEN_DUMP, '--seed', String(seed), '-']);
      const expected = run(C_MKCOMPOSEFS, [...flags.args, '--from-file', '-', '-'], dump);
      const got = writeErofs(parseDumpfile(dump, { strict: true }), flags.opts);
      if (Buffer.compare(got, expected) === 0) return;
      const label = `seed ${seed} [${flags.args.join(' ') || 'default'}]`;
      const c = infoDump(expected, dir, `c-${seed}.img`);
      const ts = infoDump(got, dir, `ts-${seed}.img`);
      mismatches.push(`${label}: images differ (${expected.length} vs ${got.length} bytes)\n--- C composefs-info dump\n${c}\n--- writeErofs composefs-info dump\n${ts}`);
    });
    assert.deepEqual(mismatches, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
