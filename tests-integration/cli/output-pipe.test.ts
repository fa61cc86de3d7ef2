/**
 * A reader that closes stdout early (`tsbootc … | head -1`) gets the start of
 * the output; tsbootc finishes with its own exit code and prints no stack trace.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BIN, SHARED, runCli, tempDir } from '../helpers/run-cli.js';

test('a closed stdout pipe ends neither in EPIPE nor in a stack trace', async () => {
  const dir = tempDir('tsbootc-pipe-');
  try {
    // A dump of a few MiB: far more than a pipe buffer, so writes continue after the reader is gone.
    const dump = path.join(dir, 'minimal.dump');
    writeFileSync(dump, gunzipSync(readFileSync(path.join(SHARED, 'reference/conformance/composefs-c/cs9-x86_64-minimal.dump.gz'))));
    const img = path.join(dir, 'minimal.img');
    const mk = runCli(['internals', 'cfs', 'mkcomposefs', '--from-file', dump, img]);
    assert.equal(mk.status, 0, mk.stderr);
    const child = spawn(process.execPath, [BIN, 'internals', 'cfs', 'composefs-info', 'dump', img], { stdio: ['ignore', 'pipe', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (b: Buffer) => resolve(b.toString('utf8'))));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.match(first, /^\/ /);
    assert.deepEqual([code, Buffer.concat(err).toString('utf8')], [0, '']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
