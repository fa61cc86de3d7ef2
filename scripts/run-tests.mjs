#!/usr/bin/env node
// Runs the compiled tests of one tier (unit | integration | privileged | vm | vm-ci | all)
// with node's built-in runner, in one process tree so there is one summary.
// Node 20's --test does not expand globs itself, so files are listed here.
// `all` (what CI runs) is unit + integration + privileged + the vm-ci subset.
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

// The VM tests CI runs (tier `all`): the tmt metadata check (no root, no qemu),
// the install boot, and these tmt booted tests under qemu (tests-integration/vm/README.md
// has the measured times; the whole vm tier does not fit CI's budget).
const VM_CI_FILES = ['tests-integration/vm/tmt-metadata.test.js', 'tests-integration/vm/install-boot.test.js', 'tests-integration/vm/tmt-booted.test.js'];
const VM_CI_TMT_TESTS = ['test-02-switch-rollback'];

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
const dirs = tier === 'all' ? [...TIERS.unit, ...TIERS.integration, ...TIERS.privileged] : tier === 'vm-ci' ? [] : TIERS[tier];
if (!dirs) {
  console.error(`run-tests: unknown tier ${tier} (unit, integration, privileged, vm, vm-ci, all)`);
  process.exit(2);
}
const filter = process.argv.slice(3);
let files = dirs.flatMap((d) => walk(join(dist, d), []));
const vmCi = tier === 'all' || tier === 'vm-ci';
if (vmCi) files.push(...VM_CI_FILES.map((f) => join(dist, f)).filter((f) => existsSync(f)));
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`run-tests: no test files for tier ${tier}`);
  process.exit(1);
}
console.error(`run-tests: ${tier}: ${files.length} files: ${files.map((f) => relative(dist, f)).join(' ')}`);
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...(vmCi ? { TSBOOTC_TMT_VM_TESTS: VM_CI_TMT_TESTS.join(',') } : {}), ...process.env, TSBOOTC_TEST_TIER: tier },
});
process.exit(r.status ?? 1);
