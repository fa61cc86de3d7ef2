import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { escapeTag, relativeSymlinkTarget, unescapeTag } from './refs.js';

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
