import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { goArch, parseManifest, selectPlatform, sha256Digest } from './oci-manifest.js';

const d = (c: string) => 'sha256:' + c.repeat(64);
const entry = (c: string, architecture: string, variant?: string) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: d(c),
  size: 100,
  platform: { architecture, os: 'linux', ...(variant ? { variant } : {}) },
});

test('parseManifest: an OCI image manifest', () => {
  const raw = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('c'), size: 3 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 7 }],
  }));
  assert.deepEqual(parseManifest(raw), {
    kind: 'manifest',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('c'), size: 3 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 7 }],
  });
});

test('parseManifest: a Docker manifest list keeps its media type and platforms', () => {
  const raw = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [entry('a', 'amd64'), { ...entry('b', 'arm'), platform: undefined }] }));
  assert.deepEqual(parseManifest(raw), {
    kind: 'index',
    mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: [entry('a', 'amd64'), { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('b'), size: 100 }],
  });
});

test('parseManifest rejects what it cannot use, naming the field', () => {
  const bad: Array<[unknown, string]> = [
    [{ schemaVersion: 1 }, 'unsupported manifest schemaVersion 1'],
    [{ schemaVersion: 2 }, 'manifest has neither layers nor manifests'],
    [{ schemaVersion: 2, config: { digest: 'md5:x', size: 1 }, layers: [] }, 'config: unsupported digest "md5:x"'],
    [{ schemaVersion: 2, config: { digest: d('c'), size: -1 }, layers: [] }, 'config: bad size -1'],
  ];
  for (const [doc, msg] of bad) assert.throws(() => parseManifest(Buffer.from(JSON.stringify(doc))), { message: msg });
  assert.throws(() => parseManifest(Buffer.from('{')), { message: 'manifest is not JSON' });
});

test('selectPlatform: os+arch, variant preferred when asked, a clear error otherwise', () => {
  const idx = { kind: 'index' as const, mediaType: 'x', manifests: [entry('a', 'amd64'), entry('b', 'arm', 'v6'), entry('c', 'arm', 'v7'), entry('e', 'arm64')] };
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'amd64' }).digest, d('a'));
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d('c'));
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm' }).digest, d('b'));
  assert.throws(() => selectPlatform(idx, { os: 'linux', architecture: 'riscv64' }), { message: 'no image for linux/riscv64 in the index (it has: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64)' });
});

test('goArch maps Node architectures to GOARCH; sha256Digest', () => {
  assert.deepEqual(['x64', 'arm64', 'ia32', 'ppc64', 's390x', 'riscv64'].map(goArch), ['amd64', 'arm64', '386', 'ppc64le', 's390x', 'riscv64']);
  assert.equal(sha256Digest(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});
