/**
 * Owns fake hosts booted into real (tiny) OS images for the deploy unit
 * tests, without umoci or skopeo: images are OCI layouts written by the
 * importer's tar fixtures, one layout per image; `bootImageHost` pulls one
 * into a TestRoot's /sysroot/composefs (insecure) and installs it with the
 * production install path; `layoutFetcher` serves `oci:` references straight
 * from the layouts and records what was asked.
 */
import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { openOciLayout, pullOciImage } from '../composefs/index.js';
import { Repository } from '../composefs/repository/index.js';
import { packTar, writeOciLayout, type PackEntry } from '../composefs/oci/test-fixtures.js';
import { realRepoSyscalls } from '../sys/repo-syscalls.js';
import { libzstdCodec } from '../sys/zstd.js';
import { Root } from '../sys/root.js';
import { openBootState, type BootState } from '../deploy/boot-state.js';
import { bootTargetFor, installDeployment } from '../deploy/stage.js';
import { deploymentFromRepository } from '../deploy/image-deployment.js';
import { bootcTag } from '../deploy/repo-gc.js';
import type { RepoAccess } from '../deploy/repo-access.js';
import type { ImageFetcher } from '../deploy/image-fetcher.js';
import type { UpdateDeps } from '../deploy/stage-image.js';
import { formatOriginImageRef, type ImageRef } from '../image/ref.js';
import { FakeRunner } from './fake-runner.js';
import { TestRoot, ROOT_UUID, type Build, type Layout } from './test-root.js';

export interface TestImageSpec {
  version: string;
  kernel: string;
  etc?: Record<string, string>;
  kargs?: string[];
}

function dirs(paths: string[]): PackEntry[] {
  const out = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
  }
  return [...out].sort().map((d) => ({ name: `${d}/`, type: 'directory', mode: 0o755 }));
}

/** Writes an OCI layout for a bootable image at `dir`; returns its manifest digest. */
export async function writeTestImage(dir: string, spec: TestImageSpec): Promise<string> {
  const files: Record<string, string> = {
    'usr/lib/os-release': `NAME="Test OS"\nID=testos\nVERSION_ID=${spec.version}\n`,
    [`usr/lib/modules/6.${spec.kernel}/vmlinuz`]: `vmlinuz ${spec.kernel}\n`,
    [`usr/lib/modules/6.${spec.kernel}/initramfs.img`]: `initramfs ${spec.kernel}\n`,
    'usr/lib/bootc/kargs.d/10.toml': `kargs = [${(spec.kargs ?? []).map((k) => JSON.stringify(k)).join(', ')}]\n`,
    ...Object.fromEntries(Object.entries(spec.etc ?? {}).map(([k, v]) => [`etc/${k}`, v])),
  };
  const entries: PackEntry[] = [{ name: 'boot/', type: 'directory', mode: 0o755 }, { name: 'sysroot/', type: 'directory', mode: 0o755 }, ...dirs(Object.keys(files))];
  for (const [name, data] of Object.entries(files).sort()) entries.push({ name, data, mode: 0o644 });
  const tar = await packTar(entries);
  return writeOciLayout(dir, [tar], { created: '2026-01-01T00:00:00Z' }).manifest;
}

export function testRepoAccess(root: Root): RepoAccess {
  const p = root.resolve('/sysroot/composefs');
  const opts = { sys: realRepoSyscalls(), zstd: libzstdCodec() };
  return {
    path: '/sysroot/composefs',
    open: async () => (fs.existsSync(path.join(p, 'meta.json')) ? Repository.open(p, opts) : undefined),
    openOrCreate: async () => (await Repository.init(p, { ...opts, insecure: true })).repo,
  };
}

/** An ImageFetcher for `oci:<layout dir>` references; `calls` lists `manifest <image>` / `fetch <image>`. */
export function layoutFetcher(): ImageFetcher & { calls: string[] } {
  const calls: string[] = [];
  const store = (ref: ImageRef) => {
    if (ref.transport !== 'oci') throw new Error(`layoutFetcher: only oci: references (${ref.transport})`);
    return openOciLayout(ref.image.split(':')[0]!);
  };
  const manifest = async (ref: ImageRef) => {
    const idx = JSON.parse(await fs.promises.readFile(path.join(ref.image.split(':')[0]!, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const digest = idx.manifests[0]!.digest;
    const raw = await fs.promises.readFile(path.join(ref.image.split(':')[0]!, 'blobs', 'sha256', digest.slice(7)));
    return { manifestDigest: digest, rawManifest: raw };
  };
  return {
    calls,
    async manifest(ref) {
      calls.push(`manifest ${ref.image} ${ref.signature.kind}`);
      return manifest(ref);
    },
    async fetch(ref) {
      calls.push(`fetch ${ref.image} ${ref.signature.kind}`);
      return { ...(await manifest(ref)), store: store(ref) };
    },
  };
}

export interface ImageHost {
  t: TestRoot;
  verity: string;
  runner: FakeRunner;
  deps: UpdateDeps & { fetcher: ReturnType<typeof layoutFetcher> };
  /** A fresh BootState (re-read after each verb, as the CLI does). */
  state(): Promise<BootState>;
}

export function tempLayout(prefix = 'tsbootc-img-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A systemd-type1 (or other Type1 layout) TestRoot booted into the image at `layout`, with its /etc live. */
export async function bootImageHost(layout: string, kind: Layout = 'systemd-type1'): Promise<ImageHost> {
  const t = await TestRoot.create({ layout: kind });
  for (const p of ['/sysroot/composefs', '/sysroot/state/deploy', `${t.bootDir}/loader/entries`, `${t.espMount}/EFI/Linux`, '/sysroot/boot/bootc_composefs-' + t.booted.verity]) {
    fs.rmSync(t.p(p), { recursive: true, force: true });
  }
  const access = testRepoAccess(t.root);
  const repo = await access.openOrCreate();
  const runner = new FakeRunner({ strict: true });
  try {
    const pulled = await pullOciImage(repo, openOciLayout(layout), { bootable: true });
    const verity = pulled.bootImageId!;
    await t.bootInto({ verity } as Build);
    const st = (await openBootState(t.host(runner)))!;
    const ref: ImageRef = { transport: 'oci', image: layout, signature: { kind: 'insecure' } };
    const dep = await deploymentFromRepository(repo, st.sysroot, pulled.manifestDigest, { imageReference: formatOriginImageRef(ref), kargs: [`root=UUID=${ROOT_UUID}`, 'rw'], workDir: 'state/.install', owners: process.getuid?.() === 0 });
    await installDeployment(await bootTargetFor(st, false), st.sysroot, dep);
    fs.rmSync(t.p('/sysroot/state/.install'), { recursive: true, force: true });
    await repo.tagImage(pulled.manifestDigest, bootcTag(pulled.manifestDigest));
    fs.cpSync(t.p(`/sysroot/state/deploy/${verity}/etc`), t.p('/etc'), { recursive: true });
    const deps = { repo: access, fetcher: layoutFetcher(), arch: 'x86_64' };
    return { t, verity, runner, deps, state: async () => (await openBootState(t.host(runner)))! };
  } finally {
    repo.close();
  }
}
