/**
 * Owns fetching images from every transport bootc supports into a local
 * `dir:` layout (docs/decisions/0005-image-fetch.md): `fetchManifest` for the
 * raw manifest and its digest alone (upgrade --check, "No changes in"), and
 * `fetchImage` for the manifest, config and layers, each verified against its
 * descriptor. Registry images are copied by the digest that was inspected, so
 * a tag moving during the fetch cannot mix two images. Transient failures are
 * retried with backoff; a failed fetch leaves nothing at destDir.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Host } from '../sys/host.js';
import { withContext } from '../util/errors.js';
import { GLOBAL_AUTHFILES, isRegistryInsecure, resolveContainersConfig, sourceName, type ContainersConfig } from './containers-config.js';
import { measureDirProgress, readDirImage, type FetchedLayer, type LayerCheck } from './dir-layout.js';
import { classifySkopeoMessage, DEFAULT_RETRY, FetchError, skopeoMessage, withRetry, type RetryPolicy } from './fetch-errors.js';
import { goArch, parseManifest, selectPlatform, sha256Digest, type Descriptor, type ParsedManifest } from './oci-manifest.js';
import { createPullReporter, type ProgressOutput, type PullState } from './progress.js';
import { displayImageRef, splitRegistryName, type ImageRef } from './ref.js';
import { copyToDirArgv, inspectRawArgv } from './skopeo-argv.js';

export type { FetchedLayer } from './dir-layout.js';

export interface FetchManifestOptions {
  /** `--authfile`, a path on the running system. */
  authfile?: string | undefined;
  /** GOARCH to pick from an index; default: this machine's. */
  arch?: string | undefined;
  retry?: RetryPolicy | undefined;
}

export interface FetchOptions extends FetchManifestOptions {
  enforceSigpolicy?: boolean | undefined;
  /** Where the image lands (a working path, not a host path). Must not exist yet, or be empty. */
  destDir: string;
  /** No human progress (JSON progress, if asked for, is still written). */
  quiet?: boolean | undefined;
  progress?: ProgressOutput | undefined;
  /** How often the destination is measured for progress. Default 200 ms. */
  pollIntervalMs?: number | undefined;
  /**
   * `full` (default): every layer's sha256 is checked before fetchImage returns.
   * `size`: only its presence and size; the caller must read every layer it
   * uses through a digest-checking stream (`verifiedBlob`).
   */
  layerCheck?: LayerCheck | undefined;
}

export interface FetchedManifest {
  /** Digest of the image manifest (for an index, of the entry for this platform). */
  manifestDigest: string;
  rawManifest: Buffer;
  config: Descriptor;
  layers: Descriptor[];
  /** Digest of the index the manifest was chosen from, if the reference named one. */
  indexDigest?: string;
}

export interface FetchedImage {
  manifestDigest: string;
  rawManifest: Buffer;
  configDigest: string;
  rawConfig: Buffer;
  layers: FetchedLayer[];
  /** destDir: the `dir:` layout holding manifest.json and the blobs. */
  dir: string;
}

const OS = 'linux';

/** Runs skopeo; a failure becomes a one-line FetchError naming the source. */
async function runSkopeo(host: Host, cfg: ContainersConfig, ref: ImageRef, argv: string[], binary: boolean, attempts: number): Promise<Buffer> {
  const r = await host.run.run(argv, { allowFailure: true, binary });
  if (r.exitCode === 0) return r.stdoutBytes ?? Buffer.from(r.stdout);
  throw await describeFailure(host, cfg, ref, skopeoMessage(r.stderr), attempts);
}

async function describeFailure(host: Host, cfg: ContainersConfig, ref: ImageRef, msg: string, attempts: number): Promise<FetchError> {
  const kind = classifySkopeoMessage(msg);
  const where = sourceName(ref);
  switch (kind) {
    case 'auth': {
      const creds = cfg.authfile !== undefined ? `the credentials in ${cfg.authfile} were refused` : `no auth file was found (looked in --authfile, ${GLOBAL_AUTHFILES.join(', ')}, $XDG_RUNTIME_DIR/containers/auth.json)`;
      return new FetchError('auth', `${where} requires authentication and ${creds}`);
    }
    case 'tls': {
      const conf = cfg.registriesConfHostPath;
      let marked = false;
      if (conf !== undefined && ref.transport === 'registry') {
        try {
          marked = isRegistryInsecure(await fs.readFile(cfg.registriesConf, 'utf8'), ref.image);
        } catch (err) {
          host.log.debug({ kind: 'message', message: `not checking ${conf} for insecure registries: ${String(err)}` });
        }
      }
      if (marked) return new FetchError('tls', `${where}: ${msg}`);
      const why = /(?:http: server gave HTTP response to HTTPS client|x509: .*|tls: .*)$/.exec(msg)?.[0] ?? msg;
      return new FetchError('tls', `${where} failed TLS verification (${why}); to allow plain HTTP or unverified TLS, mark it \`insecure = true\` in ${conf ?? '/etc/containers/registries.conf'}`);
    }
    case 'not-found':
      return new FetchError('not-found', `${displayImageRef(ref)} not found in ${where}: ${msg}`);
    case 'transient':
      return new FetchError('transient', `${where} unreachable${attempts > 1 ? ` after ${attempts} attempts` : ''}: ${msg}`);
    default:
      return new FetchError(kind, `skopeo: ${msg}`);
  }
}

function retrying<T>(host: Host, ref: ImageRef, policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  return withRetry(policy, fn, {
    isTransient: (e) => e instanceof FetchError && e.kind === 'transient',
    onRetry: (e, attempt, delay) =>
      host.log.warn({ kind: 'warning', message: `Fetching ${displayImageRef(ref)}: attempt ${attempt} of ${policy.attempts} failed (${(e as Error).message}); retrying in ${delay / 1000} s` }),
  });
}

async function withScratchDir<T>(parent: string, prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await fs.mkdir(parent, { recursive: true });
  const dir = await fs.mkdtemp(path.join(parent, prefix));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function configFor(host: Host, work: string, opts: FetchManifestOptions & { enforceSigpolicy?: boolean | undefined }): Promise<ContainersConfig> {
  const empty = path.join(work, 'registries.conf');
  await fs.writeFile(empty, '');
  return resolveContainersConfig(host, { authfile: opts.authfile, enforceSigpolicy: opts.enforceSigpolicy, emptyRegistriesConf: empty });
}

async function resolveManifest(host: Host, cfg: ContainersConfig, ref: ImageRef, opts: FetchManifestOptions, work: string): Promise<FetchedManifest> {
  const policy = opts.retry ?? DEFAULT_RETRY;
  const inspect = (digest?: string) => retrying(host, ref, policy, (n) => runSkopeo(host, cfg, ref, inspectRawArgv(cfg, ref, digest), true, n));
  const raw = await inspect();
  const pinned = ref.transport === 'registry' ? splitRegistryName(ref.image).digest : undefined;
  if (pinned !== undefined && sha256Digest(raw) !== pinned) {
    throw new FetchError('verify', `the registry served a manifest with digest ${sha256Digest(raw)} for ${pinned}`);
  }
  const top = parseManifest(raw);
  if (top.kind === 'manifest') return { manifestDigest: sha256Digest(raw), rawManifest: raw, config: top.config, layers: top.layers };
  const indexDigest = sha256Digest(raw);
  const arch = opts.arch ?? goArch(os.arch());
  const entry = selectPlatform(top, { os: OS, architecture: arch });
  let instance: Buffer;
  if (ref.transport === 'registry') {
    instance = await inspect(entry.digest);
  } else if (ref.transport === 'oci') {
    // An OCI layout holds every platform's manifest as a blob (the path is what skopeo reads too).
    const layout = ref.image.includes(':') ? ref.image.slice(0, ref.image.indexOf(':')) : ref.image;
    instance = await fs.readFile(path.join(layout, 'blobs', 'sha256', entry.digest.slice('sha256:'.length)));
  } else {
    // Only registries can be addressed by digest; let skopeo resolve the platform and read what it wrote.
    const dir = path.join(work, 'index-instance');
    await retrying(host, ref, policy, (n) => runSkopeo(host, cfg, ref, copyToDirArgv(cfg, ref, dir, { arch }), false, n));
    instance = await fs.readFile(path.join(dir, 'manifest.json'));
    await fs.rm(dir, { recursive: true, force: true });
  }
  const got = sha256Digest(instance);
  if (got !== entry.digest) throw new FetchError('verify', `the manifest for ${OS}/${arch} has digest ${got}, the index says ${entry.digest}`);
  const m = parseManifest(instance) as ParsedManifest;
  if (m.kind !== 'manifest') throw new FetchError('verify', `the index entry for ${OS}/${arch} is itself an index`);
  return { manifestDigest: got, rawManifest: instance, config: m.config, layers: m.layers, indexDigest };
}

/**
 * The raw manifest and its digest, without downloading layers (`skopeo inspect --raw`).
 * An index is resolved to this machine's platform (or `opts.arch`).
 */
export async function fetchManifest(host: Host, ref: ImageRef, opts: FetchManifestOptions = {}): Promise<FetchedManifest> {
  return withContext(`Fetching manifest of ${displayImageRef(ref)}`, () =>
    withScratchDir(os.tmpdir(), 'tsbootc-manifest-', async (work) => resolveManifest(host, await configFor(host, work, opts), ref, opts, work)),
  );
}

async function ensureAbsentOrEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (names.length > 0) throw new FetchError('other', `destination ${dir} exists and is not empty`);
  await fs.rmdir(dir);
}

/**
 * Removes `.NAME.partial-*` siblings of destDir left by a fetch that was killed
 * (a failed fetch removes its own). Callers serialize fetches to one destDir.
 */
async function removeStalePartials(host: Host, destDir: string): Promise<void> {
  const prefix = `.${path.basename(destDir)}.partial-`;
  let names: string[];
  try {
    names = await fs.readdir(path.dirname(destDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const n of names.filter((x) => x.startsWith(prefix))) {
    host.log.debug({ kind: 'message', message: `removing the partial fetch ${path.join(path.dirname(destDir), n)} left by an interrupted run` });
    await fs.rm(path.join(path.dirname(destDir), n), { recursive: true, force: true });
  }
}

/**
 * Fetches the image into `opts.destDir` (a `dir:` layout) and returns its raw
 * manifest and config with every blob verified (layers: see `opts.layerCheck`). The copy is staged in a
 * sibling temp directory and renamed into place only when complete.
 * @throws FetchError (kind auth, tls, not-found, transient, verify, other) inside a "Fetching IMAGE" context.
 */
export async function fetchImage(host: Host, ref: ImageRef, opts: FetchOptions): Promise<FetchedImage> {
  const display = displayImageRef(ref);
  const destDir = path.resolve(opts.destDir);
  return withContext(`Fetching ${display}`, async () => {
    await ensureAbsentOrEmpty(destDir);
    await removeStalePartials(host, destDir);
    return withScratchDir(path.dirname(destDir), `.${path.basename(destDir)}.partial-`, async (work) => {
      const started = host.now().getTime();
      const cfg = await configFor(host, work, opts);
      const m = await resolveManifest(host, cfg, ref, opts, work);
      const stage = path.join(work, 'image');
      const reporter = createPullReporter(opts.progress ?? {}, { quiet: opts.quiet, now: () => host.now().getTime() });
      const state = (layers: PullState['layers']): PullState => ({ image: display, manifestDigest: m.manifestDigest, layers });
      reporter.update(state(m.layers.map((l) => ({ digest: l.digest, size: l.size, bytes: 0 }))));
      // Registry images are copied by digest; other transports pick from an index themselves.
      const arch = ref.transport !== 'registry' && m.indexDigest !== undefined ? opts.arch ?? goArch(os.arch()) : undefined;
      const argv = copyToDirArgv(cfg, ref, stage, { digest: m.manifestDigest, arch });
      await retrying(host, ref, opts.retry ?? DEFAULT_RETRY, async (attempt) => {
        await fs.rm(stage, { recursive: true, force: true });
        // One measurement at a time, and none reported once the copy has ended.
        let inflight: Promise<void> | undefined;
        let running = true;
        const poll = setInterval(() => {
          inflight ??= measureDirProgress(stage, m.layers)
            .then(
              (layers) => void (running && reporter.update(state(layers))),
              (err: unknown) => host.log.debug({ kind: 'message', message: `progress: ${String(err)}` }),
            )
            .finally(() => (inflight = undefined));
        }, opts.pollIntervalMs ?? 200);
        try {
          await runSkopeo(host, cfg, ref, argv, false, attempt);
        } finally {
          clearInterval(poll);
          running = false;
          await inflight;
        }
      });
      const img = await readDirImage(stage, m.manifestDigest, opts.layerCheck);
      await fs.rename(stage, destDir);
      reporter.finish(state(m.layers.map((l) => ({ digest: l.digest, size: l.size, bytes: l.size }))), host.now().getTime() - started);
      const rebase = (p: string) => path.join(destDir, path.basename(p));
      return { ...img, layers: img.layers.map((l) => ({ ...l, path: rebase(l.path) })), dir: destDir };
    });
  });
}
