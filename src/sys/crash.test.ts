/**
 * The crash hook's parsing and tracing (the SIGKILL itself is exercised by
 * tests-integration/cli/crash-points.test.ts in child processes).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crashHookFromEnv } from './crash.js';
import { crashPoint, crashPointNames, isCrashPointName } from '../util/crash-point.js';
import { UsageError } from '../util/errors.js';

test('no variables, no hook', () => {
  assert.equal(crashHookFromEnv({}), undefined);
  assert.equal(crashHookFromEnv({ TSBOOTC_CRASH_AT: '', TSBOOTC_CRASH_TRACE: '' }), undefined);
});

test('an unknown crash point is a usage error naming it', () => {
  assert.throws(() => crashHookFromEnv({ TSBOOTC_CRASH_AT: 'stage:nope:2' }), (e: unknown) => e instanceof UsageError && e.message === 'TSBOOTC_CRASH_AT=stage:nope:2: no such crash point (see `tsbootc internals crash-points`)');
});

test('the trace records every point reached, in order; other points do not kill', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-crash-')), 'trace');
  const hook = crashHookFromEnv({ TSBOOTC_CRASH_AT: 'stage:after-marker:3', TSBOOTC_CRASH_TRACE: file })!;
  crashPoint({ crash: hook }, 'stage:after-boot-binaries');
  crashPoint({ crash: hook }, 'stage:after-marker');
  crashPoint({ crash: hook }, 'stage:after-marker');
  crashPoint(undefined, 'stage:after-marker');
  assert.equal(fs.readFileSync(file, 'utf8'), 'stage:after-boot-binaries\nstage:after-marker\nstage:after-marker\n');
});

test('crash point names are unique, namespaced and recognized', () => {
  const names = crashPointNames();
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names.filter((n) => !/^[a-z-]+:[a-z-]+$/.test(n)), []);
  assert.equal(isCrashPointName('stage:after-marker'), true);
  assert.equal(isCrashPointName('toString'), false);
});
