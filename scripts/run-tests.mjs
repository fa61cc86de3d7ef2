#!/usr/bin/env node
// Runs the compiled tests of one tier (unit | integration | privileged | vm | vm-ci | all)
// with node's built-in runner, in one process tree so there is one summary.
// Node 20's --test does not expand globs itself, so files are listed here.
// `all` (what CI runs) is unit + integration + privileged + the vm-ci subset.
import { readdirSync, statSync, existsSync, mkdtempSync, chmodSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// Every temporary file of the run lives under one directory that is removed at
// the end, so a test that forgets its temp dir (or is killed) leaves nothing in /tmp.
const runTmp = mkdtempSync(join(tmpdir(), 'tsbootc-tests-'));
chmodSync(runTmp, 0o755); // tests hand some paths to unprivileged users (install as nobody)
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...(vmCi ? { TSBOOTC_TMT_VM_TESTS: VM_CI_TMT_TESTS.join(',') } : {}), ...process.env, TMPDIR: runTmp, TSBOOTC_TEST_TIER: tier },
});
removeRunTmp(runTmp);
process.exit(r.status ?? 1);

/** Detaches what a failed test left mounted under `dir` (deepest first), then removes it. */
function removeRunTmp(dir) {
  const decode = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => decode(l.split(' ')[4] ?? ''))
    .filter((m) => m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    console.error(`run-tests: a test left ${m} mounted; detaching it`);
    spawnSync('umount', ['-l', m], { stdio: 'inherit' });
  }
  const loops = spawnSync('losetup', ['-n', '-O', 'NAME,BACK-FILE', '-l'], { encoding: 'utf8' });
  for (const line of (loops.stdout ?? '').split('\n')) {
    const [dev, file] = line.trim().split(/\s+/, 2);
    if (dev && file && file.startsWith(dir + '/')) {
      console.error(`run-tests: a test left ${dev} attached to ${file}; detaching it`);
      spawnSync('losetup', ['-d', dev], { stdio: 'inherit' });
    }
  }
  if (mounts.length === 0) rmSync(dir, { recursive: true, force: true });
  else console.error(`run-tests: kept ${dir} (it had mounts)`);
}
