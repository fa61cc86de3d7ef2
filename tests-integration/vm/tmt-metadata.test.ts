/**
 * Checks the tmt metadata of the booted tests without tmt (not installed
 * here): every node of tmt/tests/*.fmf has exactly the keys the project uses,
 * a summary, a duration in tmt's format, the tag `booted` and a
 * `sh booted/<file>.sh` command whose file exists; every script under
 * tmt/tests/booted/ is used (lib.sh is sourced), parses under bash and busybox
 * sh, and is a TMT_REBOOT_COUNT state machine; the plan discovers the tag and
 * the fmf tree root exists. Runs in `npm test` (no root, no qemu).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/run-cli.js';
import { durationSeconds, readTmtTests, testScript, TMT_TESTS_DIR } from './lib/tmt-fmf.js';

const tests = readTmtTests(REPO_ROOT);
const ALLOWED_KEYS = ['summary', 'description', 'test', 'duration', 'tag'];

test('every tmt test node has a summary, a duration, the booted tag and an existing sh script', () => {
  assert.deepEqual(tests.map((t) => t.name), ['test-01-status', 'test-02-switch-rollback', 'test-03-upgrade-gc', 'test-04-download-only', 'test-05-power-cut']);
  const problems: string[] = [];
  for (const t of tests) {
    const where = `${t.file} /${t.name}`;
    if (!/^test-\d\d-[a-z0-9-]+$/.test(t.name)) problems.push(`${where}: name is not test-NN-<slug>`);
    for (const k of t.keys) if (!ALLOWED_KEYS.includes(k)) problems.push(`${where}: unknown key ${k}`);
    for (const k of ['summary', 'test', 'duration', 'tag']) if (!t.keys.includes(k)) problems.push(`${where}: missing ${k}`);
    if (typeof t.summary !== 'string' || t.summary.trim() === '' || t.summary.length > 100) problems.push(`${where}: summary must be one line of at most 100 characters`);
    if (typeof t.duration !== 'string' || durationSeconds(t.duration) === undefined) problems.push(`${where}: duration ${String(t.duration)} is not N[smhd]`);
    if (!Array.isArray(t.tag) || !t.tag.includes('booted')) problems.push(`${where}: tag must list booted`);
    const script = typeof t.test === 'string' ? testScript(t.test) : undefined;
    if (script === undefined) problems.push(`${where}: test must be 'sh booted/<file>.sh', not ${String(t.test)}`);
    else if (!existsSync(path.join(REPO_ROOT, TMT_TESTS_DIR, script))) problems.push(`${where}: ${TMT_TESTS_DIR}/${script} does not exist`);
  }
  assert.deepEqual(problems, []);
});

test('every booted script is used, parses under bash and busybox sh, and keys on TMT_REBOOT_COUNT', (t) => {
  const dir = path.join(REPO_ROOT, TMT_TESTS_DIR, 'booted');
  const scripts = readdirSync(dir).filter((f) => f.endsWith('.sh')).sort();
  const used = tests.map((x) => (typeof x.test === 'string' ? testScript(x.test) : undefined)).filter((s) => s !== undefined).map((s) => path.basename(s)).sort();
  assert.deepEqual(scripts, [...used, 'lib.sh'].sort(), 'scripts under booted/ are the tests plus lib.sh');
  const shells = [['bash', '-n'], ['/bin/busybox', 'sh', '-n']].filter(([sh]) => sh !== undefined && (sh.startsWith('/') ? existsSync(sh) : spawnSync(sh, ['-c', 'true']).status === 0));
  if (shells.length < 2) t.diagnostic(`only ${shells.map((s) => s[0]).join(', ')} available to parse the scripts`);
  assert.ok(shells.length > 0, 'neither bash nor busybox to parse the scripts with');
  const problems: string[] = [];
  for (const f of scripts) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    for (const sh of shells) {
      const r = spawnSync(sh[0]!, [...sh.slice(1), path.join(dir, f)], { encoding: 'utf8' });
      if (r.status !== 0) problems.push(`${f}: ${sh.join(' ')}: ${r.stderr.trim()}`);
    }
    const bashisms = text.split('\n').filter((l) => !/^\s*#/.test(l) && /\[\[ |^\s*function\s|^\s*local\s|\[ [^\]]* == |\$\{[^}]*\/\/|<<<|^\s*declare\s/.test(l));
    if (bashisms.length > 0) problems.push(`${f}: bash-only constructs: ${bashisms.join(' | ')}`);
    if (f === 'lib.sh') continue;
    if (!text.startsWith('#!/bin/sh\n')) problems.push(`${f}: does not start with #!/bin/sh`);
    if (!text.includes('. "$(dirname "$0")/lib.sh"')) problems.push(`${f}: does not source lib.sh`);
    if (!/case "\$T_STEP" in\n0\)/.test(text)) problems.push(`${f}: is not a case on T_STEP (TMT_REBOOT_COUNT) starting at 0`);
  }
  assert.deepEqual(problems, []);
});

test('the plan discovers the booted tag through fmf, and the fmf tree root exists', () => {
  const plan = parse(readFileSync(path.join(REPO_ROOT, 'tmt', 'plans', 'integration.fmf'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([plan['discover'], plan['execute']], [{ how: 'fmf', filter: 'tag:booted' }, { how: 'tmt' }]);
  assert.equal(typeof plan['summary'], 'string');
  assert.equal(readFileSync(path.join(REPO_ROOT, '.fmf', 'version'), 'utf8').trim(), '1');
});
