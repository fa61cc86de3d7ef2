import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { num } from './context.js';
import { UsageError, formatErrorChain } from '../util/errors.js';
import { parseArgs } from './parse.js';

test('num: a given number, an absent flag', () => {
  assert.equal(num({ threads: 4 }, 'threads'), 4);
  assert.equal(num({}, 'threads'), undefined);
  assert.equal(num({ threads: undefined }, 'threads'), undefined);
});

test('num: a value yargs could not read as a number is a usage error naming the flag', async () => {
  const r = await parseArgs(['status', '--format-version', 'abc']);
  assert.equal(r.kind, 'run');
  if (r.kind !== 'run') return;
  assert.throws(
    () => num(r.invocation.args, 'format-version'),
    (e: unknown) => e instanceof UsageError && formatErrorChain(e) === '--format-version: expected a number, got a value that is not one',
  );
  assert.throws(() => num({ threads: 'x' }, 'threads'), (e: unknown) => e instanceof UsageError && formatErrorChain(e) === '--threads: expected a number, got "x"');
});
