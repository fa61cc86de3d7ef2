import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { formatIni, formatNewOrigin, formatOriginWithBootDigest, parseImgInfo, parseIni, parseOrigin } from './origin.js';

const D = 'a'.repeat(64);
const M = 'sha256:' + 'b'.repeat(64);
const GOLDEN =
  '[origin]\ncontainer-image-reference = ostree-unverified-image:docker://quay.io/example/os:latest\n\n' +
  `[boot]\nboot_type = bls\ndigest = ${D}\n\n[image]\nmanifest_digest = ${M}`;

test('origin: formatNewOrigin writes bootc bytes (space-equals-space, blank line between sections, no trailing newline)', () => {
  const text = formatNewOrigin({ imageReference: 'ostree-unverified-image:docker://quay.io/example/os:latest', bootType: 'bls', bootDigest: D, manifestDigest: M });
  assert.equal(text, GOLDEN);
});

test('origin: parse tolerates key=value without spaces, comments and CRLF, and round-trips', () => {
  const loose = '# written by hand\r\n[origin]\r\ncontainer-image-reference=ostree-unverified-image:docker://quay.io/example/os:latest\r\n[boot]\r\nboot_type=bls\r\ndigest =' + D + '\r\n[image]\r\nmanifest_digest= ' + M + '\r\n';
  const o = parseOrigin(loose);
  assert.deepEqual(
    { ref: o.imageReference, bt: o.bootType, d: o.bootDigest, m: o.manifestDigest },
    { ref: 'ostree-unverified-image:docker://quay.io/example/os:latest', bt: 'bls', d: D, m: M },
  );
  assert.equal(formatIni(o.doc), GOLDEN);
  assert.equal(formatIni(parseIni(GOLDEN)), GOLDEN);
});

test('origin: unknown keys survive the UKI digest back-fill, which adds the key in place', () => {
  const text = '[origin]\ncontainer-image-reference = ostree-unverified-image:oci:/srv/img\nx-local = 1\n\n[boot]\nboot_type = uki\n\n[image]\nmanifest_digest = ' + M;
  const out = formatOriginWithBootDigest(parseOrigin(text), D);
  assert.equal(out, '[origin]\ncontainer-image-reference = ostree-unverified-image:oci:/srv/img\nx-local = 1\n\n[boot]\nboot_type = uki\ndigest = ' + D + '\n\n[image]\nmanifest_digest = ' + M);
});

test('origin: a pre-1.16 origin has no [image] section and no digest', () => {
  const o = parseOrigin('[origin]\ncontainer-image-reference = ostree-unverified-image:docker://q/x\n\n[boot]\nboot_type = uki');
  assert.equal(o.manifestDigest, undefined);
  assert.equal(o.bootDigest, undefined);
  assert.equal(o.bootType, 'uki');
});

test('origin: malformed input names the problem', () => {
  assert.throws(() => parseOrigin('[origin]\ncontainer-image-reference = x'), /missing \[boot\] boot_type/);
  assert.throws(() => parseOrigin('[boot]\nboot_type = ostree'), /unknown boot_type 'ostree'/);
  assert.throws(() => parseOrigin('[boot\nboot_type = bls'), /line 1: malformed section header/);
  assert.throws(() => parseOrigin('[boot]\njust words'), /line 2: expected 'key = value'/);
  assert.throws(() => parseOrigin('boot_type = bls'), /line 1: key outside of a section/);
});

test('imginfo: imageDigest is bare hex sha256 of the compact manifest JSON (bootc quirk: no sha256: prefix)', () => {
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: 'sha256:' + 'c'.repeat(64), size: 7 }, layers: [] };
  const text = JSON.stringify({ config: { architecture: 'amd64', created: '2025-01-02T03:04:05Z' }, manifest });
  const info = parseImgInfo(text);
  assert.equal(info.imageDigest, createHash('sha256').update(JSON.stringify(manifest)).digest('hex'));
  assert.match(info.imageDigest, /^[0-9a-f]{64}$/);
  assert.throws(() => parseImgInfo('{"config":{}}'), /expected an object with "config" and "manifest"/);
  assert.throws(() => parseImgInfo('nope'), /invalid JSON/);
});
