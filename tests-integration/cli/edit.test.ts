import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { TestRoot } from '../../src/testing/test-root.js';

function statusYaml(t: TestRoot): string {
  const r = runCli(['--root', t.dir, 'status', '--format', 'yaml']);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function specFile(text: string): string {
  const p = path.join(tempDir('tsbootc-edit-'), 'host.yaml');
  writeFileSync(p, text);
  return p;
}

test('edit -f: the unchanged status document is "no changes"; bootOrder: rollback rolls back; back to default un-queues', async () => {
  const t = await TestRoot.create({ layout: 'systemd-type1' });
  await t.upgrade(1, 'kernel');
  const yaml = statusYaml(t);
  const same = runCli(['--root', t.dir, 'edit', '-f', specFile(yaml)]);
  assert.deepEqual([same.status, same.stdout, same.stderr], [0, 'Edit cancelled, no changes made.\n', '']);
  assert.match(yaml, /^  bootOrder: default$/m);
  const r = runCli(['--root', t.dir, 'edit', '--filename', specFile(yaml.replace(/^  bootOrder: default$/m, '  bootOrder: rollback'))]);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, 'Next boot: rollback deployment\n', '']);
  assert.match(statusYaml(t), /^  bootOrder: rollback$/m);
  const back = JSON.parse(runCli(['--root', t.dir, 'status', '--json']).stdout) as { spec: { bootOrder: string } };
  back.spec.bootOrder = 'default';
  const b = runCli(['--root', t.dir, 'edit', '-f', specFile(JSON.stringify(back))]);
  assert.deepEqual([b.status, b.stdout, b.stderr], [0, 'notice: Reverting queued rollback state\nNext boot: current deployment\n', '']);
});

test('edit -f: bad documents and a rollback together with an image change are refused (exit 1), nothing changes', async () => {
  const t = await TestRoot.create({ layout: 'grub-uki' });
  await t.upgrade(1, 'both');
  const yaml = statusYaml(t);
  const cases: Array<[string, string]> = [
    [yaml.replace(/^  bootOrder: default$/m, '  bootOrder: sideways'), 'spec.bootOrder must be default or rollback, not "sideways"'],
    ['[1, 2]', 'expected a Host document (an object with spec)'],
    ['apiVersion: v0\nspec: {}\n', 'apiVersion v0 is not org.containers.bootc/v1'],
    ['kind: BootcHost\n', 'missing spec'],
  ];
  for (const [text, msg] of cases) {
    const f = specFile(text);
    const r = runCli(['--root', t.dir, 'edit', '-f', f]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [1, '', `error: ${f}: ${msg}\n`]);
  }
  const both = yaml.replace(/^  bootOrder: default$/m, '  bootOrder: rollback').replace(/^    image: quay\.io\/example\/os:latest$/m, '    image: quay.io/example/other:1');
  assert.notEqual(both, yaml);
  const r = runCli(['--root', t.dir, 'edit', '-f', specFile(both)]);
  assert.deepEqual([r.status, r.stdout, r.stderr], [1, '', 'error: Invalid state transition: rollback and image change\n']);
  assert.equal(statusYaml(t), yaml);
  const nf = runCli(['--root', tempDir(), 'edit', '-f', specFile(yaml)]);
  assert.deepEqual([nf.status, nf.stderr], [1, 'error: System is not deployed via bootc (no composefs= on the kernel command line)\n']);
});
