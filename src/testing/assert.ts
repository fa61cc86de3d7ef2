/**
 * Owns small assertion helpers shared by tests: matching a rejection against
 * the whole printed error chain (`a: b: c`), the way users see it.
 */
import * as assert from 'node:assert/strict';
import { formatErrorChain } from '../util/errors.js';

export async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<string> {
  try {
    await p;
  } catch (err) {
    const chain = formatErrorChain(err);
    assert.match(chain, re);
    return chain;
  }
  assert.fail(`expected a rejection matching ${re}`);
}
