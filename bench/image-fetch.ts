/**
 * Measures the ways of bringing a registry image to local disk that
 * docs/decisions/0005-image-fetch.md compares: fetchImage (skopeo copy to
 * dir:), skopeo copy to oci:, and a native Node HTTP client (manifest + blobs
 * with sha256 checks, plain HTTP, no auth), plus fetchManifest vs one native
 * manifest GET. Needs root-free tools only: docker-registry, skopeo, umoci.
 * Run: node dist/bench/image-fetch.js [layerMiB]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fetchImage, fetchManifest } from '../src/image/fetch.js';
import { parseManifest } from '../src/image/oci-manifest.js';
import type { ImageRef } from '../src/image/ref.js';
import { testHost, writeUnder } from '../tests-integration/helpers/host.js';
import { buildImage, insecureRegistriesConf, noise, pushImage, run } from '../tests-integration/helpers/oci-image.js';
import { registryUnavailable, withRegistry } from '../tests-integration/helpers/registry.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';

async function nativeFetch(base: string, repo: string, tag: string, dest: string): Promise<void> {
  const r = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { Accept: ACCEPT } });
  const raw = Buffer.from(await r.arrayBuffer());
  const m = parseManifest(raw);
  if (m.kind !== 'manifest') throw new Error('index');
  mkdirSync(dest, { recursive: true });
  writeFileSync(path.join(dest, 'manifest.json'), raw);
  await Promise.all([m.config, ...m.layers].map(async (d) => {
    const b = Buffer.from(await (await fetch(`${base}/v2/${repo}/blobs/${d.digest}`)).arrayBuffer());
    if ('sha256:' + createHash('sha256').update(b).digest('hex') !== d.digest || b.length !== d.size) throw new Error(`bad blob ${d.digest}`);
    writeFileSync(path.join(dest, d.digest.slice(7)), b);
  }));
}

async function time(label: string, n: number, fn: (i: number) => Promise<void>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} median ${ms[Math.floor(n / 2)]?.toFixed(0).padStart(6)} ms   (min ${ms[0]?.toFixed(0)}, max ${ms[n - 1]?.toFixed(0)}, n=${n})`);
}

async function main(): Promise<void> {
  const skip = registryUnavailable();
  if (skip !== undefined) {
    console.log(`image-fetch bench skipped: ${skip}`);
    return;
  }
  const mib = Number(process.argv[2] ?? '64');
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-bench-fetch-'));
  try {
    await withRegistry({}, async (reg) => {
      const layout = path.join(work, 'oci');
      await buildImage(layout, 'v1', {
        layers: [
          [{ path: 'usr/lib/os-release', content: 'ID=bench\n' }],
          [{ path: 'usr/share/a', content: noise((mib << 20) / 2, 'a') }],
          [{ path: 'usr/share/b', content: noise((mib << 20) / 2, 'b') }],
        ],
      });
      const root = path.join(work, 'root');
      const conf = writeUnder(root, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
      await pushImage(layout, 'v1', `docker://${reg.host}/bench:v1`, { registriesConf: conf });
      const host = testHost(root);
      const ref: ImageRef = { transport: 'registry', image: `${reg.host}/bench:v1`, signature: { kind: 'insecure' } };
      console.log(`image: 3 layers, ${mib} MiB of incompressible data (gzip), registry on loopback`);
      const out = (n: string, i: number) => path.join(work, `${n}-${i}`);
      await time('fetchManifest (skopeo inspect --raw)', 5, async () => void (await fetchManifest(host, ref)));
      await time('native GET manifest', 5, async () => void (await (await fetch(`${reg.url}/v2/bench/manifests/v1`, { headers: { Accept: ACCEPT } })).arrayBuffer()));
      await time('fetchImage (skopeo copy dir:, verify)', 5, async (i) => void (await fetchImage(host, ref, { destDir: out('dir', i) })));
      await time('skopeo copy dir: (no inspect, no verify)', 5, async (i) => void (await run(['skopeo', '--registries-conf', conf, '--insecure-policy', 'copy', '--quiet', `docker://${reg.host}/bench:v1`, `dir:${out('rawdir', i)}`])));
      await time('skopeo copy oci: (no verify)', 5, async (i) => void (await run(['skopeo', '--registries-conf', conf, '--insecure-policy', 'copy', '--quiet', `docker://${reg.host}/bench:v1`, `oci:${out('oci', i)}:v1`])));
      await time('native fetch() manifest + blobs, sha256', 5, (i) => nativeFetch(reg.url, 'bench', 'v1', out('native', i)));
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
