import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { UsageError, formatErrorChain } from '../util/errors.js';
import { fetchProgressOutput } from './fetch-progress.js';

test('--progress-fd writes whole JSON lines to the descriptor; --quiet drops only the human output', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-pfd-'));
  const file = path.join(dir, 'progress.jsonl');
  const fd = openSync(file, 'w');
  try {
    const written: string[] = [];
    const out = fetchProgressOutput({ quiet: true, progressFd: fd }, { write: (s) => written.push(s), isTTY: true });
    assert.equal(out.human, undefined);
    out.json?.('{"type":"Start","version":"org.containers.bootc.progress/v1"}\n');
    out.json?.('{"type":"ProgressSteps"}\n');
    assert.equal(readFileSync(file, 'utf8'), '{"type":"Start","version":"org.containers.bootc.progress/v1"}\n{"type":"ProgressSteps"}\n');
    assert.deepEqual(written, []);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('human output follows isatty(stderr); bad descriptors are usage errors', () => {
  const written: string[] = [];
  const tty = fetchProgressOutput({}, { write: (s) => written.push(s), isTTY: true });
  assert.equal(tty.human?.tty, true);
  assert.equal(tty.json, undefined);
  tty.human?.write('x');
  assert.deepEqual(written, ['x']);
  assert.equal(fetchProgressOutput({}, { write: () => true }).human?.tty, false);
  assert.throws(() => fetchProgressOutput({ progressFd: -1 }, { write: () => true }), (e: unknown) => formatErrorChain(e) === '--progress-fd: expected a file descriptor number, got -1');
  assert.throws(() => fetchProgressOutput({ progressFd: 1.5 }, { write: () => true }), (e: unknown) => e instanceof UsageError && formatErrorChain(e) === '--progress-fd: expected a file descriptor number, got 1.5');
  // A descriptor this process does not have open (the highest possible one).
  assert.throws(() => fetchProgressOutput({ progressFd: 2147483647 }, { write: () => true }), (e: unknown) => e instanceof UsageError && formatErrorChain(e) === '--progress-fd: file descriptor 2147483647 is not open');
});
