/**
 * Owns the OCI import benchmark (not a test): generates a deterministic
 * image of ≥ 1 GiB in ≥ 30 000 files over several gzip layers as an OCI
 * layout (cached between runs), then times, in one run and side by side,
 *   - `tsbootc internals cfs --insecure --repo R oci pull oci:DIR`,
 *   - `umoci unpack` of the same layout,
 *   - `podman pull` of it from a local docker-registry on 127.0.0.1 (pushed
 *     with skopeo first, not timed) into a fresh temp store, overlay and vfs
 *     drivers (podman is apt-get installed when missing and we are root),
 * each under /usr/bin/time -v (wall time, CPU time and peak RSS), and prints
 * a markdown table with the ratios and the load average around the run. The
 * image comes from big-image.ts.
 *
 *   node dist/bench/oci-import.js [WORKDIR]     (default $TMPDIR/tsbootc-bench-oci)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { ensureLayout, LAYERS } from './big-image.js';
import { BIN, ensurePodman, runCmd as run, timed, type Timed } from './common.js';

/** Pushes the layout to a local registry and times `podman pull` of it into a fresh temp store (overlay, else vfs). */
async function podmanPull(work: string, layout: string): Promise<Timed[]> {
  const { withRegistry } = await import('../tests-integration/helpers/registry.js');
  return withRegistry({ direct: true }, async (reg) => {
    const ref = `${reg.host}/bench:latest`;
    const t0 = Date.now();
    const push = run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${ref}`]);
    if (push.status !== 0) throw new Error(`skopeo copy to the registry failed: ${push.out.slice(-1000)}`);
    console.error(`bench: pushed to ${ref} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const out: Timed[] = [];
    for (const driver of ['overlay', 'vfs']) {
      const store = path.join(work, `podman-${driver}`);
      fs.rmSync(store, { recursive: true, force: true });
      const p = ['podman', '--root', path.join(store, 'root'), '--runroot', path.join(store, 'run'), '--storage-driver', driver, '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
      try {
        out.push(timed(`podman pull (${driver})`, [...p, 'pull', '--quiet', '--tls-verify=false', `docker://${ref}`]));
      } catch (err) {
        console.error(`bench: podman pull with ${driver} failed: ${err instanceof Error ? err.message.slice(0, 500) : String(err)}`);
      } finally {
        run('podman', [...p, 'system', 'reset', '--force']);
        fs.rmSync(store, { recursive: true, force: true });
      }
    }
    return out;
  });
}

async function main(): Promise<void> {
  const work = process.argv[2] ?? path.join(tmpdir(), 'tsbootc-bench-oci');
  const layout = path.join(work, 'layout');
  const { files, bytes } = await ensureLayout(layout);
  console.error(`bench: image: ${files} files, ${(bytes / 2 ** 30).toFixed(2)} GiB of file content, ${LAYERS} gzip layers`);
  if (process.env['TSBOOTC_BENCH_GENERATE_ONLY'] === '1') return;
  const skipped: string[] = [];
  const podmanMissing = ensurePodman();
  const load0 = loadavg();
  const results: Timed[] = [];
  const repo = path.join(work, 'repo');
  fs.rmSync(repo, { recursive: true, force: true });
  spawnSync(process.execPath, [BIN, 'internals', 'cfs', 'init', '--insecure', repo], { stdio: 'ignore' });
  const pull = [process.execPath, BIN, 'internals', 'cfs', '--insecure', '--repo', repo, 'oci', 'pull', `oci:${layout}:latest`, 'bench'];
  results.push(timed('tsbootc oci pull', pull));
  results.push(timed('tsbootc oci pull (again, image complete: tag only)', pull));
  fs.rmSync(repo, { recursive: true, force: true });
  // TSBOOTC_BENCH_BASELINE=DIR: also time another build (a checkout with bin/ and dist/) for before/after under the same load.
  const baseline = process.env['TSBOOTC_BENCH_BASELINE'];
  if (baseline !== undefined && baseline !== '') {
    const bin = path.join(baseline, 'bin', 'tsbootc.js');
    spawnSync(process.execPath, [bin, 'internals', 'cfs', 'init', '--insecure', repo], { stdio: 'ignore' });
    results.push(timed(`tsbootc oci pull (baseline build ${baseline})`, [process.execPath, bin, ...pull.slice(2)]));
    fs.rmSync(repo, { recursive: true, force: true });
  }
  const bundle = path.join(work, 'bundle');
  fs.rmSync(bundle, { recursive: true, force: true });
  results.push(timed('umoci unpack', ['umoci', 'unpack', '--image', `${layout}:latest`, bundle]));
  fs.rmSync(bundle, { recursive: true, force: true });
  if (podmanMissing !== undefined) skipped.push(`podman pull: skipped, ${podmanMissing}`);
  else results.push(...(await podmanPull(work, layout)));
  const load1 = loadavg();
  const base = results[0]!;
  console.log(`Image: ${files} files, ${(bytes / 2 ** 30).toFixed(2)} GiB of file content in ${LAYERS} gzip layers.`);
  console.log(`Load average (1 min) before: ${load0[0]!.toFixed(1)}, after: ${load1[0]!.toFixed(1)}; ${cpus().length} CPUs.\n`);
  console.log('| tool | wall time (s) | CPU time (s) | peak RSS (MiB) | wall vs tsbootc | CPU vs tsbootc | RSS vs tsbootc |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const f = (x: number, d = 2) => x.toFixed(d);
  for (const r of results) {
    console.log(`| ${r.name} | ${f(r.wallSec, 1)} | ${f(r.cpuSec, 1)} | ${f(r.maxRssMiB, 0)} | ${f(r.wallSec / base.wallSec)} | ${f(r.cpuSec / base.cpuSec)} | ${f(r.maxRssMiB / base.maxRssMiB)} |`);
  }
  for (const s of skipped) console.log(`\n${s}`);
}

await main();
