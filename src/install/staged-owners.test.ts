import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { tempDirForTest } from '../testing/fake-runner.js';
import { debugfsQuote, ownerScript } from './staged-owners.js';

test('the debugfs script sets root everywhere except the owners recorded from the image', async () => {
  const d = tempDirForTest('tsbootc-owners-');
  mkdirSync(path.join(d, 'state/etc'), { recursive: true });
  writeFileSync(path.join(d, 'state/etc/shadow'), '');
  writeFileSync(path.join(d, 'state/etc/a "b"'), '');
  symlinkSync('x', path.join(d, 'link'));
  const script = await ownerScript(d, new Map([[path.join(d, 'state/etc/shadow'), [0, 42] as const]]));
  assert.equal(
    script,
    [
      'sif "/" uid 0', 'sif "/" gid 0',
      'sif "/link" uid 0', 'sif "/link" gid 0',
      'sif "/state" uid 0', 'sif "/state" gid 0',
      'sif "/state/etc" uid 0', 'sif "/state/etc" gid 0',
      'sif "/state/etc/a ""b""" uid 0', 'sif "/state/etc/a ""b""" gid 0',
      'sif "/state/etc/shadow" uid 0', 'sif "/state/etc/shadow" gid 42',
      '',
    ].join('\n'),
  );
  assert.throws(() => debugfsQuote('a\nb'), { message: 'cannot set the owner of "a\\nb" with debugfs (newline in the name)' });
});
