/**
 * Benchmark: fs-verity digest of a 1 GiB file, tsbootc (in-process, worker
 * pool start-up included) vs `fsverity digest --hash-alg=sha256|sha512`, best
 * of 3 each (run alternately), page cache warm. Prints a markdown table for docs/performance.md.
 * Usage: node dist/bench/fsverity.js [FILE]   (default: a 1 GiB temp file)
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync, mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fsverityDigestFile } from '../src/composefs/fsverity-file.js';
import { bestOf, bestOfProcess, fmt, haveCommand, interleaved, machineFacts } from './common.js';

const RUNS = 3;

async function main(): Promise<void> {
  if (!haveCommand('fsverity')) {
    console.log('bench fsverity: SKIP: the fsverity tool is not installed (apt-get install fsverity)');
    return;
  }
  let file = process.argv[2];
  let tmp: string | undefined;
  if (file === undefined) {
    tmp = mkdtempSync(path.join(tmpdir(), 'tsbootc-bench-'));
    file = path.join(tmp, 'one-gib.bin');
    const block = randomBytes(1 << 20);
    const fd = openSync(file, 'w');
    for (let i = 0; i < 1024; i++) {
      block.writeUInt32LE(i, 0);
      writeSync(fd, block);
    }
    closeSync(fd);
  } else if (!existsSync(file)) throw new Error(`no such file ${file}`);
  try {
    readFileSync(file); // page cache warm
    console.log(`bench fsverity: ${file}; ${machineFacts()}`);
    console.log('| algorithm | tsbootc threads | C wall (s) | tsbootc wall (s) | wall ratio | C CPU (s) | tsbootc CPU (s) | CPU ratio |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const alg of ['sha256', 'sha512'] as const) {
      for (const threads of [availableParallelism(), 1]) {
        const [c, t] = await interleaved(
          RUNS,
          async () => bestOfProcess(1, ['fsverity', 'digest', '--compact', `--hash-alg=${alg}`, file]),
          () => bestOf(1, () => fsverityDigestFile(file, alg, { threads })),
        );
        if (t.value.toString('hex') !== c.stdout.toString().trim()) throw new Error(`${alg}: digests differ: ${t.value.toString('hex')} vs ${c.stdout.toString().trim()}`);
        console.log(`| ${alg} | ${threads} | ${fmt(c.best)} | ${fmt(t.best)} | ${(t.best / c.best).toFixed(2)} | ${fmt(c.bestCpu)} | ${fmt(t.bestCpu)} | ${(t.bestCpu / c.bestCpu).toFixed(2)} |`);
        console.error(`  ${alg}, ${threads} thread(s): C runs ${c.times.map(fmt).join(' ')}; tsbootc runs ${t.times.map(fmt).join(' ')}`);
      }
    }
  } finally {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
