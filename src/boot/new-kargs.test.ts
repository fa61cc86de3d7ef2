import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { newKargs } from './kargs-d.js';

test('newKargs: composefs= replaced (optional verity kept, added when missing), then the kargs.d delta', () => {
  assert.equal(newKargs('root=UUID=1 rw composefs=?old quiet old=1 mine', 'new', ['quiet', 'old=1'], ['quiet', 'new=2']), 'root=UUID=1 rw composefs=?new quiet mine new=2');
  assert.equal(newKargs('root=UUID=1 composefs=old', 'new', [], []), 'root=UUID=1 composefs=new');
  assert.equal(newKargs('rw', 'v', [], ['rw', 'x']), 'rw composefs=v x');
  assert.equal(newKargs('', 'v', [], []), 'composefs=v');
});
