/**
 * Property-based fuzz of what a composefs repository holds: meta.json, the
 * splitstreams of an image (layer, config, manifest) and its EROFS image,
 * each mutated in place from a seeded PRNG (fixed seeds; a failure names its
 * seed), then read through the CLI: `internals cfs fsck`, `oci images`,
 * `oci dump`, `oci layer --json` and `composefs-info dump/objects`. Every case
 * must end cleanly (inproc.ts `assertClean`; fsck may also print its report),
 * never with an internal error or a hang. The EROFS reader's own byte-level
 * fuzz lives in src/composefs/erofs/reader-hostile.test.ts; this one adds the
 * CLI paths and the repository around it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/run-cli.js';
import { rawEntry, sha256, TAR_END, writeOciLayout } from '../../src/composefs/oci/test-fixtures.js';
import { cli, prng, skipReason, Tally } from './lib.js';
import { assertClean, runInProcess, type InProcResult } from './inproc.js';

type Rng = ReturnType<typeof prng>;
const T = { mtime: 1700000000 };

const META_BITS = ['{', '}', '"version"', ':', '1', '2', '99', '-1', '1.5', '"algorithm"', '"fsverity-sha512-12"', '"fsverity-md5-12"', '"features"', '"incompatible"', '["x"]', '"erofs_formats"', '{"default": 0}', '{"default": 7}', '"extra"', 'null', '[]', ',', '"read-only-compatible"', '["v1_erofs", "unknown"]'];

function mutateText(rng: Rng, orig: Buffer): Buffer {
  const s = orig.toString('latin1');
  switch (rng.int(6)) {
    case 0: {
      const b = Buffer.from(orig);
      for (let i = 0, n = 1 + rng.int(6); i < n; i++) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 1:
      return orig.subarray(0, rng.int(orig.length));
    case 2: {
      const at = rng.int(s.length);
      return Buffer.from(s.slice(0, at) + rng.pick(META_BITS) + s.slice(at), 'latin1');
    }
    case 3: {
      // Replace one JSON value.
      const vals = [...s.matchAll(/: ("[^"]*"|\[[^\]]*\]|\d+|\{[^}]*\})/g)];
      if (vals.length === 0) return Buffer.from(s + '}');
      const v = rng.pick(vals);
      return Buffer.from(s.slice(0, v.index + 2) + rng.pick(META_BITS) + s.slice(v.index + v[0].length), 'latin1');
    }
    case 4:
      return rng.pick([Buffer.alloc(0), Buffer.from('null'), Buffer.from('[]'), Buffer.alloc(1 << 20, 0x7b), rng.bytes(64)]);
    default:
      return Buffer.from(s.replace(/"[a-z_-]+"/, rng.pick(META_BITS)), 'latin1');
  }
}

function mutateBinary(rng: Rng, orig: Buffer): Buffer {
  switch (rng.int(6)) {
    case 0:
    case 1: {
      const b = Buffer.from(orig);
      // Headers and tables are at the start: flip there most of the time.
      const span = rng.next() < 0.7 ? Math.min(b.length, 256) : b.length;
      for (let i = 0, n = 1 + rng.int(8); i < n; i++) b[rng.int(span)] = rng.int(256);
      return b;
    }
    case 2:
      return orig.subarray(0, rng.int(orig.length));
    case 3: {
      const b = Buffer.from(orig);
      const at = rng.int(b.length);
      b.fill(rng.pick([0, 0xff]), at, Math.min(b.length, at + 1 + rng.int(64)));
      return b;
    }
    case 4: {
      // A 64-bit field set to something absurd.
      const b = Buffer.from(orig);
      const at = rng.int(Math.max(1, Math.min(b.length, 128) - 8)) & ~7;
      if (at + 8 <= b.length) b.writeBigUInt64LE(rng.pick([0n, 1n << 62n, 0xffffffffffffffffn, BigInt(b.length + 1)]), at);
      return b;
    }
    default:
      return Buffer.concat([orig, rng.bytes(1 + rng.int(64))]);
  }
}

const tally = new Tally();

test('fuzz the repository: meta.json, splitstreams and the EROFS image through fsck, oci and composefs-info', { skip: skipReason ?? false, timeout: 300_000 }, async () => {
  const tmp = tempDir('tsbootc-hostile-repo-');
  try {
    const layout = path.join(tmp, 'oci');
    const layer = Buffer.concat([
      rawEntry({ ...T, name: 'usr/', type: '5', mode: 0o755 }),
      rawEntry({ ...T, name: 'usr/big', data: 'b'.repeat(300) }),
      rawEntry({ ...T, name: 'usr/small', data: 's\n' }),
      rawEntry({ ...T, name: 'usr/link', type: '2', linkname: 'big' }),
      TAR_END,
    ]);
    writeOciLayout(layout, [layer], { tag: 't' });
    const diffId = sha256(layer);
    const repo = path.join(tmp, 'repo');
    assert.equal(cli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
    assert.equal(cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${layout}:t`, 't']).status, 0);
    const images = fs.readdirSync(path.join(repo, 'images'));
    assert.equal(images.length, 1);
    const image = fs.realpathSync(path.join(repo, 'images', images[0]!));
    const streams = fs.readdirSync(path.join(repo, 'streams')).filter((n) => n.startsWith('oci-'));
    const streamFiles = streams.map((n) => fs.realpathSync(path.join(repo, 'streams', n)));
    const cfs = (...args: string[]) => ['internals', 'cfs', '--repo', repo, ...args];

    const families: Array<{ family: string; files: string[]; cases: number; mutate: (rng: Rng, b: Buffer) => Buffer; commands: string[][] }> = [
      { family: 'meta.json', files: [path.join(repo, 'meta.json')], cases: 60, mutate: mutateText, commands: [cfs('fsck'), cfs('oci', 'images', '--json')] },
      { family: 'splitstreams', files: streamFiles, cases: 80, mutate: mutateBinary, commands: [cfs('oci', 'dump', 't'), cfs('oci', 'layer', diffId, '--json'), cfs('fsck')] },
      { family: 'EROFS image', files: [image], cases: 80, mutate: mutateBinary, commands: [['internals', 'cfs', 'composefs-info', 'dump', image], ['internals', 'cfs', 'composefs-info', 'objects', image], cfs('fsck')] },
    ];
    const failures: string[] = [];
    for (const [f, fam] of families.entries()) {
      const outcomes = { ok: 0, degraded: 0, error: 0 };
      for (let i = 0; i < fam.cases; i++) {
        const seed = 20261130 + f * 1000 + i;
        const rng = prng(seed);
        const file = rng.pick(fam.files);
        const orig = fs.readFileSync(file);
        fs.chmodSync(file, 0o644);
        fs.writeFileSync(file, fam.mutate(rng, orig));
        try {
          // One reader per case (the seed picks it), every reader on the first case.
          for (const argv of i === 0 ? fam.commands : [rng.pick(fam.commands)]) {
            const what = `${fam.family} seed ${seed} (${path.relative(tmp, file)}): ${argv.slice(3).join(' ')}`;
            let r: InProcResult = await runInProcess(argv);
            // fsck prints its report on stdout and fails with one error line.
            if (argv.includes('fsck') && r.status === 1) r = { ...r, stdout: '' };
            try {
              outcomes[assertClean(r, what)]++;
            } catch (err) {
              failures.push((err as Error).message.split('\n').slice(0, 3).join(' | '));
            }
            if (i === 0) {
              const s = cli(argv);
              assert.equal(s.status, r.status, `${what}: subprocess exit differs`);
            }
          }
        } finally {
          fs.writeFileSync(file, orig);
        }
        tally.add(fam.family);
      }
      console.log(`# ${fam.family}: ${JSON.stringify(outcomes)}`);
    }
    assert.deepEqual(failures, []);
    const fsck = cli(cfs('fsck'));
    assert.equal(fsck.status, 0, fsck.stdout);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  tally.print('fuzz-repo');
});
