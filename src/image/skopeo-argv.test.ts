import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { copyToDirArgv, inspectRawArgv, sourceImageRef } from './skopeo-argv.js';
import type { ContainersConfig } from './containers-config.js';
import type { ImageRef } from './ref.js';

const D = 'sha256:' + 'ab'.repeat(32);
const base: ContainersConfig = {
  registriesConf: '/r/etc/containers/registries.conf',
  registriesConfHostPath: '/etc/containers/registries.conf',
  authfile: undefined,
  noCreds: false,
  policy: { kind: 'insecure' },
};
const reg = (image: string): ImageRef => ({ transport: 'registry', image, signature: { kind: 'insecure' } });

test('copy from a registry: by digest, registries.conf, insecure policy, no TLS or credential flags', () => {
  assert.deepEqual(copyToDirArgv(base, reg('quay.io/x/y:v1'), '/w/stage', { digest: D }), [
    'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', '--insecure-policy', 'copy', '--quiet', `docker://quay.io/x/y@${D}`, 'dir:/w/stage',
  ]);
});

test('copy with an auth file, an enforced policy and an architecture override', () => {
  const cfg: ContainersConfig = { ...base, authfile: '/r/run/ostree/auth.json', policy: { kind: 'file', path: '/r/etc/containers/policy.json' } };
  assert.deepEqual(copyToDirArgv(cfg, reg('127.0.0.1:5000/test:v2@' + D), '/w/s', { digest: D, arch: 'arm64' }), [
    'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', '--policy', '/r/etc/containers/policy.json', '--override-arch', 'arm64',
    'copy', '--quiet', '--src-authfile', '/r/run/ostree/auth.json', `docker://127.0.0.1:5000/test@${D}`, 'dir:/w/s',
  ]);
});

test('no credentials found under a non-/ Root: --src-no-creds / --no-creds', () => {
  const cfg: ContainersConfig = { ...base, noCreds: true };
  assert.deepEqual(copyToDirArgv(cfg, reg('localhost:5000/a:b'), '/w/s'), [
    'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', '--insecure-policy', 'copy', '--quiet', '--src-no-creds', 'docker://localhost:5000/a:b', 'dir:/w/s',
  ]);
  assert.deepEqual(inspectRawArgv(cfg, reg('localhost:5000/a:b')), [
    'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', 'inspect', '--raw', '--no-creds', 'docker://localhost:5000/a:b',
  ]);
});

test('inspect --raw: no policy flag, --authfile for registries, by digest when asked', () => {
  const cfg: ContainersConfig = { ...base, authfile: '/etc/auth.json' };
  assert.deepEqual(inspectRawArgv(cfg, reg('quay.io/x/y:v1')), [
    'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', 'inspect', '--raw', '--authfile', '/etc/auth.json', 'docker://quay.io/x/y:v1',
  ]);
  assert.deepEqual(inspectRawArgv(cfg, reg('quay.io/x/y:v1'), D), [
    'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', 'inspect', '--raw', '--authfile', '/etc/auth.json', `docker://quay.io/x/y@${D}`,
  ]);
});

test('local transports: never credentials, never by digest, the containers-image spelling', () => {
  const cfg: ContainersConfig = { ...base, authfile: '/etc/auth.json', noCreds: true };
  const cases: Array<[ImageRef['transport'], string, string]> = [
    ['oci', '/srv/layout:v1', 'oci:/srv/layout:v1'],
    ['oci-archive', '/srv/img.tar:v1', 'oci-archive:/srv/img.tar:v1'],
    ['dir', '/srv/dir', 'dir:/srv/dir'],
    ['containers-storage', 'localhost/bootc:latest', 'containers-storage:localhost/bootc:latest'],
    ['docker-daemon', 'bootc:latest', 'docker-daemon:bootc:latest'],
  ];
  for (const [transport, image, want] of cases) {
    const ref: ImageRef = { transport, image, signature: { kind: 'insecure' } };
    assert.equal(sourceImageRef(ref, D), want);
    assert.deepEqual(copyToDirArgv(cfg, ref, '/w/s', { digest: D }), [
      'skopeo', '--registries-conf', '/r/etc/containers/registries.conf', '--insecure-policy', 'copy', '--quiet', want, 'dir:/w/s',
    ]);
    assert.deepEqual(inspectRawArgv(cfg, ref), ['skopeo', '--registries-conf', '/r/etc/containers/registries.conf', 'inspect', '--raw', want]);
  }
});

test('--src-tls-verify / --tls-verify are never passed (they would override registries.conf insecure and mirrors)', () => {
  const all = [
    copyToDirArgv(base, reg('quay.io/x:1'), '/w'),
    copyToDirArgv({ ...base, authfile: '/a' }, reg('quay.io/x:1'), '/w', { digest: D, arch: 'amd64' }),
    inspectRawArgv(base, reg('quay.io/x:1')),
  ].flat();
  assert.deepEqual(all.filter((a) => a.includes('tls-verify')), []);
});

test('a registry name with both a tag and a digest is used by its digest', () => {
  assert.equal(sourceImageRef(reg(`quay.io/x/y:v1@${D}`), undefined), `docker://quay.io/x/y@${D}`);
  assert.equal(sourceImageRef(reg('quay.io/x/y:v1'), undefined), 'docker://quay.io/x/y:v1');
  assert.equal(sourceImageRef(reg(`quay.io/x/y@${D}`), undefined), `docker://quay.io/x/y@${D}`);
});
