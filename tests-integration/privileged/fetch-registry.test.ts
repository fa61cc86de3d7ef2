/**
 * fetchImage / fetchManifest against a real local registry (docker-registry
 * on 127.0.0.1) and against the oci:, oci-archive: and dir: transports:
 * digests and raw bytes equal what was pushed and what the registry serves,
 * registries.conf / auth / policy come from the Root, a registry killed
 * mid-pull leaves nothing behind and a retry completes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { fetchImage, fetchManifest, type FetchedImage } from '../../src/image/fetch.js';
import { FetchError } from '../../src/image/fetch-errors.js';
import { formatSize } from '../../src/image/manifest-diff.js';
import type { ImageRef } from '../../src/image/ref.js';
import { formatErrorChain, rootCause } from '../../src/util/errors.js';
import { REPO_ROOT } from '../helpers/run-cli.js';
import { testHost, writeUnder } from '../helpers/host.js';
import { addIndex, authJson, buildImage, insecureRegistriesConf, noise, pushImage, readBlob, run, type BuiltImage, type FileSpec } from '../helpers/oci-image.js';
import { registryUnavailable, withRegistry, type Registry } from '../helpers/registry.js';
import { privilegedSkipReason } from '../helpers/tools.js';

const skip = privilegedSkipReason(['skopeo', 'umoci', 'htpasswd']) ?? registryUnavailable();
if (skip !== undefined) console.log(`# skipping fetch-registry tests: ${skip}`);
const ptest = (name: string, fn: () => Promise<void>) => test(name, { skip: skip ?? false }, fn);

const FAST_RETRY = { attempts: 2, baseDelayMs: 50 };
const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const V1: FileSpec[][] = [
  [{ path: 'usr/lib/os-release', content: 'NAME="TestOS"\nID=testos\nVERSION_ID=1\n' }],
  [{ path: 'usr/share/test/data', content: 'version one\n' }],
];
const V2: FileSpec[][] = [...V1, [{ path: 'etc/version', content: 'v2\n' }]];

function scratch(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

function registryRef(reg: Registry, name: string): ImageRef {
  return { transport: 'registry', image: `${reg.host}/${name}`, signature: { kind: 'insecure' } };
}

/** The manifest bytes the registry serves for `reference` (tag or digest). */
async function servedManifest(reg: Registry, repo: string, reference: string): Promise<{ raw: Buffer; digest: string | null }> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${reference}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(r.status, 200);
  return { raw: Buffer.from(await r.arrayBuffer()), digest: r.headers.get('docker-content-digest') };
}

/** The whole FetchedImage a fetch of `built` (from `layout`) into `dest` must return. */
function expected(layout: string, built: BuiltImage, dest: string): FetchedImage {
  return {
    manifestDigest: built.manifestDigest,
    rawManifest: built.rawManifest,
    configDigest: built.configDigest,
    rawConfig: readBlob(layout, built.configDigest),
    layers: built.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, path: path.join(dest, l.digest.slice('sha256:'.length)) })),
    dir: dest,
  };
}

function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** A root with registries.conf marking `reg` insecure. */
function insecureRoot(reg: Registry): string {
  const root = scratch('tsbootc-fetch-root-');
  writeUnder(root, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
  return root;
}

async function withDirs<T>(fn: (d: { layout: string; root: string; work: string; conf: string }) => Promise<T>, reg?: Registry): Promise<T> {
  const layout = path.join(scratch('tsbootc-layout-'), 'oci');
  const root = reg !== undefined ? insecureRoot(reg) : scratch('tsbootc-fetch-root-');
  const work = scratch('tsbootc-fetch-work-');
  try {
    return await fn({ layout, root, work, conf: path.join(root, 'etc/containers/registries.conf') });
  } finally {
    for (const d of [path.dirname(layout), root, work]) rmSync(d, { recursive: true, force: true });
  }
}

ptest('fetches v1 then v2 by tag with the digests pushed and the bytes the registry serves', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const v1 = await buildImage(layout, 'v1', { layers: V1, labels: { 'containers.bootc': '1' } });
      const v2 = await buildImage(layout, 'v2', { layers: V2, labels: { 'containers.bootc': '1' } });
      assert.equal(await pushImage(layout, 'v1', `docker://${reg.host}/test:v1`, { registriesConf: conf }), v1.manifestDigest);
      assert.equal(await pushImage(layout, 'v2', `docker://${reg.host}/test:v2`, { registriesConf: conf }), v2.manifestDigest);
      const host = testHost(root);

      for (const built of [v1, v2]) {
        const ref = registryRef(reg, `test:${built.tag}`);
        const served = await servedManifest(reg, 'test', built.tag);
        assert.deepEqual(served, { raw: built.rawManifest, digest: built.manifestDigest });
        const m = await fetchManifest(host, ref);
        assert.deepEqual(m, { manifestDigest: built.manifestDigest, rawManifest: served.raw, config: JSON.parse(built.rawManifest.toString()).config, layers: built.layers });
        const dest = path.join(work, built.tag);
        const got = await fetchImage(host, ref, { destDir: dest });
        assert.deepEqual(got, expected(layout, built, dest));
        assert.deepEqual(listing(dest), [...built.layers.map((l) => l.digest.slice(7)), built.configDigest.slice(7), 'manifest.json', 'version'].sort());
        for (const l of got.layers) assert.deepEqual(readFileSync(l.path), readBlob(layout, l.digest));
      }
      assert.deepEqual(v2.layers.map((l) => l.mediaType), [MEDIA_LAYER, MEDIA_LAYER, MEDIA_LAYER]);
      assert.deepEqual(v2.layers.slice(0, 2), v1.layers);
      assert.deepEqual(listing(work), ['v1', 'v2']);
      await assert.rejects(fetchImage(host, registryRef(reg, 'test:v3'), { destDir: path.join(work, 'v3') }), (e: unknown) => {
        assert.equal(formatErrorChain(e), `Fetching ${reg.host}/test:v3: ${reg.host}/test:v3 not found in registry ${reg.host}: manifest unknown`);
        return true;
      });
      assert.deepEqual(listing(work), ['v1', 'v2']);
    }, reg),
  );
});

ptest('the same tag re-pushed with new content has a new manifest digest', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const v1 = await buildImage(layout, 'v1', { layers: V1 });
      const v2 = await buildImage(layout, 'v2', { layers: V2 });
      const host = testHost(root);
      const ref = registryRef(reg, 'moving:latest');
      await pushImage(layout, 'v1', `docker://${reg.host}/moving:latest`, { registriesConf: conf });
      assert.equal((await fetchManifest(host, ref)).manifestDigest, v1.manifestDigest);
      await pushImage(layout, 'v2', `docker://${reg.host}/moving:latest`, { registriesConf: conf });
      assert.equal((await fetchManifest(host, ref)).manifestDigest, v2.manifestDigest);
      assert.notEqual(v1.manifestDigest, v2.manifestDigest);
      const dest = path.join(work, 'img');
      assert.deepEqual(await fetchImage(host, ref, { destDir: dest }), expected(layout, v2, dest));
    }, reg),
  );
});

ptest('a registry requiring auth: one clear line without credentials, auth.json from the Root or --authfile works', async () => {
  await withRegistry({ auth: { user: 'tester', password: 's3cret' } }, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const v1 = await buildImage(layout, 'v1', { layers: V1 });
      const pushAuth = path.join(work, 'push-auth.json');
      writeUnder(work, 'push-auth.json', authJson(reg.host, 'tester', 's3cret'));
      await pushImage(layout, 'v1', `docker://${reg.host}/private:v1`, { registriesConf: conf, authfile: pushAuth });
      const ref = registryRef(reg, 'private:v1');
      const host = testHost(root);

      const err = await fetchImage(host, ref, { destDir: path.join(work, 'a'), retry: FAST_RETRY }).then(() => undefined, (e: unknown) => e);
      assert.equal(
        formatErrorChain(err),
        `Fetching ${reg.host}/private:v1: registry ${reg.host} requires authentication and no auth file was found ` +
          '(looked in --authfile, /run/ostree/auth.json, /etc/ostree/auth.json, /usr/lib/ostree/auth.json, $XDG_RUNTIME_DIR/containers/auth.json)',
      );
      assert.equal((rootCause(err) as FetchError).kind, 'auth');

      const wrong = writeUnder(work, 'wrong.json', authJson(reg.host, 'tester', 'nope'));
      const err2 = await fetchManifest(host, ref, { authfile: wrong }).then(() => undefined, (e: unknown) => e);
      assert.equal(formatErrorChain(err2), `Fetching manifest of ${reg.host}/private:v1: registry ${reg.host} requires authentication and the credentials in ${wrong} were refused`);

      const dest = path.join(work, 'b');
      assert.deepEqual(await fetchImage(host, ref, { destDir: dest, authfile: pushAuth }), expected(layout, v1, dest));

      writeUnder(root, '/etc/ostree/auth.json', authJson(reg.host, 'tester', 's3cret'));
      const dest2 = path.join(work, 'c');
      assert.deepEqual(await fetchImage(host, ref, { destDir: dest2 }), expected(layout, v1, dest2));
      for (const line of host.log.lines) assert.ok(!line.includes('s3cret') && !line.includes(Buffer.from('tester:s3cret').toString('base64')), line);
      assert.deepEqual(listing(work), ['b', 'c', 'push-auth.json', 'wrong.json']);
    }, reg),
  );
});

ptest('a plain-HTTP registry is refused until registries.conf marks it insecure', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, work }) => {
      const v1 = await buildImage(layout, 'v1', { layers: V1 });
      const pushConf = writeUnder(work, 'push.conf', insecureRegistriesConf(reg.host));
      await pushImage(layout, 'v1', `docker://${reg.host}/test:v1`, { registriesConf: pushConf });
      const root = scratch('tsbootc-fetch-root-');
      try {
        const host = testHost(root);
        const ref = registryRef(reg, 'test:v1');
        const err = await fetchImage(host, ref, { destDir: path.join(work, 'x'), retry: FAST_RETRY }).then(() => undefined, (e: unknown) => e);
        assert.equal(
          formatErrorChain(err),
          `Fetching ${reg.host}/test:v1: registry ${reg.host} failed TLS verification (http: server gave HTTP response to HTTPS client); ` +
            'to allow plain HTTP or unverified TLS, mark it `insecure = true` in /etc/containers/registries.conf',
        );
        // A registries.conf for another registry does not make this one insecure.
        writeUnder(root, '/etc/containers/registries.conf', insecureRegistriesConf('127.0.0.1:1'));
        await assert.rejects(fetchManifest(host, ref), (e: unknown) => (rootCause(e) as FetchError).kind === 'tls');
        writeUnder(root, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
        const dest = path.join(work, 'ok');
        assert.deepEqual(await fetchImage(host, ref, { destDir: dest }), expected(layout, v1, dest));
        assert.deepEqual(listing(work), ['ok', 'push.conf']);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }),
  );
});

async function bigImage(layout: string): Promise<BuiltImage> {
  return buildImage(layout, 'big', { layers: [[{ path: 'usr/lib/os-release', content: 'ID=big\n' }], [{ path: 'usr/share/big/blob', content: noise(24 << 20, 'big') }]] });
}

ptest('registries.conf mirrors from the Root are used: a dead primary is served by its insecure mirror', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const v1 = await buildImage(layout, 'v1', { layers: V1 });
      await pushImage(layout, 'v1', `docker://${reg.host}/os/base:v1`, { registriesConf: conf });
      const dead = '127.0.0.1:9';
      writeUnder(root, '/etc/containers/registries.conf', `unqualified-search-registries = []\n\n[[registry]]\nlocation = "${dead}"\n\n[[registry.mirror]]\nlocation = "${reg.host}"\ninsecure = true\n`);
      const host = testHost(root);
      const ref = registryRef({ ...reg, host: dead }, 'os/base:v1');
      assert.equal((await fetchManifest(host, ref)).manifestDigest, v1.manifestDigest);
      const dest = path.join(work, 'm');
      assert.deepEqual(await fetchImage(host, ref, { destDir: dest }), expected(layout, v1, dest));
    }, reg),
  );
});

ptest('a registry killed mid-pull: error, nothing staged in destDir; once it is back a retry completes', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const big = await bigImage(layout);
      await pushImage(layout, 'big', `docker://${reg.host}/big:1`, { registriesConf: conf });
      const host = testHost(root);
      const ref = registryRef(reg, 'big:1');
      const dest = path.join(work, 'img');
      await fetchManifest(host, ref); // warm: the kill below lands in the layer download
      const killed = reg.killAfterBytes(4 << 20);
      const err = await fetchImage(host, ref, { destDir: dest, retry: FAST_RETRY }).then(() => undefined, (e: unknown) => e);
      await killed;
      const cause = rootCause(err) as FetchError;
      assert.ok(cause instanceof FetchError, formatErrorChain(err));
      assert.equal(cause.kind, 'transient', formatErrorChain(err));
      assert.match(formatErrorChain(err), new RegExp(`^Fetching ${reg.host}/big:1: registry ${reg.host} unreachable after 2 attempts: .*connection refused`));
      assert.deepEqual(listing(work), []);
      assert.equal(host.log.lines.filter((l) => l.startsWith(`warning: Fetching ${reg.host}/big:1: attempt 1 of 2 failed`)).length, 1);

      await reg.restart();
      assert.deepEqual(await fetchImage(host, ref, { destDir: dest, retry: FAST_RETRY }), expected(layout, big, dest));
      assert.deepEqual(listing(work), ['img']);
    }, reg),
  );
});

ptest('a registry that dies mid-pull and comes back within the backoff is retried to completion', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const big = await bigImage(layout);
      await pushImage(layout, 'big', `docker://${reg.host}/big:1`, { registriesConf: conf });
      const host = testHost(root);
      const ref = registryRef(reg, 'big:1');
      await fetchManifest(host, ref);
      const back = reg.killAfterBytes(4 << 20).then(() => new Promise((r) => setTimeout(r, 300))).then(() => reg.restart());
      const dest = path.join(work, 'img');
      const json: string[] = [];
      const tty: string[] = [];
      const progress = { json: (l: string) => json.push(l), human: { tty: true, write: (t: string) => tty.push(t) } };
      const got = await fetchImage(host, ref, { destDir: dest, retry: { attempts: 4, baseDelayMs: 1000 }, progress, pollIntervalMs: 20 });
      await back;
      assert.deepEqual(got, expected(layout, big, dest));
      // Progress across the retry: bytes never exceed the total, the last frame shows every layer done.
      const total = big.layers.reduce((n, l) => n + l.size, 0);
      const events = json.slice(1).map((l) => JSON.parse(l) as { bytes: number; bytesTotal: number });
      assert.ok(events.every((e) => e.bytesTotal === total && e.bytes <= total));
      assert.equal(events[events.length - 1]?.bytes, total);
      assert.equal(tty[tty.length - 1], `\x1b[2F${big.layers.map((l) => `\x1b[2Klayer ${l.digest.slice(7, 19)}: done\n`).join('')}`);
      assert.equal(host.log.lines.filter((l) => l.startsWith(`warning: Fetching ${reg.host}/big:1: attempt 1 of 4 failed`)).length, 1);
      assert.deepEqual(listing(work), ['img']);
    }, reg),
  );
});

ptest('oci:, oci-archive: and dir: transports are fetched with their manifests byte for byte', async () => {
  await withDirs(async ({ layout, root, work }) => {
    const v2 = await buildImage(layout, 'v2', { layers: V2 });
    const host = testHost(root);
    const archive = path.join(work, 'image.tar');
    const dirImage = path.join(work, 'dirimage');
    await run(['skopeo', '--insecure-policy', 'copy', '--quiet', `oci:${layout}:v2`, `oci-archive:${archive}:v2`]);
    await run(['skopeo', '--insecure-policy', 'copy', '--quiet', `oci:${layout}:v2`, `dir:${dirImage}`]);
    const refs: ImageRef[] = [
      { transport: 'oci', image: `${layout}:v2`, signature: { kind: 'insecure' } },
      { transport: 'oci-archive', image: `${archive}:v2`, signature: { kind: 'insecure' } },
      { transport: 'dir', image: dirImage, signature: { kind: 'insecure' } },
    ];
    for (const [i, ref] of refs.entries()) {
      const m = await fetchManifest(host, ref);
      assert.equal(m.manifestDigest, v2.manifestDigest);
      assert.deepEqual(m.rawManifest, v2.rawManifest);
      const dest = path.join(work, 'fetched', String(i));
      assert.deepEqual(await fetchImage(host, ref, { destDir: dest }), expected(layout, v2, dest));
    }
    assert.deepEqual(listing(path.join(work, 'fetched')), ['0', '1', '2']);
  });
});

ptest('an index picks the host architecture (or the one asked for) from a registry and an oci: layout', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      const amd = await buildImage(layout, 'amd', { layers: V1, arch: 'amd64' });
      const arm = await buildImage(layout, 'arm', { layers: [[{ path: 'etc/arch', content: 'arm64\n' }]], arch: 'arm64' });
      const index = addIndex(layout, 'multi', [{ tag: 'amd', arch: 'amd64' }, { tag: 'arm', arch: 'arm64' }]);
      assert.equal(await pushImage(layout, 'multi', `docker://${reg.host}/multi:1`, { registriesConf: conf, all: true }), index.digest);
      const host = testHost(root);
      const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;
      const native = hostArch === 'arm64' ? arm : amd;
      const archive = path.join(work, 'multi.tar');
      await run(['skopeo', '--insecure-policy', 'copy', '--quiet', '--multi-arch', 'all', `oci:${layout}:multi`, `oci-archive:${archive}:multi`]);
      const refs: ImageRef[] = [
        registryRef(reg, 'multi:1'),
        { transport: 'oci', image: `${layout}:multi`, signature: { kind: 'insecure' } },
        { transport: 'oci-archive', image: `${archive}:multi`, signature: { kind: 'insecure' } },
      ];
      for (const ref of refs) {
        const m = await fetchManifest(host, ref);
        assert.deepEqual({ d: m.manifestDigest, raw: m.rawManifest, index: m.indexDigest }, { d: native.manifestDigest, raw: native.rawManifest, index: index.digest });
        const m2 = await fetchManifest(host, ref, { arch: 'arm64' });
        assert.deepEqual({ d: m2.manifestDigest, raw: m2.rawManifest, index: m2.indexDigest }, { d: arm.manifestDigest, raw: arm.rawManifest, index: index.digest });
        const dest = path.join(work, `${ref.transport}-arm`);
        assert.deepEqual(await fetchImage(host, ref, { destDir: dest, arch: 'arm64' }), expected(layout, arm, dest));
        await assert.rejects(fetchManifest(host, ref, { arch: 's390x' }), (e: unknown) => {
          assert.equal(formatErrorChain(e).replace(/^.*?: /, ''), 'no image for linux/s390x in the index (it has: linux/amd64, linux/arm64)');
          return true;
        });
      }
    }, reg),
  );
});

ptest('a Docker schema 2 manifest keeps its bytes and digest (no conversion to OCI)', async () => {
  await withRegistry({}, async (reg) =>
    withDirs(async ({ layout, root, work, conf }) => {
      await buildImage(layout, 'v1', { layers: V1 });
      const digest = await pushImage(layout, 'v1', `docker://${reg.host}/docker:v1`, { registriesConf: conf, dockerFormat: true });
      const served = await servedManifest(reg, 'docker', 'v1');
      assert.equal(served.digest, digest);
      const got = await fetchImage(testHost(root), registryRef(reg, 'docker:v1'), { destDir: path.join(work, 'd') });
      assert.deepEqual({ d: got.manifestDigest, raw: got.rawManifest }, { d: digest, raw: served.raw });
      assert.equal(JSON.parse(got.rawManifest.toString()).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      assert.ok(got.layers.every((l) => statSync(l.path).size === l.size));
    }, reg),
  );
});

ptest('--enforce-container-sigpolicy uses the Root policy.json; without it the policy is not consulted', async () => {
  await withDirs(async ({ layout, root, work }) => {
    const v1 = await buildImage(layout, 'v1', { layers: V1 });
    writeUnder(root, '/etc/containers/policy.json', JSON.stringify({ default: [{ type: 'reject' }] }));
    const host = testHost(root);
    const ref: ImageRef = { transport: 'oci', image: `${layout}:v1`, signature: { kind: 'containerPolicy' } };
    const err = await fetchImage(host, ref, { destDir: path.join(work, 'a'), enforceSigpolicy: true }).then(() => undefined, (e: unknown) => e);
    assert.match(formatErrorChain(err), /^Fetching oci:.*:v1: skopeo: Source image rejected: Running image oci:.* is rejected by policy\.$/);
    assert.equal(existsSync(path.join(work, 'a')), false);
    const dest = path.join(work, 'b');
    assert.deepEqual(await fetchImage(host, ref, { destDir: dest }), expected(layout, v1, dest));
    writeUnder(root, '/etc/containers/policy.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const dest2 = path.join(work, 'c');
    assert.deepEqual(await fetchImage(host, ref, { destDir: dest2, enforceSigpolicy: true }), expected(layout, v1, dest2));
  });
});

ptest('--progress-fd lines validate against progress-v0 and the non-TTY summary is one line', async () => {
  await withDirs(async ({ layout, root, work }) => {
    const v2 = await buildImage(layout, 'v2', { layers: V2 });
    const schema = JSON.parse(readFileSync(path.join(REPO_ROOT, 'data', 'schemas', 'progress-v0.schema.json'), 'utf8')) as object;
    const ajv = new Ajv2020({ strict: false });
    ajv.addFormat('uint64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) && n >= 0 });
    const validate = ajv.compile(schema);
    const lines: string[] = [];
    const human: string[] = [];
    const host = testHost(root, { now: () => new Date(0) });
    const ref: ImageRef = { transport: 'oci', image: `${layout}:v2`, signature: { kind: 'insecure' } };
    await fetchImage(host, ref, { destDir: path.join(work, 'a'), progress: { json: (l) => lines.push(l), human: { tty: false, write: (t) => human.push(t) } } });
    const events = lines.map((l) => {
      assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'));
      const e = JSON.parse(l) as Record<string, unknown>;
      assert.ok(validate(e), JSON.stringify(validate.errors));
      return e;
    });
    const total = v2.layers.reduce((n, l) => n + l.size, 0);
    assert.deepEqual(events[0], { type: 'Start', version: 'org.containers.bootc.progress/v1' });
    assert.deepEqual(events[events.length - 1], {
      type: 'ProgressBytes', task: 'pulling', description: `Pulling Image: ${v2.manifestDigest}`, id: `oci:${layout}:v2`,
      bytesCached: 0, bytes: total, bytesTotal: total, stepsCached: 0, steps: 3, stepsTotal: 3,
      subtasks: v2.layers.map((l) => ({ subtask: 'layer', description: 'Layer', id: l.digest, bytesCached: 0, bytes: l.size, bytesTotal: l.size })),
    });
    assert.deepEqual(human, [`Fetched oci:${layout}:v2 (${v2.manifestDigest}): 3 layers, ${formatSize(total)} in 0.0 s\n`]);
    // quiet: no human output, JSON still written
    const quietHuman: string[] = [];
    const quietJson: string[] = [];
    await fetchImage(host, ref, { destDir: path.join(work, 'b'), quiet: true, progress: { json: (l) => quietJson.push(l), human: { tty: false, write: (t) => quietHuman.push(t) } } });
    assert.deepEqual(quietHuman, []);
    assert.ok(quietJson.length >= 2);
  });
});

ptest('a failed fetch leaves the destination parent exactly as it was', async () => {
  await withDirs(async ({ root, work }) => {
    const host = testHost(root);
    const ref: ImageRef = { transport: 'oci', image: `${path.join(work, 'nope')}:v1`, signature: { kind: 'insecure' } };
    const err = await fetchImage(host, ref, { destDir: path.join(work, 'dest'), retry: FAST_RETRY }).then(() => undefined, (e: unknown) => e);
    assert.equal((rootCause(err) as FetchError).kind, 'not-found', formatErrorChain(err));
    assert.deepEqual(listing(work), []);
  });
});
