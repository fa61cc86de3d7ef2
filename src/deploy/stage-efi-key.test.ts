/**
 * The UKI entry key follows the host's bootctl (bootc.md §3.2): the version
 * is read once through the Runner and handed to stageDeployment as a value.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FakeRunner } from '../testing/fake-runner.js';
import { TestRoot } from '../testing/test-root.js';
import { efiKeyFor, parseBootctlVersion, readBootctlVersion } from '../boot/efi-key.js';
import { withBootState } from './boot-state.js';
import { stageDeployment } from './stage.js';

const BOOTCTL: Record<string, string | undefined> = {
  '252': 'systemd 252 (252.23-2.el9)\n+PAM +AUDIT +SELINUX -APPARMOR +IMA +SMACK +SECCOMP +GCRYPT +GNUTLS\n',
  '257': 'systemd 257 (257.7-1.fc44)\n+PAM +AUDIT +SELINUX -APPARMOR +IMA +IPE +SMACK +SECCOMP -GCRYPT -GNUTLS +OPENSSL\n',
  '258': 'systemd 258 (258~rc3-1.fc44)\n+PAM +AUDIT +SELINUX -APPARMOR +IMA +IPE +SMACK +SECCOMP -GCRYPT -GNUTLS +OPENSSL\n',
  missing: undefined,
};

function runnerFor(name: string): FakeRunner {
  const out = BOOTCTL[name];
  const run = new FakeRunner({ strict: true });
  return out === undefined ? run : run.on(['bootctl', '--version'], { stdout: out });
}

test('parseBootctlVersion / efiKeyFor: ≥ 258 ⇒ uki on systemd-boot; grub-cc and grub always efi; no version ⇒ efi', () => {
  assert.deepEqual(
    ['systemd 252 (252.23-2.el9)', 'systemd 258 (258~rc3)', 'systemd 260', 'bootctl: command not found', ''].map(parseBootctlVersion),
    [252, 258, 260, undefined, undefined],
  );
  const rows = (['systemd', 'grub-cc', 'grub'] as const).map((b) => [b, ...[252, 257, 258, 300, undefined].map((v) => efiKeyFor(b, v))]);
  assert.deepEqual(rows, [
    ['systemd', 'efi', 'efi', 'uki', 'uki', 'efi'],
    ['grub-cc', 'efi', 'efi', 'efi', 'efi', 'efi'],
    ['grub', 'efi', 'efi', 'efi', 'efi', 'efi'],
  ]);
});

test('readBootctlVersion: one bootctl --version through the Runner; missing or failing bootctl ⇒ undefined', async () => {
  for (const [name, want] of [['252', 252], ['257', 257], ['258', 258], ['missing', undefined]] as const) {
    const run = runnerFor(name);
    assert.equal(await readBootctlVersion(run), want, name);
    assert.deepEqual(run.argvs, [['bootctl', '--version']], name);
  }
  const failing = new FakeRunner({ strict: true }).on(['bootctl', '--version'], { exitCode: 1, stderr: 'Failed' });
  assert.equal(await readBootctlVersion(failing), undefined);
});

test('staged UKI entry on systemd-boot: key per bootctl version (252, 257 ⇒ efi; 258 ⇒ uki; missing ⇒ efi), whole file', async () => {
  const got: string[] = [];
  for (const name of ['252', '257', '258', 'missing']) {
    const t = await TestRoot.create({ layout: 'systemd-uki', efiKey: 'uki' });
    const run = runnerFor(name);
    const efiKey = efiKeyFor('systemd', await readBootctlVersion(run));
    const b1 = t.prepareBuild(1, 'kernel');
    await withBootState(t.host(run), (st) => stageDeployment(st!, t.deploymentSpec(b1), { downloadOnly: false, efiKey }));
    const file = await t.read('/boot/loader/entries.staged/bootc_fedora-44-1.conf');
    got.push(`== bootctl ${name}\n${file.replace(b1.verity, '<v1>')}`);
    assert.deepEqual(run.argvs, [['bootctl', '--version']], 'bootctl is asked once and nothing else runs');
  }
  const entry = (key: string) => `title Fedora Linux 44 (Forty Four) 44\nversion 44\n${key} /EFI/Linux/bootc/bootc_composefs-<v1>.efi\nsort-key bootc-fedora-0\n`;
  assert.deepEqual(got, [`== bootctl 252\n${entry('efi')}`, `== bootctl 257\n${entry('efi')}`, `== bootctl 258\n${entry('uki')}`, `== bootctl missing\n${entry('efi')}`]);
});
