import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ContextError, FormatError, TsbootcError, UsageError, NotImplementedError, exitCodeFor, formatErrorChain, hintOf, oneLine, withContext } from './errors.js';

test('context chains print as step: step: cause', async () => {
  const err = await withContext('Switching', () =>
    withContext('Reading origin state/deploy/ab/ab.origin', async () => {
      throw Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', syscall: 'open' });
    }),
  ).catch((e: unknown) => e);
  assert.ok(err instanceof ContextError);
  assert.equal(formatErrorChain(err), "Switching: Reading origin state/deploy/ab/ab.origin: ENOENT: no such file or directory, open '/x'");
  assert.equal(exitCodeFor(err), 1);
});

test('usage errors exit 2 even under context; hints are found along the chain', () => {
  const inner = new UsageError('bad flag', { hint: 'try --help' });
  const err = new ContextError('Parsing', inner);
  assert.equal(exitCodeFor(err), 2);
  assert.equal(hintOf(err), 'try --help');
  assert.equal(formatErrorChain(err), 'Parsing: bad flag');
});

test('typed errors carry stable codes and names', () => {
  const e = new NotImplementedError('upgrade');
  assert.equal(e.message, 'upgrade: not implemented yet');
  assert.equal(e.code, 'ERR_NOT_IMPLEMENTED');
  assert.equal(e.name, 'NotImplementedError');
  assert.equal(new TsbootcError('x').code, 'ERR_RUNTIME');
  assert.equal(exitCodeFor(new Error('plain')), 1);
  assert.equal(formatErrorChain('a string'), 'a string');
});

test('a TsbootcError with a cause prints the cause too', () => {
  const e = new TsbootcError('Reading /etc/x', { cause: new Error('EACCES: permission denied') });
  assert.equal(formatErrorChain(new ContextError('Upgrading', e)), 'Upgrading: Reading /etc/x: EACCES: permission denied');
});

test('a wrapper that already quotes its cause prints it once; JSON parse errors print on one line', () => {
  const cause = new Error('path a/../b contains ".." (escapes the root)');
  const e = new FormatError(`layer sha256:x: entry a/../b: ${cause.message}`, { cause });
  assert.equal(formatErrorChain(new ContextError('Pulling oci:/l', e)), 'Pulling oci:/l: layer sha256:x: entry a/../b: path a/../b contains ".." (escapes the root)');
  let syntax: unknown;
  try {
    JSON.parse('{\n  "a": :\n}');
  } catch (err) {
    syntax = err;
  }
  const chain = formatErrorChain(new TsbootcError('failed to parse meta.json', { cause: syntax }));
  assert.equal(chain.includes('\n'), false);
  assert.match(chain, /^failed to parse meta\.json: Unexpected token ':', "\{\\n {2}"a": :\\n}" is not valid JSON$/);
  assert.equal(oneLine('a\r\nb'), 'a\\r\\nb');
});
