import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { bootImageHost, tempLayout, writeTestImage } from '../testing/image-host.js';
import { repositoryImageMetadata } from './repo-access.js';
import { getStatus } from './status.js';

test('status reads image details from the repository; a missing manifest stream is a warning (bootc #2422)', async () => {
  const layout = tempLayout();
  const digest = await writeTestImage(layout, { version: '1', kernel: '1' });
  const h = await bootImageHost(layout);
  const images = repositoryImageMetadata(h.deps.repo);
  const ok = await getStatus(h.t.host(), { bootedOnly: false }, { images });
  images.close();
  assert.deepEqual(ok.warnings, []);
  assert.deepEqual(ok.host.status.booted?.image, {
    image: { image: layout, transport: 'oci' },
    version: null,
    timestamp: '2026-01-01T00:00:00Z',
    imageDigest: digest,
    architecture: 'amd64',
  });
  fs.rmSync(h.t.p(`/sysroot/composefs/streams/oci-manifest-${digest}`));
  const images2 = repositoryImageMetadata(h.deps.repo);
  const missing = await getStatus(h.t.host(), { bootedOnly: false }, { images: images2 });
  images2.close();
  assert.equal(missing.host.status.booted?.image, null);
  assert.deepEqual(missing.warnings, [`Deployment ${h.verity}: image ${digest} not found in the composefs repository; image details unavailable`]);
});
