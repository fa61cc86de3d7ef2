/**
 * tmt's booted tests (tmt/tests/*.fmf, tag booted) under qemu TCG + OVMF,
 * with this driver in tmt's place (lib/tmt-vm.ts): the images are built once
 * (v1 v2 v3 --with-node + systemd-boot, three generations of v3), v1 is
 * installed once with `install to-disk` and each test boots a copy of that
 * disk, as often as it calls tmt-reboot. A summary line for CI ends the run:
 * `tmt-vm: N tests, P passed, F failed, B boots, T s`.
 * TSBOOTC_TMT_VM_TESTS=name,name limits the tests (run-tests.mjs sets it for
 * the CI subset); TSBOOTC_TMT_VM_BOOT_TIMEOUT (s, default 900) caps one boot;
 * TSBOOTC_TMT_VM_KEEP=DIR keeps the serial logs of every boot there;
 * TSBOOTC_TMT_VM_WORK=DIR (development) works in DIR, reuses the images and the
 * installed disk found there and leaves them.
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/run-cli.js';
import { announceSkip, uefiBootSkipReason } from './lib/prereqs.js';
import { durationSeconds, readTmtTests, testScript } from './lib/tmt-fmf.js';
import { installV1, makeImagesDisk, prepareImages, runTmtTest, type PreparedImages, type TmtVmResult } from './lib/tmt-vm.js';
import { exec } from './image/exec.js';

const all = readTmtTests(REPO_ROOT).filter((t) => Array.isArray(t.tag) && t.tag.includes('booted'));
const only = process.env['TSBOOTC_TMT_VM_TESTS']?.split(',').filter((s) => s !== '');
const selected = only === undefined ? all : all.filter((t) => only.includes(t.name));
const skip = announceSkip('tmt-booted', (await uefiBootSkipReason()) ?? (selected.length === 0 ? `no tmt test named ${only?.join(',')}` : undefined));
// Only the tests that name v3 (upgrade-gc) need v3 and its generations: the others save their build.
const withV3 = selected.some((t) => {
  const script = typeof t.test === 'string' ? testScript(t.test) : undefined;
  return script === undefined || /\bv3\b/.test(readFileSync(path.join(REPO_ROOT, 'tmt', 'tests', script), 'utf8'));
});
const bootTimeoutMs = Number(process.env['TSBOOTC_TMT_VM_BOOT_TIMEOUT'] ?? '900') * 1000;
const keep = process.env['TSBOOTC_TMT_VM_KEEP'];
const reuse = process.env['TSBOOTC_TMT_VM_WORK'];
const log = (line: string): void => void process.stderr.write(`${line}\n`);

describe('tmt booted tests under qemu (tmt-vm)', { skip }, () => {
  let work = '';
  let images: PreparedImages | undefined;
  let template = '';
  const results: TmtVmResult[] = [];
  const started = Date.now();

  before(async () => {
    work = reuse ?? mkdtempSync(path.join(tmpdir(), 'tsbootc-tmt-vm-'));
    mkdirSync(work, { recursive: true });
    images = reuse !== undefined && existsSync(path.join(work, 'images')) ? { dir: path.join(work, 'images'), buildMs: 0 } : await prepareImages(work, withV3);
    const t0 = Date.now();
    template = path.join(work, 'installed-v1.img');
    if (reuse === undefined || !existsSync(template)) await installV1(images, template);
    log(`tmt-vm: images built in ${(images.buildMs / 1000).toFixed(1)} s, v1 installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  after(() => {
    if (results.length > 0) {
      const passed = results.filter((r) => r.passed).length;
      const boots = results.reduce((n, r) => n + r.boots.length, 0);
      log(`tmt-vm: ${results.length} tests, ${passed} passed, ${results.length - passed} failed, ${boots} boots, ${Math.round((Date.now() - started) / 1000)} s`);
    }
    if (work !== '' && reuse === undefined) rmSync(work, { recursive: true, force: true });
  });

  for (const t of selected) {
    const seconds = durationSeconds(String(t.duration)) ?? 3600;
    it(`${t.name}: ${String(t.summary)}`, { timeout: (seconds + 600) * 1000 }, async () => {
      assert.ok(images !== undefined, 'the images were not built');
      const dir = path.join(work, t.name);
      mkdirSync(dir);
      const system = path.join(dir, 'system.img');
      await exec(['cp', '--sparse=always', template, system]);
      const imagesDisk = await makeImagesDisk(images, REPO_ROOT, { name: t.name, test: String(t.test) }, dir);
      try {
        const r = await runTmtTest(t.name, { systemDisk: system, imagesDisk, work: dir, durationMs: seconds * 1000, bootTimeoutMs, log });
        results.push(r);
        const perBoot = r.boots.map((b) => `${(b.durationMs / 1000).toFixed(0)}s`).join(' ');
        log(`tmt-vm: ${t.name}: ${r.passed ? 'PASS' : 'FAIL'} (${r.reason}), ${r.boots.length} boots [${perBoot}], ${(r.durationMs / 1000).toFixed(0)} s`);
        if (keep !== undefined) {
          mkdirSync(keep, { recursive: true });
          writeFileSync(path.join(keep, `${t.name}.serial.log`), r.serial);
        }
        const asserts = r.boots.flatMap((b) => b.asserts.map((a) => a.replace(/^TMT-VM-ASSERT: /, '')));
        assert.ok(r.passed, `${r.reason}\nasserts:\n${asserts.join('\n')}\nserial (end):\n${r.serial.slice(-6000)}`);
        assert.deepEqual(asserts.filter((a) => !a.startsWith('ok ')), [], 'every assertion passed');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

