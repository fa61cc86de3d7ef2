import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Root } from '../sys/root.js';
import type { Host } from '../sys/host.js';
import type { RunOptions, RunResult, Runner } from '../sys/runner.js';
import { memoryLogger } from '../util/log.js';
import { formatErrorChain, rootCause } from '../util/errors.js';
import { fetchImage, fetchManifest } from './fetch.js';
import { FetchError } from './fetch-errors.js';
import { sha256Digest } from './oci-manifest.js';
import { measureDirProgress } from './dir-layout.js';
import { openDirStore } from '../composefs/oci/dir-store.js';
import { verifiedBlob } from '../composefs/oci/layout.js';
import type { ImageRef } from './ref.js';

type Answer = { exitCode?: number; stdout?: Buffer | string; stderr?: string; effect?: (argv: readonly string[]) => void };

/** Records every argv; answers in order from a script keyed by a predicate. */
class ScriptedRunner implements Runner {
  readonly calls: string[][] = [];
  constructor(private readonly script: Array<(argv: readonly string[]) => Answer | undefined>) {}
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv]);
    const step = this.script.shift();
    const a = step?.(argv);
    if (a === undefined) throw new Error(`unexpected command: ${argv.join(' ')}`);
    a.effect?.(argv);
    const out = typeof a.stdout === 'string' ? Buffer.from(a.stdout) : a.stdout ?? Buffer.alloc(0);
    const exitCode = a.exitCode ?? 0;
    if (exitCode !== 0 && !opts.allowFailure) throw new Error('would throw CommandFailedError');
    return { argv, exitCode, stdout: opts.binary ? '' : out.toString(), stderr: a.stderr ?? '', ...(opts.binary ? { stdoutBytes: out } : {}) };
  }
}

const blob = (s: string) => ({ bytes: Buffer.from(s), digest: sha256Digest(Buffer.from(s)), size: Buffer.byteLength(s) });
const layerA = blob('layer A');
const layerB = blob('layer B bytes');
const config = blob('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const manifestFor = (layers: Array<ReturnType<typeof blob>>) =>
  Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  }) + '\n');
const manifest = manifestFor([layerA, layerB]);
const manifestDigest = sha256Digest(manifest);
const armManifest = manifestFor([layerB]);
const index = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(armManifest), size: armManifest.length, platform: { architecture: 'arm64', os: 'linux' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
  ],
}));

const REF: ImageRef = { transport: 'registry', image: 'registry.example.com/os/base:41', signature: { kind: 'insecure' } };

function withHost(fn: (h: Host & { log: ReturnType<typeof memoryLogger> }, runner: ScriptedRunner, root: string, work: string) => Promise<void>, script: Array<(argv: readonly string[]) => Answer | undefined>) {
  return async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'tsbootc-fetch-unit-root-'));
    const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-fetch-unit-work-'));
    const runner = new ScriptedRunner(script);
    const log = memoryLogger('debug');
    try {
      await fn({ root: new Root(root), run: runner, env: {}, now: () => new Date(0), log, isRoot: true }, runner, root, work);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  };
}

const isInspect = (argv: readonly string[]) => argv.includes('inspect');
const isCopy = (argv: readonly string[]) => argv.includes('copy');
/** Normalizes the per-run temp paths in an argv so it can be compared whole. */
const norm = (argv: readonly string[]) => argv.map((a) => a.replace(/\/[^:]*\/tsbootc-manifest-[^/]+/, '$TMP').replace(/\/[^:]*\/tsbootc-fetch-unit-work-[^/]+\/\.dest\.partial-[^/]+/, '$STAGE'));

/** A skopeo copy stand-in: writes the dir: layout skopeo would. */
function writeDirImage(files: Array<[string, Buffer]>): (argv: readonly string[]) => void {
  return (argv) => {
    const dest = (argv[argv.length - 1] ?? '').replace(/^dir:/, '');
    mkdirSync(dest, { recursive: true });
    writeFileSync(path.join(dest, 'version'), 'Directory Transport Version: 1.1\n');
    for (const [name, bytes] of files) writeFileSync(path.join(dest, name), bytes);
  };
}
const hex = (d: string) => d.slice('sha256:'.length);
const goodFiles: Array<[string, Buffer]> = [['manifest.json', manifest], [hex(layerA.digest), layerA.bytes], [hex(layerB.digest), layerB.bytes], [hex(config.digest), config.bytes]];

test('fetchManifest resolves an index to the amd64 entry by digest', withHost(async (host, runner) => {
  const m = await fetchManifest(host, REF, { arch: 'amd64' });
  assert.deepEqual(m, {
    manifestDigest,
    rawManifest: manifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: [layerA, layerB].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    indexDigest: sha256Digest(index),
  });
  assert.deepEqual(runner.calls.map(norm), [
    ['skopeo', '--registries-conf', '$TMP/registries.conf', 'inspect', '--raw', '--no-creds', 'docker://registry.example.com/os/base:41'],
    ['skopeo', '--registries-conf', '$TMP/registries.conf', 'inspect', '--raw', '--no-creds', `docker://registry.example.com/os/base@${manifestDigest}`],
  ]);
}, [(a) => (isInspect(a) ? { stdout: index } : undefined), (a) => (isInspect(a) ? { stdout: manifest } : undefined)]));

test('fetchManifest refuses an instance whose digest is not the one the index names', withHost(async (host) => {
  await assert.rejects(fetchManifest(host, REF, { arch: 'amd64' }), (e: unknown) => {
    assert.equal(formatErrorChain(e), `Fetching manifest of registry.example.com/os/base:41: the manifest for linux/amd64 has digest ${sha256Digest(armManifest)}, the index says ${manifestDigest}`);
    return true;
  });
}, [() => ({ stdout: index }), () => ({ stdout: armManifest })]));

test('transient failures are retried with backoff, then succeed; the retry is logged', withHost(async (host, runner) => {
  const m = await fetchManifest(host, REF, { retry: { attempts: 3, baseDelayMs: 1 } });
  assert.equal(m.manifestDigest, manifestDigest);
  assert.equal(runner.calls.length, 3);
  assert.deepEqual(host.log.lines.filter((l) => l.startsWith('warning:')), [
    'warning: Fetching registry.example.com/os/base:41: attempt 1 of 3 failed (registry registry.example.com unreachable: pinging container registry registry.example.com: Get "https://registry.example.com/v2/": dial tcp 10.0.0.1:443: connect: connection refused); retrying in 0.001 s',
    'warning: Fetching registry.example.com/os/base:41: attempt 2 of 3 failed (registry registry.example.com unreachable after 2 attempts: reading blob sha256:00: unexpected EOF); retrying in 0.002 s',
  ]);
}, [
  () => ({ exitCode: 1, stderr: 'time="2026-01-01T00:00:00Z" level=fatal msg="Error parsing image name \\"docker://registry.example.com/os/base:41\\": pinging container registry registry.example.com: Get \\"https://registry.example.com/v2/\\": dial tcp 10.0.0.1:443: connect: connection refused"\n' }),
  () => ({ exitCode: 1, stderr: 'time="x" level=fatal msg="reading blob sha256:00: unexpected EOF"\n' }),
  () => ({ stdout: manifest }),
]));

test('an authentication failure is not retried and names the registry in one line', withHost(async (host, runner) => {
  await assert.rejects(fetchManifest(host, REF, { retry: { attempts: 4, baseDelayMs: 1 } }), (e: unknown) => {
    assert.equal(formatErrorChain(e), 'Fetching manifest of registry.example.com/os/base:41: registry registry.example.com requires authentication and no auth file was found (looked in --authfile, /run/ostree/auth.json, /etc/ostree/auth.json, /usr/lib/ostree/auth.json, $XDG_RUNTIME_DIR/containers/auth.json)');
    assert.equal((rootCause(e) as FetchError).kind, 'auth');
    return true;
  });
  assert.equal(runner.calls.length, 1);
}, [() => ({ exitCode: 1, stderr: 'time="x" level=fatal msg="Error parsing image name \\"docker://registry.example.com/os/base:41\\": reading manifest 41 in registry.example.com/os/base: unauthorized: authentication required"\n' })]));

test('fetchImage copies the inspected digest, verifies every blob and renames into place', withHost(async (host, runner, _root, work) => {
  const dest = path.join(work, 'dest');
  const got = await fetchImage(host, REF, { destDir: dest, arch: 'amd64' });
  assert.deepEqual(got, {
    manifestDigest,
    rawManifest: manifest,
    configDigest: config.digest,
    rawConfig: config.bytes,
    layers: [layerA, layerB].map((l) => ({ digest: l.digest, size: l.size, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', path: path.join(dest, hex(l.digest)) })),
    dir: dest,
  });
  assert.deepEqual(runner.calls.map(norm), [
    ['skopeo', '--registries-conf', '$STAGE/registries.conf', 'inspect', '--raw', '--no-creds', 'docker://registry.example.com/os/base:41'],
    ['skopeo', '--registries-conf', '$STAGE/registries.conf', '--insecure-policy', 'copy', '--quiet', '--src-no-creds', `docker://registry.example.com/os/base@${manifestDigest}`, 'dir:$STAGE/image'],
  ]);
  assert.deepEqual(readdirSync(work), ['dest']);
  assert.deepEqual(readdirSync(dest).sort(), [...goodFiles.map(([n]) => n), 'version'].sort());
}, [(a) => (isInspect(a) ? { stdout: manifest } : undefined), (a) => (isCopy(a) ? { effect: writeDirImage(goodFiles) } : undefined)]));

test('a blob that does not match its descriptor fails the fetch and leaves nothing behind', withHost(async (host, _runner, _root, work) => {
  const dest = path.join(work, 'dest');
  await assert.rejects(fetchImage(host, REF, { destDir: dest }), (e: unknown) => {
    assert.equal(formatErrorChain(e), `Fetching registry.example.com/os/base:41: layer ${layerB.digest}: content has digest ${sha256Digest(Buffer.from('layer B bytez'))}`);
    return true;
  });
  assert.deepEqual(readdirSync(work), []);
}, [() => ({ stdout: manifest }), () => ({ effect: writeDirImage(goodFiles.map(([n, b]) => [n, n === hex(layerB.digest) ? Buffer.from('layer B bytez') : b])) })]));

test("layerCheck 'size' leaves each layer's sha256 to the reader, but still checks sizes and the config", withHost(async (host, _runner, _root, work) => {
  const dest = path.join(work, 'dest');
  const got = await fetchImage(host, REF, { destDir: dest, layerCheck: 'size' });
  assert.deepEqual(got.layers.map((l) => l.path), [layerA, layerB].map((l) => path.join(dest, hex(l.digest))));
  const store = openDirStore(dest);
  const read = async (d: typeof layerA) => {
    const parts: Buffer[] = [];
    for await (const c of verifiedBlob(store, { mediaType: 'x', digest: d.digest, size: d.size })) parts.push(c);
    return Buffer.concat(parts).toString();
  };
  assert.equal(await read(layerA), 'layer A');
  await assert.rejects(read(layerB), (e: unknown) => {
    assert.equal(formatErrorChain(e), `blob ${layerB.digest} in dir:${dest}: content digest is ${sha256Digest(Buffer.from('layer B bytez'))}, not the digest its descriptor names`);
    return true;
  });
  rmSync(dest, { recursive: true });
  await assert.rejects(fetchImage(host, REF, { destDir: dest, layerCheck: 'size' }), (e: unknown) => {
    assert.equal(formatErrorChain(e), `Fetching registry.example.com/os/base:41: layer ${layerB.digest}: size 5, expected ${layerB.size}`);
    return true;
  });
  await assert.rejects(fetchImage(host, REF, { destDir: dest, layerCheck: 'size' }), (e: unknown) => {
    assert.equal(formatErrorChain(e), `Fetching registry.example.com/os/base:41: config ${config.digest}: content has digest ${sha256Digest(Buffer.from(config.bytes.toString().replace('amd64', 'arm64')))}`);
    return true;
  });
  assert.deepEqual(readdirSync(work), []);
}, [
  () => ({ stdout: manifest }),
  // Same length as 'layer B bytes': only a content hash can tell them apart.
  () => ({ effect: writeDirImage(goodFiles.map(([n, b]) => [n, n === hex(layerB.digest) ? Buffer.from('layer B bytez') : b])) }),
  () => ({ stdout: manifest }),
  () => ({ effect: writeDirImage(goodFiles.map(([n, b]) => [n, n === hex(layerB.digest) ? Buffer.from('short') : b])) }),
  () => ({ stdout: manifest }),
  () => ({ effect: writeDirImage(goodFiles.map(([n, b]) => [n, n === hex(config.digest) ? Buffer.from(b.toString().replace('amd64', 'arm64')) : b])) }),
]));

test('partial fetches left by a killed run are removed before a new fetch', withHost(async (host, _runner, _root, work) => {
  const dest = path.join(work, 'dest');
  mkdirSync(path.join(work, '.dest.partial-abc123', 'image'), { recursive: true });
  writeFileSync(path.join(work, '.dest.partial-abc123', 'image', 'dir-put-blob1'), 'half');
  mkdirSync(path.join(work, '.other.partial-keep'));
  await fetchImage(host, REF, { destDir: dest });
  assert.deepEqual(readdirSync(work).sort(), ['.other.partial-keep', 'dest']);
  assert.deepEqual(host.log.lines.filter((l) => l.startsWith('removing')), [`removing the partial fetch ${path.join(work, '.dest.partial-abc123')} left by an interrupted run`]);
}, [() => ({ stdout: manifest }), () => ({ effect: writeDirImage(goodFiles) })]));

test('a reference pinned by digest must get a manifest with that digest', withHost(async (host) => {
  const pinned: ImageRef = { ...REF, image: `registry.example.com/os/base@${manifestDigest}` };
  await assert.rejects(fetchManifest(host, pinned), (e: unknown) => {
    assert.equal(formatErrorChain(e), `Fetching manifest of registry.example.com/os/base@${manifestDigest}: the registry served a manifest with digest ${sha256Digest(armManifest)} for ${manifestDigest}`);
    return true;
  });
}, [() => ({ stdout: armManifest })]));

test('a non-empty destination is refused before anything runs', withHost(async (host, runner, _root, work) => {
  const dest = path.join(work, 'dest');
  mkdirSync(dest);
  writeFileSync(path.join(dest, 'x'), '');
  await assert.rejects(fetchImage(host, REF, { destDir: dest }), (e: unknown) => formatErrorChain(e) === `Fetching registry.example.com/os/base:41: destination ${dest} exists and is not empty`);
  assert.deepEqual(runner.calls, []);
}, []));

test('measureDirProgress: finished blobs count whole, the one partial file belongs to the first unfinished layer', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-progress-'));
  try {
    const layers = [layerA, layerB].map((l) => ({ mediaType: 'x', digest: l.digest, size: l.size }));
    assert.deepEqual(await measureDirProgress(path.join(dir, 'missing'), layers), [
      { digest: layerA.digest, size: layerA.size, bytes: 0 },
      { digest: layerB.digest, size: layerB.size, bytes: 0 },
    ]);
    writeFileSync(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
    writeFileSync(path.join(dir, 'dir-put-blob123'), 'lay');
    assert.deepEqual((await measureDirProgress(dir, layers)).map((l) => l.bytes), [3, 0]);
    rmSync(path.join(dir, 'dir-put-blob123'));
    writeFileSync(path.join(dir, hex(layerA.digest)), layerA.bytes);
    writeFileSync(path.join(dir, 'dir-put-blob456'), 'layer');
    assert.deepEqual((await measureDirProgress(dir, layers)).map((l) => l.bytes), [layerA.size, 5]);
    writeFileSync(path.join(dir, 'dir-put-blob789'), 'x');
    assert.deepEqual((await measureDirProgress(dir, layers)).map((l) => l.bytes), [layerA.size, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
