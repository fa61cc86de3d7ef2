/**
 * Several real processes share one repository: writers store objects and
 * named streams while another process garbage-collects in a loop. The
 * shared/exclusive flock on the repository directory must keep every
 * referenced object alive and every write complete.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, tempDir } from '../helpers/run-cli.js';
import { Repository } from '../../src/composefs/repository/index.js';
import { realRepoSyscalls } from '../../src/sys/repo-syscalls.js';
import { libzstdCodec } from '../../src/sys/zstd.js';

const DIST = pathToFileURL(path.join(REPO_ROOT, 'dist') + '/').href;
const WRITERS = 4;
const ITERATIONS = 12;
const OBJECTS = 5;

const WRITER = `
import { Repository, CONTENT_TYPE } from '${DIST}src/composefs/repository/index.js';
import { realRepoSyscalls } from '${DIST}src/sys/repo-syscalls.js';
import { libzstdCodec } from '${DIST}src/sys/zstd.js';
const [dir, who, iterations, objects] = process.argv.slice(2);
for (let k = 0; k < Number(iterations); k++) {
  const repo = await Repository.open(dir, { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true });
  try {
    const w = repo.createStream(CONTENT_TYPE.ociLayer);
    for (let j = 0; j < Number(objects); j++) {
      w.writeInline(Buffer.from('header ' + j));
      await repo.writeExternal(w, Buffer.from(('writer ' + who + ' iteration ' + k + ' object ' + j + ' ').repeat(20)));
    }
    await repo.ensureObject(Buffer.from('garbage from ' + who + ' ' + k));
    await repo.writeStream(w, 'w' + who + '-' + k, 'w' + who + '/' + k);
  } finally {
    repo.close();
  }
}
`;

const COLLECTOR = `
import * as fs from 'node:fs';
import { Repository } from '${DIST}src/composefs/repository/index.js';
import { realRepoSyscalls } from '${DIST}src/sys/repo-syscalls.js';
import { libzstdCodec } from '${DIST}src/sys/zstd.js';
const [dir, stopFile] = process.argv.slice(2);
let runs = 0, removed = 0;
while (!fs.existsSync(stopFile) || runs === 0) {
  const repo = await Repository.open(dir, { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true });
  try {
    removed += (await repo.gc()).objectsRemoved;
    runs++;
  } finally {
    repo.close();
  }
}
process.stdout.write(JSON.stringify({ runs, removed }));
`;

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('concurrent writers in separate processes and a GC loop: nothing referenced is lost, all garbage goes', { timeout: 120_000 }, async (t) => {
  const tmp = tempDir('tsbootc-cfs-conc-');
  const dir = path.join(tmp, 'repo');
  const opts = { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true };
  (await Repository.init(dir, opts)).repo.close();
  const writer = path.join(tmp, 'writer.mjs');
  const collector = path.join(tmp, 'collector.mjs');
  fs.writeFileSync(writer, WRITER);
  fs.writeFileSync(collector, COLLECTOR);
  const stop = path.join(tmp, 'stop');
  const gc = run(collector, [dir, stop]);
  const writers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => run(writer, [dir, String(i), String(ITERATIONS), String(OBJECTS)])));
  fs.writeFileSync(stop, '');
  const gcResult = await gc;
  for (const w of writers) assert.deepEqual([w.code, w.stderr], [0, '']);
  assert.deepEqual([gcResult.code, gcResult.stderr], [0, '']);
  const { runs, removed } = JSON.parse(gcResult.stdout) as { runs: number; removed: number };
  assert.ok(runs >= 1);
  t.diagnostic(`GC ran ${runs} times concurrently and removed ${removed} objects (without its exclusive lock this test fails)`);

  const repo = await Repository.open(dir, opts);
  try {
    const final = await repo.gc();
    const refs = (await repo.listStreamRefs()).map((r) => r.name);
    const expectedRefs = Array.from({ length: WRITERS }, (_, i) => Array.from({ length: ITERATIONS }, (_, k) => `w${i}/${k}`)).flat();
    assert.deepEqual(refs, [...expectedRefs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    for (let i = 0; i < WRITERS; i++) {
      for (let k = 0; k < ITERATIONS; k++) {
        const parts: Buffer[] = [];
        await repo.catStream(`refs/w${i}/${k}`, (d) => {
          parts.push(d);
        });
        const want = Array.from({ length: OBJECTS }, (_, j) => `header ${j}` + `writer ${i} iteration ${k} object ${j} `.repeat(20)).join('');
        assert.equal(Buffer.concat(parts).toString(), want, `stream w${i}/${k}`);
      }
    }
    const fsck = await repo.fsck();
    assert.deepEqual(fsck.errors, []);
    // Every object left is a stream or one of its objects; all garbage is gone.
    assert.equal(fsck.objectsChecked, WRITERS * ITERATIONS * (OBJECTS + 1));
    assert.equal(fsck.streamsChecked, WRITERS * ITERATIONS);
    assert.equal(final.streamsPruned + final.imagesPruned, 0);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'objects')).filter((n) => n.startsWith('.')), [], 'no temporaries left');
  } finally {
    repo.close();
  }
});
