import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { displayImageRef, formatOriginImageRef, imageRefForSwitch, parseContainersImageRef, parseOriginImageRef, splitRegistryName, toContainersImageRef, toSpecImageRef, withTag } from './ref.js';

test('origin references round-trip in every ostree-ext spelling', () => {
  const cases: Array<[string, object, string]> = [
    ['ostree-unverified-image:docker://quay.io/example/os:latest', { transport: 'registry', image: 'quay.io/example/os:latest', signature: { kind: 'insecure' } }, 'ostree-unverified-image:docker://quay.io/example/os:latest'],
    ['ostree-unverified-registry:quay.io/example/os:42', { transport: 'registry', image: 'quay.io/example/os:42', signature: { kind: 'insecure' } }, 'ostree-unverified-image:docker://quay.io/example/os:42'],
    ['ostree-image-signed:docker://quay.io/x/y@sha256:ab', { transport: 'registry', image: 'quay.io/x/y@sha256:ab', signature: { kind: 'containerPolicy' } }, 'ostree-image-signed:docker://quay.io/x/y@sha256:ab'],
    ['ostree-unverified-image:oci:/var/tmp/layout:v2', { transport: 'oci', image: '/var/tmp/layout:v2', signature: { kind: 'insecure' } }, 'ostree-unverified-image:oci:/var/tmp/layout:v2'],
    ['ostree-unverified-image:containers-storage:localhost/bootc', { transport: 'containers-storage', image: 'localhost/bootc', signature: { kind: 'insecure' } }, 'ostree-unverified-image:containers-storage:localhost/bootc'],
    ['ostree-unverified-image:oci-archive:/srv/img.tar', { transport: 'oci-archive', image: '/srv/img.tar', signature: { kind: 'insecure' } }, 'ostree-unverified-image:oci-archive:/srv/img.tar'],
    ['ostree-remote-image:fedora:docker://quay.io/f/c', { transport: 'registry', image: 'quay.io/f/c', signature: { kind: 'ostreeRemote', remote: 'fedora' } }, 'ostree-remote-image:fedora:docker://quay.io/f/c'],
  ];
  for (const [text, parsed, formatted] of cases) {
    const r = parseOriginImageRef(text);
    assert.deepEqual(r, parsed, text);
    assert.equal(formatOriginImageRef(r), formatted);
  }
});

test('bad origin references name the value and what was expected', () => {
  assert.throws(() => parseOriginImageRef('docker://quay.io/x'), {
    message: "invalid image reference 'docker://quay.io/x': expected an ostree-unverified-image:, ostree-image-signed: or ostree-remote-image: prefix",
  });
  assert.throws(() => parseOriginImageRef('ostree-unverified-image:ftp:x'), /invalid image reference 'ftp:x': expected TRANSPORT:NAME/);
  assert.throws(() => parseOriginImageRef('ostree-unverified-image:docker://'), /invalid image reference 'docker:\/\/': empty name/);
});

test('switch targets, spec and display forms', () => {
  const r = imageRefForSwitch('quay.io/a/b:1', 'registry', false);
  assert.deepEqual(toSpecImageRef(r), { image: 'quay.io/a/b:1', transport: 'registry' });
  assert.equal(toContainersImageRef(r), 'docker://quay.io/a/b:1');
  assert.equal(displayImageRef(r), 'quay.io/a/b:1');
  const o = imageRefForSwitch('/srv/oci:v1', 'oci', true);
  assert.deepEqual(toSpecImageRef(o), { image: '/srv/oci:v1', transport: 'oci', signature: 'containerPolicy' });
  assert.equal(displayImageRef(o), 'oci:/srv/oci:v1');
  assert.deepEqual(imageRefForSwitch('docker://quay.io/a/b', 'registry', false).image, 'quay.io/a/b');
  assert.throws(() => imageRefForSwitch('x', 'ftp', false), /unknown transport 'ftp'/);
  assert.deepEqual(parseContainersImageRef('docker-daemon:x:1'), { transport: 'docker-daemon', image: 'x:1' });
});

test('tags are replaced as upgrade --tag does', () => {
  assert.deepEqual(splitRegistryName('localhost:5000/a/b:v1@sha256:00'), { repository: 'localhost:5000/a/b', tag: 'v1', digest: 'sha256:00' });
  assert.deepEqual(splitRegistryName('localhost:5000/a'), { repository: 'localhost:5000/a', tag: undefined, digest: undefined });
  const base = imageRefForSwitch('localhost:5000/os:v1', 'registry', false);
  assert.equal(withTag(base, 'v2').image, 'localhost:5000/os:v2');
  assert.equal(withTag(imageRefForSwitch('quay.io/os@sha256:aa', 'registry', false), 'v3').image, 'quay.io/os:v3');
  assert.equal(withTag(imageRefForSwitch('/srv/layout:v1', 'oci', false), 'v2').image, '/srv/layout:v2');
  assert.equal(withTag(imageRefForSwitch('/srv/layout', 'oci', false), 'v2').image, '/srv/layout:v2');
  assert.throws(() => withTag(base, 'bad tag'), /invalid tag 'bad tag'/);
});
