/**
 * Benchmark: building the cs9-x86_64-developer image (64k entries) from its
 * dumpfile, `node bin/tsbootc.js internals cfs mkcomposefs --from-file` vs C
 * mkcomposefs, both as subprocesses (Node start-up included), best of 5, run
 * alternately. The goal is tsbootc ≤ 1.5× C. Prints markdown tables for
 * docs/performance.md.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseDumpfile, writeErofs, fsverityHex, type Dir } from '../src/composefs/index.js';
import { BIN, SHARED, bestOf, bestOfProcess, fmt, interleaved, machineFacts } from './common.js';

const RUNS = 5;
const DUMP_GZ = path.join(SHARED, 'reference', 'conformance', 'composefs-c', 'cs9-x86_64-developer.dump.gz');
const C_MKCOMPOSEFS = path.join(SHARED, 'tools', 'mkcomposefs', 'mkcomposefs');

/** In-process phases (no start-up), best of RUNS each, to show where the time goes. */
async function phases(dumpPath: string): Promise<void> {
  const text = readFileSync(dumpPath);
  let root: Dir | undefined;
  const parse = await bestOf(RUNS, async () => (root = parseDumpfile(text, { strict: true })));
  let image: Buffer = Buffer.alloc(0);
  const write = await bestOf(RUNS, async () => (image = writeErofs(root!, { minVersion: 0, maxVersion: 1 })));
  const digest = await bestOf(RUNS, async () => fsverityHex(image, 'sha256'));
  console.log('\n| phase (in-process) | wall (s) | CPU (s) |');
  console.log('|---|---|---|');
  for (const [label, r] of [['parseDumpfile', parse], ['writeErofs', write], ['fs-verity of the image', digest]] as const) {
    console.log(`| ${label} | ${fmt(r.best)} | ${fmt(r.bestCpu)} |`);
  }
}

async function main(): Promise<void> {
  for (const p of [DUMP_GZ, C_MKCOMPOSEFS]) {
    if (!existsSync(p)) {
      console.log(`bench mkcomposefs: SKIP: ${p} is absent`);
      return;
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-bench-'));
  try {
    const dump = path.join(dir, 'cs9-x86_64-developer.dump');
    writeFileSync(dump, gunzipSync(readFileSync(DUMP_GZ)));
    console.log(`bench mkcomposefs: ${DUMP_GZ}; ${machineFacts()}`);
    console.log('| mode | C wall (s) | tsbootc wall (s) | wall ratio | C CPU (s) | tsbootc CPU (s) | CPU ratio |');
    console.log('|---|---|---|---|---|---|---|');
    const modes: Array<[string, string[], string[]]> = [
      ['write image', ['--from-file', dump, path.join(dir, 'c.img')], ['--from-file', dump, path.join(dir, 't.img')]],
      ['--print-digest-only', ['--print-digest-only', '--from-file', dump], ['--print-digest-only', '--from-file', dump]],
    ];
    for (const [label, cArgs, tArgs] of modes) {
      const [c, t] = await interleaved(
        RUNS,
        async () => bestOfProcess(1, [C_MKCOMPOSEFS, ...cArgs]),
        async () => bestOfProcess(1, [process.execPath, BIN, 'internals', 'cfs', 'mkcomposefs', ...tArgs]),
      );
      if (!c.stdout.equals(t.stdout)) throw new Error(`${label}: outputs differ`);
      console.log(`| ${label} | ${fmt(c.best)} | ${fmt(t.best)} | ${(t.best / c.best).toFixed(2)} | ${fmt(c.bestCpu)} | ${fmt(t.bestCpu)} | ${(t.bestCpu / c.bestCpu).toFixed(2)} |`);
      console.error(`  ${label}: C runs ${c.times.map(fmt).join(' ')}; tsbootc runs ${t.times.map(fmt).join(' ')}`);
    }
    if (!readFileSync(path.join(dir, 'c.img')).equals(readFileSync(path.join(dir, 't.img')))) throw new Error('the images differ');
    writeFileSync(path.join(dir, 'tiny.dump'), '/ 0 40755 2 0 0 0 0.0 - - -\n');
    const node0 = bestOfProcess(RUNS, [process.execPath, '-e', '0']);
    const help = bestOfProcess(RUNS, [process.execPath, BIN, 'internals', 'cfs', 'mkcomposefs', '--from-file', path.join(dir, 'tiny.dump'), path.join(dir, 'tiny.img')]);
    await phases(dump);
    console.log(`\nStart-up: node -e 0 ${fmt(node0.best)} s wall / ${fmt(node0.bestCpu)} s CPU; tsbootc mkcomposefs on a one-line dump ${fmt(help.best)} s wall / ${fmt(help.bestCpu)} s CPU.`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
