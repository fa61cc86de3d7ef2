/**
 * Owns the switch benchmark (not a test; issue #7): `tsbootc --root HOST
 * switch` to a ≥ 1 GiB, 4-layer bootable image (big-image.ts) served by a
 * local docker-registry on 127.0.0.1, on a fake installed host booted into a
 * tiny image (the lifecycle tests' bootRealImage, not timed), side by side in
 * the same run with `podman pull` of the same image into a fresh store
 * (overlay driver, vfs when overlay fails). The runs alternate (tsbootc,
 * podman, tsbootc, podman, …); each runs under /usr/bin/time -v and the table
 * gives every run, the medians and the tsbootc/podman ratios. Needs root
 * (the fake host is installed with owners), docker-registry, skopeo, umoci
 * and podman (apt-get installed when missing); prints `SKIP:` otherwise.
 * Everything (registry, hosts, stores) is removed in finally blocks.
 *
 *   node dist/bench/switch.js [WORKDIR]   (default $TMPDIR/tsbootc-bench-bootable; the image is kept there)
 *   TSBOOTC_BENCH_RUNS=N (default 2)  TSBOOTC_BENCH_SCALE=0.1 (a 110 MiB image)
 *   TSBOOTC_BENCH_BASELINE=DIR: also time another build (a checkout with bin/ and dist/) in each round, for before/after under the same load
 *   TSBOOTC_BENCH_PROFILE=DIR: one more tsbootc run with --cpu-prof and a timestamped -v log (common.ts profiledRun)
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureLayout, LAYERS, SCALE } from './big-image.js';
import { BIN, ensurePodman, loadNow, machineFacts, podmanGlobal, profiledRun, pushToRegistry, removePodmanStore, runCmd, sideBySideTable, timed, type Timed } from './common.js';
import { writeUnder } from '../tests-integration/helpers/host.js';
import { insecureRegistriesConf } from '../tests-integration/helpers/oci-image.js';
import { bootRealImage, buildOsImage } from '../tests-integration/helpers/os-image.js';
import { withRegistry } from '../tests-integration/helpers/registry.js';

const RUNS = Number(process.env['TSBOOTC_BENCH_RUNS'] ?? '2');
const BASELINE = process.env['TSBOOTC_BENCH_BASELINE'] ?? '';

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (the fake host is installed with file owners)';
  const missing = ['/usr/bin/time', '/usr/bin/docker-registry', 'skopeo', 'umoci'].filter((t) => runCmd('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) return `missing tools: ${missing.join(', ')}`;
  return ensurePodman();
}

interface StatusJson {
  status: { staged: { image: { imageDigest: string } } | null };
}

/** Throws unless the host at `dir` has `digest` staged. */
function checkStaged(dir: string, digest: string): void {
  const st = runCmd(process.execPath, [BIN, '--root', dir, 'status', '--json']);
  const staged = (JSON.parse(st.out) as StatusJson).status.staged?.image.imageDigest;
  if (staged !== digest) throw new Error(`switch did not stage ${digest} (staged: ${staged})`);
}

async function main(): Promise<void> {
  const skip = skipReason();
  if (skip !== undefined) {
    console.log(`SKIP: switch bench: ${skip}`);
    return;
  }
  const work = process.argv[2] ?? path.join(tmpdir(), 'tsbootc-bench-bootable');
  const img = await ensureLayout(path.join(work, 'layout'), { bootable: true });
  const scratch = fs.mkdtempSync(path.join(tmpdir(), 'tsbootc-bench-switch-'));
  try {
    const tiny = path.join(scratch, 'tiny');
    await buildOsImage(tiny, 'v1', { version: '0.9', kernel: '0', etc: { hostname: 'tiny\n' } });
    await withRegistry({ direct: true }, async (reg) => {
      const ref = `${reg.host}/bench:latest`;
      console.error(`bench: pushed to ${ref} in ${pushToRegistry(img.layout, ref).toFixed(1)} s`);
      const digest = runCmd('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${ref}`]).out.trim();
      const tsbootc: Timed[] = [];
      const podman: Timed[] = [];
      const baseline: Timed[] = [];
      let driver = 'overlay';
      const notes: string[] = [];
      const load0 = loadNow();
      for (let i = 1; i <= RUNS; i++) {
        const h = await bootRealImage('systemd-type1', tiny, 'v1');
        try {
          writeUnder(h.t.dir, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
          console.error(`bench: run ${i}: tsbootc switch (load ${loadNow()})`);
          tsbootc.push(timed(`tsbootc switch #${i}`, [process.execPath, BIN, '--root', h.t.dir, 'switch', '--quiet', ref]));
          checkStaged(h.t.dir, digest);
        } finally {
          fs.rmSync(h.t.dir, { recursive: true, force: true });
        }
        if (BASELINE !== '') {
          const b = await bootRealImage('systemd-type1', tiny, 'v1');
          try {
            writeUnder(b.t.dir, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
            console.error(`bench: run ${i}: baseline switch (load ${loadNow()})`);
            baseline.push(timed(`baseline switch #${i}`, [process.execPath, path.join(BASELINE, 'bin', 'tsbootc.js'), '--root', b.t.dir, 'switch', '--quiet', ref]));
            checkStaged(b.t.dir, digest);
          } finally {
            fs.rmSync(b.t.dir, { recursive: true, force: true });
          }
        }
        for (;;) {
          const d = driver;
          // A short path: podman refuses a runroot longer than 50 characters.
          const store = fs.mkdtempSync(path.join(tmpdir(), 'tsbp-'));
          try {
            console.error(`bench: run ${i}: podman pull (${d}) (load ${loadNow()})`);
            podman.push(timed(`podman pull (${d}) #${i}`, [...podmanGlobal(store, d), 'pull', '--quiet', '--tls-verify=false', `docker://${ref}`]));
            break;
          } catch (err) {
            if (d === 'vfs') throw err;
            notes.push(`podman pull with the overlay driver failed, vfs used instead: ${err instanceof Error ? err.message.slice(0, 300) : String(err)}`);
            driver = 'vfs';
          } finally {
            removePodmanStore(store, d);
          }
        }
      }
      console.log(`## tsbootc switch vs podman pull (${machineFacts()})\n`);
      console.log(`Image: ${img.files} files, ${(img.bytes / 2 ** 30).toFixed(2)} GiB of file content plus a 12 MiB kernel and a 40 MiB initramfs, ${LAYERS} gzip layers (${(img.compressedBytes / 2 ** 20).toFixed(0)} MiB), scale ${SCALE}; registry ${reg.host}; podman storage driver ${driver}.`);
      console.log(`Load (/proc/loadavg) before: ${load0}; after: ${loadNow()}.\n`);
      console.log(sideBySideTable(tsbootc, podman, `podman pull (${driver})`));
      if (BASELINE !== '') console.log(`\nBefore/after in the same run (baseline: ${BASELINE}; 'tsbootc' is this build, the peer is the baseline):\n\n${sideBySideTable(tsbootc, baseline, 'baseline')}`);
      for (const n of notes) console.log(`\n${n}`);
      const prof = process.env['TSBOOTC_BENCH_PROFILE'];
      if (prof !== undefined && prof !== '') {
        const h = await bootRealImage('systemd-type1', tiny, 'v1');
        try {
          writeUnder(h.t.dir, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
          await profiledRun([process.execPath, '--cpu-prof', '--cpu-prof-dir', prof, BIN, '-v', '--root', h.t.dir, 'switch', '--quiet', ref], prof);
          checkStaged(h.t.dir, digest);
        } finally {
          fs.rmSync(h.t.dir, { recursive: true, force: true });
        }
      }
    });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
