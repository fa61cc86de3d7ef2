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
 * a markdown table with the ratios and the load average around the run.
 *
 *   node dist/bench/oci-import.js [WORKDIR]     (default $TMPDIR/tsbootc-bench-oci)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { rawEntry, TAR_END } from '../src/composefs/oci/test-fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'tsbootc.js');
/** TSBOOTC_BENCH_SCALE (default 1) shrinks the image for profiling runs (e.g. 0.1 ≈ 110 MiB, 3 200 files). */
const SCALE = Number(process.env['TSBOOTC_BENCH_SCALE'] ?? '1');
const MIN_BYTES = 1.05 * 2 ** 30 * SCALE;
const MIN_FILES = Math.ceil(32_000 * SCALE);
const LAYERS = 4;
const MTIME = 1700000000;

/** xorshift32: deterministic and fast. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  fill(buf: Buffer): void {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    for (let i = words.length * 4; i < buf.length; i++) buf[i] = this.next() & 0xff;
  }
}

interface FileSpec {
  name: string;
  size: number;
}

/** The files of the image: 75 % small, 24 % medium, 1 % large; until both minimums are met. */
function plan(): FileSpec[][] {
  const rng = new Rng(0x5eed);
  const files: FileSpec[] = [];
  let total = 0;
  while (total < MIN_BYTES || files.length < MIN_FILES) {
    const r = rng.next() % 100;
    const size = r < 75 ? rng.next() % 4096 : r < 99 ? 4096 + (rng.next() % 61440) : 262144 + (rng.next() % 3932160);
    const i = files.length;
    files.push({ name: `usr/share/bench/d${String(i % 200).padStart(3, '0')}/f${String(i).padStart(6, '0')}.bin`, size });
    total += size;
  }
  const per = Math.ceil(files.length / LAYERS);
  return Array.from({ length: LAYERS }, (_, l) => files.slice(l * per, (l + 1) * per));
}

interface Blob {
  digest: string;
  diffId: string;
  size: number;
}

/** Writes one gzip layer blob into the layout, streaming; returns its digests. */
async function writeLayer(dir: string, index: number, files: FileSpec[]): Promise<Blob> {
  const tmp = path.join(dir, 'blobs/sha256', `.tmp-${index}`);
  const gz = createGzip({ level: 1 });
  const out = fs.createWriteStream(tmp);
  const compressed = createHash('sha256');
  let size = 0;
  gz.on('data', (c: Buffer) => {
    compressed.update(c);
    size += c.length;
  });
  gz.pipe(out);
  const diff = createHash('sha256');
  const write = async (b: Buffer) => {
    diff.update(b);
    if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
  };
  const c = { mtime: MTIME };
  const dirs = index === 0 ? ['usr/', 'usr/share/', 'usr/share/bench/', ...Array.from({ length: 200 }, (_, i) => `usr/share/bench/d${String(i).padStart(3, '0')}/`)] : [];
  for (const d of dirs) await write(rawEntry({ ...c, name: d, type: '5', mode: 0o755 }));
  const rng = new Rng(0xc0ffee + index);
  for (const f of files) {
    const data = Buffer.alloc(f.size);
    rng.fill(data);
    // Half of each file compresses (text-like), half does not.
    data.fill(0x61, 0, data.length >>> 1);
    await write(rawEntry({ ...c, name: f.name, mode: 0o644, data }));
  }
  await write(TAR_END);
  await new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
    gz.end();
  });
  const digest = 'sha256:' + compressed.digest('hex');
  fs.renameSync(tmp, path.join(dir, 'blobs/sha256', digest.slice(7)));
  return { digest, diffId: 'sha256:' + diff.digest('hex'), size };
}

async function ensureLayout(dir: string): Promise<{ files: number; bytes: number }> {
  const layers = plan();
  const files = layers.reduce((n, l) => n + l.length, 0);
  const bytes = layers.reduce((n, l) => n + l.reduce((m, f) => m + f.size, 0), 0);
  if (fs.existsSync(path.join(dir, 'index.json'))) return { files, bytes };
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const blobs: Blob[] = [];
  for (const [i, l] of layers.entries()) {
    console.error(`bench: writing layer ${i + 1}/${layers.length} (${l.length} files)`);
    blobs.push(await writeLayer(dir, i, l));
  }
  const put = (data: Buffer) => {
    const d = 'sha256:' + createHash('sha256').update(data).digest('hex');
    fs.writeFileSync(path.join(dir, 'blobs/sha256', d.slice(7)), data);
    return { digest: d, size: data.length };
  };
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.diffId) } })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.size })),
    }),
  );
  const m = put(manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return { files, bytes };
}

interface Timed {
  name: string;
  wallSec: number;
  cpuSec: number;
  maxRssMiB: number;
}

function timed(name: string, argv: string[]): Timed {
  const r = spawnSync('/usr/bin/time', ['-v', ...argv], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${name}: exit ${r.status}: ${r.stderr.slice(-2000)}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const user = /User time \(seconds\): ([\d.]+)/.exec(r.stderr);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(r.stderr);
  if (wall === null || rss === null || user === null || sys === null) throw new Error(`${name}: cannot parse /usr/bin/time output`);
  const wallSec = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  return { name, wallSec, cpuSec: Number(user[1]) + Number(sys[1]), maxRssMiB: Number(rss[1]) / 1024 };
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/**
 * podman, installed with apt-get when missing and we are root (the benchmark
 * only: scripts/setup.sh does not). Returns why podman cannot run, or undefined.
 */
function ensurePodman(): string | undefined {
  if (run('podman', ['--version']).status === 0) return undefined;
  if (process.getuid?.() !== 0) return 'podman is not installed and installing it needs root';
  console.error('bench: podman missing: apt-get install -y podman');
  let r = run('apt-get', ['install', '-y', '--no-install-recommends', 'podman']);
  if (r.status !== 0) {
    run('apt-get', ['update']);
    r = run('apt-get', ['install', '-y', '--no-install-recommends', 'podman']);
  }
  const installed = [...r.out.matchAll(/^Setting up (\S+)/gm)].map((m) => m[1]!);
  console.log(`bench: apt-get install podman: exit ${r.status}; installed ${installed.length} packages: ${installed.join(', ')}\n`);
  if (r.status !== 0) return `apt-get install podman failed: ${r.out.slice(-500)}`;
  return run('podman', ['--version']).status === 0 ? undefined : 'podman still does not run after apt-get install';
}

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
