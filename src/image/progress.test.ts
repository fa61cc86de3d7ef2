import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { packagePath } from '../sys/package-data.js';
import { createPullReporter, formatLayerLines, formatPullSummary, pullingEvent, startEvent, stepsEvent, type PullState } from './progress.js';

function validator() {
  const schema = JSON.parse(readFileSync(packagePath('data/schemas/progress-v0.schema.json'), 'utf8')) as object;
  const ajv = new Ajv2020({ strict: false });
  ajv.addFormat('uint64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) && n >= 0 });
  return ajv.compile(schema);
}

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);
const state = (a: number, b: number): PullState => ({
  image: 'quay.io/x/y:1',
  manifestDigest: 'sha256:' + 'm'.repeat(64),
  layers: [{ digest: A, size: 1000, bytes: a }, { digest: B, size: 2_500_000, bytes: b }],
});

test('event builders produce whole progress-v0 events', () => {
  const validate = validator();
  assert.deepEqual(startEvent(), { type: 'Start', version: 'org.containers.bootc.progress/v1' });
  const e = pullingEvent(state(1000, 1_000_000));
  assert.deepEqual(e, {
    type: 'ProgressBytes', task: 'pulling', description: `Pulling Image: sha256:${'m'.repeat(64)}`, id: 'quay.io/x/y:1',
    bytesCached: 0, bytes: 1_001_000, bytesTotal: 2_501_000, stepsCached: 0, steps: 1, stepsTotal: 2,
    subtasks: [
      { subtask: 'layer', description: 'Layer', id: A, bytesCached: 0, bytes: 1000, bytesTotal: 1000 },
      { subtask: 'layer', description: 'Layer', id: B, bytesCached: 0, bytes: 1_000_000, bytesTotal: 2_500_000 },
    ],
  });
  const s = stepsEvent('staging', 'Staging', 'quay.io/x/y:1', [{ id: 'import', description: 'Importing', completed: true }, { id: 'deploy', description: 'Deploying', completed: false }]);
  assert.deepEqual(s, {
    type: 'ProgressSteps', task: 'staging', description: 'Staging', id: 'quay.io/x/y:1', stepsCached: 0, steps: 1, stepsTotal: 2,
    subtasks: [{ subtask: 'staging', description: 'Importing', id: 'import', completed: true }, { subtask: 'staging', description: 'Deploying', id: 'deploy', completed: false }],
  });
  for (const ev of [startEvent(), e, s]) assert.ok(validate(ev), JSON.stringify(validate.errors));
  assert.equal(validate({ type: 'ProgressBytes', task: 'pulling' }), false);
});

test('human lines and the summary', () => {
  assert.deepEqual(formatLayerLines(state(1000, 1_000_000)), ['layer aaaaaaaaaaaa: done', 'layer bbbbbbbbbbbb: 1.0 MB / 2.5 MB']);
  assert.deepEqual(formatLayerLines(state(0, 0)), ['layer aaaaaaaaaaaa: waiting (1.0 kB)', 'layer bbbbbbbbbbbb: waiting (2.5 MB)']);
  assert.equal(formatPullSummary(state(1000, 2_500_000), 1234), `Fetched quay.io/x/y:1 (sha256:${'m'.repeat(64)}): 2 layers, 2.5 MB in 1.2 s\n`);
});

test('reporter: TTY redraws the layer lines in place; JSON is rate limited to 5 Hz except first and last', () => {
  let t = 0;
  const tty: string[] = [];
  const json: string[] = [];
  const r = createPullReporter({ human: { tty: true, write: (s) => tty.push(s) }, json: (l) => json.push(l) }, { now: () => t });
  r.update(state(0, 0));
  t = 100;
  r.update(state(1000, 0)); // within 200 ms: no JSON
  t = 300;
  r.update(state(1000, 5000));
  r.finish(state(1000, 2_500_000), 300);
  assert.deepEqual(tty, [
    '\x1b[2Klayer aaaaaaaaaaaa: waiting (1.0 kB)\n\x1b[2Klayer bbbbbbbbbbbb: waiting (2.5 MB)\n',
    '\x1b[2F\x1b[2Klayer aaaaaaaaaaaa: done\n\x1b[2Klayer bbbbbbbbbbbb: waiting (2.5 MB)\n',
    '\x1b[2F\x1b[2Klayer aaaaaaaaaaaa: done\n\x1b[2Klayer bbbbbbbbbbbb: 5.0 kB / 2.5 MB\n',
    '\x1b[2F\x1b[2Klayer aaaaaaaaaaaa: done\n\x1b[2Klayer bbbbbbbbbbbb: done\n',
  ]);
  assert.deepEqual(json.map((l) => { const e = JSON.parse(l) as { type: string; bytes?: number }; return `${e.type}:${e.bytes ?? ''}`; }), ['Start:', 'ProgressBytes:0', 'ProgressBytes:6000', 'ProgressBytes:2501000']);
});

test('reporter: not a TTY gives only the summary; quiet gives no human output', () => {
  const out: string[] = [];
  const r = createPullReporter({ human: { tty: false, write: (s) => out.push(s) } }, { now: () => 0 });
  r.update(state(0, 0));
  r.finish(state(1000, 2_500_000), 0);
  assert.deepEqual(out, [`Fetched quay.io/x/y:1 (sha256:${'m'.repeat(64)}): 2 layers, 2.5 MB in 0.0 s\n`]);
  const quiet: string[] = [];
  const q = createPullReporter({ human: { tty: true, write: (s) => quiet.push(s) } }, { quiet: true, now: () => 0 });
  q.update(state(0, 0));
  q.finish(state(1000, 2_500_000), 0);
  assert.deepEqual(quiet, []);
});
