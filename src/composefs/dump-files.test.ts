import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseDumpfile } from './dumpfile.js';
import { dumpFiles } from './dump-files.js';

const H = 'ab'.repeat(32);
const DUMP = [
  '/ 0 40755 4 0 0 0 1.0 - - -',
  '/a 0 40755 2 0 0 0 2.0 - - -',
  `/a/big 100 100644 3 0 0 0 3.0 ab/${H.slice(2)} - ${H}`,
  '/b 0 40755 3 0 0 0 4.0 - - -',
  '/b/c 0 40755 2 0 0 0 5.0 - - -',
  '/b/c/l1 0 @120000 - - - - 0.0 /a/big - -',
  '/b/c/l2 0 @120000 - - - - 0.0 /a/big - -',
  '/b/sp\\x20ace 2 100644 1 0 0 0 6.0 - hi -',
  '',
].join('\n');

test('dumpFiles: a directory lists its subtree; a hardlink whose first path is outside prints in full once', () => {
  const root = parseDumpfile(Buffer.from(DUMP));
  assert.equal(
    dumpFiles(root, ['/b/c', 'b//sp ace']),
    [
      '/b/c 0 40755 2 0 0 0 5.0 - - -',
      `/b/c/l1 100 100644 3 0 0 0 3.0 ab/${H.slice(2)} - ${H}`,
      '/b/c/l2 0 @120000 - - - - 0.0 /b/c/l1 - -',
      'b//sp\\x20ace 2 100644 1 0 0 0 6.0 - hi -',
      '',
    ].join('\n'),
  );
  assert.equal(dumpFiles(root, ['/b/c/l2', '/b/sp ace'], true), `/b/c/l2 ab/${H.slice(2)}\n/b/sp ace inline\n`);
  assert.throws(() => dumpFiles(root, ['/b'], true), /^TsbootcError: \/b is a directory$/);
  assert.throws(() => dumpFiles(root, ['/a/big/x']), /^TsbootcError: \/a\/big\/x not found$/);
});
