import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseArgs, type ParseResult } from './parse.js';
import { allCommandPaths, findCommand } from './commands.js';
import { UsageError } from '../util/errors.js';

async function run(argv: string[]): Promise<{ path: string; args: Record<string, unknown> }> {
  const r: ParseResult = await parseArgs(argv);
  assert.equal(r.kind, 'run', `expected ${argv.join(' ')} to run`);
  if (r.kind !== 'run') throw new Error('unreachable');
  return { path: r.invocation.path.join(' '), args: r.invocation.args as Record<string, unknown> };
}

const CASES: Array<[string[], string, Record<string, unknown>]> = [
  [['status'], 'status', {}],
  [['--root', '/tmp/h', 'status', '--format', 'json', '--booted'], 'status', { root: '/tmp/h', format: 'json', booted: true }],
  [['update', '--check'], 'upgrade', { check: true }],
  [['upgrade', '--download-only', '--tag', 'v2', '--quiet'], 'upgrade', { 'download-only': true, tag: 'v2', quiet: true }],
  [['switch', 'quay.io/x/y:1', '--transport', 'oci', '--apply'], 'switch', { target: 'quay.io/x/y:1', transport: 'oci', apply: true }],
  [['switch', 'quay.io/x/y:1'], 'switch', { transport: 'registry' }],
  [['rollback', '--apply'], 'rollback', { apply: true }],
  [['usroverlay', '--read-only'], 'usr-overlay', { 'read-only': true }],
  [['edit', '-f', 'spec.yaml'], 'edit', { filename: 'spec.yaml' }],
  [['install', 'to-disk', '--via-loopback', '--wipe', '--filesystem', 'ext4', '--karg', 'a=1', '--karg', 'b', 'disk.img'], 'install to-disk', { device: 'disk.img', 'via-loopback': true, filesystem: 'ext4', karg: ['a=1', 'b'] }],
  [['install', 'to-filesystem', '--replace', 'wipe', '/mnt'], 'install to-filesystem', { 'root-path': '/mnt', replace: 'wipe' }],
  [['install', 'to-existing-root'], 'install to-existing-root', { 'root-path': '/target', replace: 'alongside' }],
  [['install', 'print-configuration', '--all'], 'install print-configuration', { all: true }],
  [['container', 'lint', '--skip', 'var-log', '--fatal-warnings'], 'container lint', { skip: ['var-log'], 'fatal-warnings': true, rootfs: '/' }],
  [['container', 'compute-composefs-digest'], 'container compute-composefs-digest', { path: '/target' }],
  [['composefs-finalize-staged'], 'composefs-finalize-staged', {}],
  [['delete-deployment', 'abcd'], 'delete-deployment', { id: 'abcd' }],
  [['internals', 'composefs-gc', '--dry-run', '--prune-repo'], 'internals composefs-gc', { 'dry-run': true, 'prune-repo': true }],
  [['internals', 'print-json-schema', '--of', 'host'], 'internals print-json-schema', { of: 'host' }],
  [['internals', 'fsverity', 'measure', '/f'], 'internals fsverity measure', { path: '/f' }],
  [['internals', 'cfs', '--repo', '/r', '--insecure', 'oci', 'pull', 'oci:/d:t', 'name', '--bootable'], 'internals cfs oci pull', { repo: '/r', insecure: true, image: 'oci:/d:t', name: 'name', bootable: true }],
  [['internals', 'cfs', 'gc', '-r', 'a', '-r', 'b', '-n'], 'internals cfs gc', { 'gc-root': ['a', 'b'], root: undefined, 'dry-run': true }],
  // The global --root (host root) before `gc` is never taken as a GC root; cfsctl's `gc --root` after it is.
  [['--root', '/h', 'internals', 'cfs', 'gc'], 'internals cfs gc', { root: '/h', 'gc-root': undefined }],
  [['internals', 'cfs', '--root', '/h', '--repo', 'gc', 'gc', '--root', 'a', '--root=b', '--gc-root', 'c', '--additional-root', 'd'], 'internals cfs gc', { root: '/h', repo: 'gc', 'gc-root': ['a', 'b', 'c', 'd'] }],
  [['--root', '/h', 'internals', 'cfs', 'images', '--json'], 'internals cfs images', { root: '/h', json: true }],
  [['internals', 'cfs', 'mkcomposefs', '--from-file', '--min-version', '1', 'in.dump', 'out.img'], 'internals cfs mkcomposefs', { 'from-file': true, 'min-version': 1, source: 'in.dump', image: 'out.img' }],
  [['internals', 'cfs', 'composefs-info', 'objects', 'a.img', 'b.img'], 'internals cfs composefs-info objects', { images: ['a.img', 'b.img'] }],
  [['completion', 'bash'], 'completion', { shell: 'bash' }],
];

for (const [argv, path, expected] of CASES) {
  test(`parses: ${argv.join(' ')}`, async () => {
    const r = await run(argv);
    assert.equal(r.path, path);
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(r.args[k], v, `option ${k}`);
  });
}

const BAD: Array<[string[], RegExp]> = [
  [[], /^a command is required$/],
  [['install'], /^install: a subcommand is required$/],
  [['status', '--bogus'], /^Unknown argument: bogus$/],
  [['status', '--format', 'jsn'], /^Invalid values: Argument: format, Given: "jsn", Choices: "humanreadable", "yaml", "json"$/],
  [['upgrade', '--check', '--apply'], /mutually exclusive/],
  [['switch'], /Not enough non-option arguments/],
  [['frobnicate'], /Unknown argument: frobnicate/],
];
for (const [argv, re] of BAD) {
  test(`usage error: ${argv.join(' ') || '(nothing)'}`, async () => {
    await assert.rejects(parseArgs(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
  });
}

test('--help works on every command path', async () => {
  const paths = allCommandPaths();
  assert.ok(paths.length > 60, `the tree has ${paths.length} commands`);
  for (const p of paths) {
    const r = await parseArgs([...p, '--help']);
    assert.equal(r.kind, 'output', p.join(' '));
    if (r.kind === 'output') assert.match(r.text, new RegExp(`^tsbootc ${p.join(' ')}`), p.join(' '));
  }
  assert.equal(findCommand(['internals', 'cfs', 'oci', 'pull'])?.name, 'pull');
});

test('a lone - survives as a positional value (stdin/stdout), but not after --', async () => {
  const r = await parseArgs(['internals', 'cfs', 'mkcomposefs', '--from-file', '-', '-']);
  assert.equal(r.kind, 'run');
  if (r.kind === 'run') {
    assert.equal(r.invocation.args['source'], '-');
    assert.equal(r.invocation.args['image'], '-');
    assert.equal(r.invocation.args['from-file'], true);
  }
});
