#!/usr/bin/env node
// Runs the compiled tests of one tier (unit | integration | privileged | vm | all)
// with node's built-in runner, in one process tree so there is one summary.
// Node 20's --test does not expand globs itself, so files are listed here.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const TIERS = {
  unit: ['src'],
  integration: ['tests-integration/cli', 'tests-integration/conformance', 'tests-integration/hostile'],
  privileged: ['tests-integration/privileged'],
  vm: ['tests-integration/vm'],
};

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const tier = process.argv[2] ?? 'all';
const dirs = tier === 'all' ? [...TIERS.unit, ...TIERS.integration, ...TIERS.privileged] : TIERS[tier];
if (!dirs) {
  console.error(`run-tests: unknown tier ${tier} (unit, integration, privileged, vm, all)`);
  process.exit(2);
}
const filter = process.argv.slice(3);
let files = dirs.flatMap((d) => walk(join(dist, d), []));
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`run-tests: no test files for tier ${tier}`);
  process.exit(1);
}
console.error(`run-tests: ${tier}: ${files.length} files: ${files.map((f) => relative(dist, f)).join(' ')}`);
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, TSBOOTC_TEST_TIER: tier },
});
process.exit(r.status ?? 1);
