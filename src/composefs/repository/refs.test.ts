import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeTag, relativeSymlinkTarget, unescapeTag } from './refs.js';
import { Repository } from './repository.js';
import { fakeSyscalls, rawZstdCodec, tempDir } from './test-support.js';
import { CONTENT_TYPE } from './splitstream.js';

test('relative symlink targets follow symlink_impl exactly (spec 1.4 examples)', () => {
  const hex = 'ab' + 'cd'.repeat(31);
  assert.deepEqual(relativeSymlinkTarget('streams/X', `objects/ab/${hex.slice(2)}`), { target: `../objects/ab/${hex.slice(2)}`, dirs: ['streams'] });
  assert.deepEqual(relativeSymlinkTarget('streams/refs/oci/T', 'streams/X'), { target: '../../X', dirs: ['streams/refs', 'streams/refs/oci'] });
  assert.deepEqual(relativeSymlinkTarget('images/refs/foo', `images/${hex}`), { target: `../${hex}`, dirs: ['images/refs'] });
  assert.deepEqual(relativeSymlinkTarget('images/refs/a/b', `images/${hex}`), { target: `../../${hex}`, dirs: ['images/refs', 'images/refs/a'] });
  assert.deepEqual(relativeSymlinkTarget('images/x', 'objects/00/11'), { target: '../objects/00/11', dirs: ['images'] });
});

test('tag escaping: % then /; decoding is single-pass and leaves other %XY alone', () => {
  assert.equal(escapeTag('docker://quay.io/x/y:tag'), 'docker:%2F%2Fquay.io%2Fx%2Fy:tag');
  assert.equal(escapeTag('a%2Fb/c@d'), 'a%252Fb%2Fc@d');
  assert.equal(unescapeTag('a%252Fb%2Fc@d'), 'a%2Fb/c@d');
  assert.equal(unescapeTag('x%41%2f%2F'), 'x%41%2f/');
  for (const t of ['plain', 'a/b', '%', '%%2F/', 'x:y@sha256:00']) assert.equal(unescapeTag(escapeTag(t)), t);
});

test('OCI tags: escaped link, resolve, list, untag; tags starting with @ are refused', async () => {
  const dir = path.join(await tempDir(), 'repo');
  const { repo } = await Repository.init(dir, { sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true, algorithm: 'sha256' });
  const w = repo.createStream(CONTENT_TYPE.ociManifest);
  await repo.writeExternal(w, Buffer.from('{}'));
  const sid = await repo.writeStream(w, 'oci-manifest-sha256:ab');
  await repo.tagImage('sha256:ab', 'docker://quay.io/x/y:tag');
  assert.equal(fs.readlinkSync(path.join(dir, 'streams/refs/oci/docker:%2F%2Fquay.io%2Fx%2Fy:tag')), '../../oci-manifest-sha256:ab');
  assert.deepEqual(await repo.resolveTag('docker://quay.io/x/y:tag'), { manifestDigest: 'sha256:ab', streamId: sid });
  assert.equal(await repo.resolveTag('other'), undefined);
  await repo.tagImage('sha256:ab', '50%');
  assert.deepEqual(await repo.listTags(), [
    { tag: '50%', manifestDigest: 'sha256:ab' },
    { tag: 'docker://quay.io/x/y:tag', manifestDigest: 'sha256:ab' },
  ]);
  await assert.rejects(repo.tagImage('sha256:ab', '@sha256:00'), /must not start with @/);
  await assert.rejects(repo.tagImage('sha256:cd', 'x'), /cannot tag x: stream oci-manifest-sha256:cd does not exist/);
  assert.equal(await repo.untag('50%'), true);
  assert.equal(await repo.untag('50%'), false);
  repo.close();
});
