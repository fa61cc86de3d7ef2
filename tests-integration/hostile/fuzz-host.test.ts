/**
 * Property-based fuzz of the host state `tsbootc status` reads: BLS entries
 * (live and staged), `.origin` files, the staged-deployment marker and
 * /proc/cmdline on fake roots (TestRoot: systemd and GRUB layouts with a
 * booted, a rollback and a staged deployment). Mutations come from a seeded
 * PRNG (fixed seeds: a failure names its seed and reproduces). Every case
 * must give a clean outcome (inproc.ts `assertClean`: exit 0 with at most
 * warnings, or one error line), never an internal error, never a hang, and
 * must leave the root byte for byte as it was (status only reads).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestRoot, type Layout } from '../../src/testing/test-root.js';
import { cli, prng, skipReason, snapshot, Tally } from './lib.js';
import { assertClean, runInProcess } from './inproc.js';

type Rng = ReturnType<typeof prng>;

const BLS_LINES = [
  'version',
  'version 44.20260101.0 ',
  'linux',
  'linux /../../../../etc/shadow',
  'initrd',
  'initrd /nonexistent',
  'efi /EFI/Linux/evil.efi',
  'uki /EFI/Linux/x.efi',
  'options',
  'options composefs=',
  'options composefs=' + 'f'.repeat(128),
  'options composefs=../../../../etc',
  'options ' + 'o'.repeat(70000),
  'title \xff\xfe\n',
  'sort-key',
  'machine-id ../../x',
  '\0\0\0',
  '# comment',
  '\r\n',
  'version 1\nversion 2',
  'linux /a\nefi /b',
];
const ORIGIN_LINES = [
  '[origin]',
  '[boot]',
  '[image]',
  '[',
  ']',
  '[]',
  'boot_type = evil',
  'boot_type = uki',
  'boot_type =',
  'digest = ../../../../etc/shadow',
  'digest = ' + 'd'.repeat(100000),
  'container-image-reference =',
  'container-image-reference = ostree-unverified-image:oci:/../../../etc',
  'container-image-reference = ostree-remote-image:evil:docker://x',
  'container-image-reference = \xff\xfe',
  'manifest_digest = sha256:zz',
  'manifest_digest = sha256:' + 'a'.repeat(64),
  'manifest_digest = ../../etc/passwd',
  'key',
  '=value',
  ' = ',
  '\0',
];
const JSON_BITS = ['{', '}', '"depl_id"', ':', '"', 'null', 'true', '[]', '"../../etc"', '"' + 'e'.repeat(128) + '"', ',', '"finalization_locked"', '1e999', '\\u0000'];

/** One seeded mutation of `orig`; `pool` holds lines that mean something to the parser. */
function mutate(rng: Rng, orig: Buffer, pool: readonly string[]): Buffer | 'delete' | 'dir' {
  const lines = orig.toString('latin1').split('\n');
  switch (rng.int(10)) {
    case 0: {
      const b = Buffer.from(orig);
      for (let i = 0, n = 1 + rng.int(8); i < n && b.length > 0; i++) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 1:
      return orig.subarray(0, rng.int(orig.length + 1));
    case 2:
      lines.splice(rng.int(lines.length + 1), 0, rng.pick(pool));
      break;
    case 3:
      lines.splice(rng.int(lines.length), 1);
      break;
    case 4:
      lines[rng.int(lines.length)] = rng.pick(pool);
      break;
    case 5:
      for (let i = 0, n = 2 + rng.int(6); i < n; i++) lines.splice(rng.int(lines.length + 1), 0, rng.pick(pool));
      break;
    case 6:
      return rng.pick([Buffer.alloc(0), rng.bytes(1 + rng.int(512)), Buffer.alloc(1 << 20, 0x61), Buffer.from('\n'.repeat(10000))]);
    case 7:
      return rng.next() < 0.5 ? 'delete' : 'dir';
    case 8: {
      const l = rng.int(lines.length);
      lines[l] = lines[l]!.replace(/ /, rng.pick(['\t', '  ', '=', ' = ', '\0']));
      break;
    }
    default:
      lines.push(...lines.slice(0, rng.int(lines.length + 1)));
  }
  return Buffer.from(lines.join(rng.next() < 0.2 ? '\r\n' : '\n'), 'latin1');
}

interface Target {
  family: string;
  files: string[];
  pool: readonly string[];
  cases: number;
}

function targets(t: TestRoot): Target[] {
  const list = (d: string): string[] => (fs.existsSync(t.p(d)) ? fs.readdirSync(t.p(d)).map((n) => `${d}/${n}`) : []);
  const entries = [...list(`${t.bootDir}/loader/entries`), ...list(`${t.bootDir}/loader/entries.staged`)].filter((f) => f.endsWith('.conf'));
  const origins = list('/sysroot/state/deploy').flatMap((d) => list(d).filter((f) => f.endsWith('.origin')));
  return [
    { family: 'BLS entries', files: entries, pool: BLS_LINES, cases: 75 },
    { family: '.origin files', files: origins, pool: ORIGIN_LINES, cases: 75 },
    { family: 'staged marker and cmdline', files: ['/run/composefs/staged-deployment', '/proc/cmdline'], pool: [...JSON_BITS, 'composefs=', 'composefs=?' + 'a'.repeat(128), 'composefs=../..', 'root=UUID=x rw'], cases: 40 },
  ];
}

/** The first cases of each family also run as a subprocess under lib.ts's memory and time limits. */
const SUBPROCESS_SAMPLE = 2;
const tally = new Tally();

/**
 * The staged entry set: status's layout migration removes one that names no
 * staged deployment (a corrupted `composefs=` makes it so; migrate.ts), so it
 * is left out of the "nothing changed" comparison.
 */
const staged = (rel: string): boolean => /(^|\/)loader\/entries\.staged$|(^|\/)grub2\/user\.cfg\.staged$/.test(rel);

for (const [layout, seed] of [
  ['systemd-type1', 20261130],
  ['grub-type1', 20261131],
] as Array<[Layout, number]>) {
  test(`fuzz status on a ${layout} host: seeded mutations of its entries, origins, staged marker and cmdline`, { skip: skipReason ?? false, timeout: 300_000 }, async () => {
    const t = await TestRoot.create({ layout });
    try {
      await t.upgrade(1, 'kernel');
      await t.stage(2, 'userspace');
      const baseline = await runInProcess(['--root', t.dir, 'status', '--json']);
      assert.equal(assertClean(baseline, 'baseline'), 'degraded'); // no repository: each deployment warns
      const all = targets(t);
      const pristine = new Map(all.flatMap((x) => x.files).map((f) => [t.p(f), fs.readFileSync(t.p(f))] as const));
      for (const target of all) {
        assert.ok(target.files.length > 0, `${target.family}: nothing to mutate`);
        const outcomes = { ok: 0, degraded: 0, error: 0 };
        for (let i = 0; i < target.cases; i++) {
          const caseSeed = seed * 1000 + target.family.length * 100 + i;
          const rng = prng(caseSeed);
          const file = rng.pick(target.files);
          const p = t.p(file);
          const orig = pristine.get(p)!;
          const m = mutate(rng, orig, target.pool);
          if (m === 'delete') fs.rmSync(p);
          else if (m === 'dir') {
            fs.rmSync(p);
            fs.mkdirSync(p);
          } else fs.writeFileSync(p, m);
          const what = `${layout} ${target.family} seed ${caseSeed} (${file})`;
          try {
            const before = snapshot(t.dir, staged);
            const r = await runInProcess(['--root', t.dir, 'status', '--json']);
            const outcome = assertClean(r, what);
            outcomes[outcome]++;
            if (r.status === 0) JSON.parse(r.stdout);
            if (i < SUBPROCESS_SAMPLE) {
              const s = cli(['--root', t.dir, 'status', '--json']);
              assert.deepEqual([s.status, s.stdout, s.stderr], [r.status, r.stdout, r.stderr], `${what}: subprocess and in-process runs differ`);
            }
            assert.deepEqual(snapshot(t.dir, staged), before, `${what}: status changed the root`);
          } finally {
            for (const [q, bytes] of pristine) {
              fs.rmSync(q, { recursive: true, force: true });
              fs.mkdirSync(path.dirname(q), { recursive: true });
              fs.writeFileSync(q, bytes);
            }
          }
          tally.add(target.family);
        }
        console.log(`# ${layout} ${target.family}: ${JSON.stringify(outcomes)}`);
      }
    } finally {
      fs.rmSync(t.dir, { recursive: true, force: true });
    }
  });
}

test('fuzz-host summary', { skip: skipReason ?? false }, () => {
  tally.print('fuzz-host');
});
