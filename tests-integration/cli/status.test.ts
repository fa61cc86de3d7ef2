import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { runCli, tempDir, REPO_ROOT } from '../helpers/run-cli.js';

const DEFAULT_HOST =
  '{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost","metadata":{"name":"host"},"spec":{"bootOrder":"default","image":null},' +
  '"status":{"booted":null,"readOnly":false,"rollback":null,"rollbackQueued":false,"staged":null,"type":null,"usrOverlay":null}}\n';

function hostValidator() {
  const schema = JSON.parse(readFileSync(path.join(REPO_ROOT, 'data', 'schemas', 'host-v1.schema.json'), 'utf8')) as object;
  return new Ajv2020({ strict: false }).compile(schema);
}

test('status --format json on a host not deployed via bootc prints the canonical all-null Host', () => {
  const root = tempDir();
  const r = runCli(['--root', root, 'status', '--format', 'json']);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, DEFAULT_HOST);
  const validate = hostValidator();
  assert.ok(validate(JSON.parse(r.stdout)), JSON.stringify(validate.errors));
});

test('status honours TSBOOTC_ROOT, --json, and a cmdline without composefs=', () => {
  const root = tempDir();
  mkdirSync(path.join(root, 'proc'));
  writeFileSync(path.join(root, 'proc', 'cmdline'), 'BOOT_IMAGE=/vmlinuz root=UUID=1234 ro composefs_backup=abc\n');
  const r = runCli(['status', '--json'], { env: { TSBOOTC_ROOT: root } });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, DEFAULT_HOST);
});

test('status: human and YAML output for a host not deployed via bootc', () => {
  const root = tempDir();
  const human = runCli(['--root', root, 'status', '--format', 'humanreadable']);
  assert.equal(human.stdout, 'System is not deployed via bootc.\n');
  assert.equal(human.status, 0);
  const yaml = runCli(['--root', root, 'status']);
  assert.equal(
    yaml.stdout,
    [
      'apiVersion: org.containers.bootc/v1',
      'kind: BootcHost',
      'metadata:',
      '  name: host',
      'spec:',
      '  image: null',
      '  bootOrder: default',
      'status:',
      '  staged: null',
      '  booted: null',
      '  rollback: null',
      '  rollbackQueued: false',
      '  type: null',
      '  usrOverlay: null',
      '  readOnly: false',
      '',
    ].join('\n'),
  );
});

test('print-json-schema prints the shipped schemas byte for byte', () => {
  for (const [of, file] of [
    ['host', 'host-v1.schema.json'],
    ['progress', 'progress-v0.schema.json'],
  ] as const) {
    const r = runCli(['internals', 'print-json-schema', '--of', of]);
    assert.equal(r.status, 0);
    const want = readFileSync(path.join(REPO_ROOT, 'data', 'schemas', file), 'utf8');
    assert.equal(r.stdout, want.endsWith('\n') ? want : want + '\n');
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(want));
  }
});

test('usage errors exit 2 with one line; unimplemented verbs exit 1 and say so', () => {
  const bad = runCli(['status', '--format', 'xml']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stdout, '');
  assert.equal(bad.stderr, 'error: Invalid values: Argument: format, Given: "xml", Choices: "humanreadable", "yaml", "json"\n');
  const ni = runCli(['--root', tempDir(), 'image', 'list']);
  assert.equal(ni.status, 1);
  assert.equal(ni.stderr, 'error: image list: not implemented yet\n');
  assert.equal(ni.stdout, '');
  const fv = runCli(['--root', tempDir(), 'status', '--format-version', '7']);
  assert.equal(fv.status, 2);
  assert.equal(fv.stderr, 'error: status: unsupported --format-version 7\n');
});

test('--help exits 0 and prints to stdout; -v adds the cause chain', () => {
  const h = runCli(['switch', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^tsbootc switch <target>\n\nTarget a new container image reference to boot\n/);
  const v = runCli(['-v', '--root', tempDir(), 'image', 'list']);
  assert.equal(v.status, 1);
  assert.match(v.stderr, /^error: image list: not implemented yet\nNotImplementedError: image list: not implemented yet\n\s+at /);
});

test('completion scripts name the verbs', () => {
  const r = runCli(['completion', 'bash']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /complete -F _tsbootc_complete tsbootc\n$/);
  assert.match(r.stdout, /"install"\) words="to-disk to-filesystem to-existing-root finalize ensure-completion print-configuration /);
});

test('status --format json on a TestRoot host: canonical JSON for each layout, schema-valid, warnings on stderr', async () => {
  const { TestRoot, LAYOUTS } = await import('../../src/testing/test-root.js');
  for (const layout of LAYOUTS) {
    const t = await TestRoot.create({ layout });
    const b1 = await t.upgrade(1, 'kernel');
    const r = runCli(['--root', t.dir, 'status', '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const host = JSON.parse(r.stdout) as { status: { booted: { composefs: { verity: string }; image: unknown }; rollback: { composefs: { verity: string } } } };
    assert.equal(r.stdout.endsWith('}\n') && !r.stdout.includes('\n{') && !r.stdout.includes(': '), true);
    assert.equal(host.status.booted.composefs.verity, b1.verity, layout);
    assert.equal(host.status.rollback.composefs.verity, t.builds[0]!.verity, layout);
    // No repository reader is wired yet: image details are null and each deployment says so.
    assert.equal(host.status.booted.image, null);
    assert.equal(
      r.stderr,
      [b1, t.builds[0]!].map((b) => `warning: Deployment ${b.verity}: image ${b.manifestDigest} not found in the composefs repository; image details unavailable\n`).join(''),
    );
    const validate = hostValidator();
    assert.ok(validate(host), JSON.stringify(validate.errors));
    const human = runCli(['--root', t.dir, 'status', '--format', 'humanreadable', '--booted']);
    assert.equal(human.stdout, `● Booted composefs\n            Commit: ${b1.verity}\n`);
  }
});
