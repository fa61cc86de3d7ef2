import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatIdentity, isAlive, parseIdentity, parseStatStartTime } from './process-identity.js';
import { Root } from './root.js';

const STAT = '4242 (tsbootc (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615';

test('parseStatStartTime takes field 22, after a comm that contains spaces and parentheses', () => {
  assert.equal(parseStatStartTime(STAT), '987654');
});

test('identities round-trip, and isAlive compares the start time of the pid', async () => {
  assert.deepEqual(parseIdentity(formatIdentity({ pid: 4242, startTime: '987654' })), { pid: 4242, startTime: '987654' });
  assert.deepEqual(parseIdentity(formatIdentity({ pid: 7, startTime: undefined })), { pid: 7, startTime: undefined });
  assert.equal(parseIdentity('garbage\n'), undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-pid-'));
  try {
    fs.mkdirSync(path.join(dir, 'proc', '4242'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'proc', '4242', 'stat'), STAT);
    const root = new Root(dir);
    assert.equal(await isAlive(root, { pid: 4242, startTime: '987654' }), true);
    assert.equal(await isAlive(root, { pid: 4242, startTime: '1' }), false, 'a reused pid');
    assert.equal(await isAlive(root, { pid: 4243, startTime: undefined }), false);
    assert.equal(await isAlive(root, { pid: 4242, startTime: undefined }), true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
