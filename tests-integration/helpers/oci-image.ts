/**
 * Owns building small, reproducible OCI test images offline: umoci writes an
 * OCI layout, one `umoci insert` per layer from an in-memory file list, with
 * every mtime and the created dates pinned so the same lists give the same
 * digests on every run. Also: a multi-arch index over tags of the layout,
 * pushing with skopeo, and reading back what a layout holds.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync, lstatSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const FIXED_DATE = '2024-01-01T00:00:00Z';
const FIXED_TIME = new Date(FIXED_DATE);

export interface FileSpec {
  /** Path inside the image, e.g. `usr/lib/os-release` (directories are created). */
  path: string;
  content: string | Buffer;
  mode?: number;
}

export interface ImageSpec {
  /** One file list per layer, bottom first. */
  layers: FileSpec[][];
  /** GOARCH, default amd64. */
  arch?: string;
  labels?: Record<string, string>;
}

export interface BuiltImage {
  tag: string;
  manifestDigest: string;
  rawManifest: Buffer;
  configDigest: string;
  layers: Array<{ digest: string; size: number; mediaType: string }>;
}

/** Runs a tool; a failure throws with its stderr. */
export async function run(argv: string[]): Promise<string> {
  const [file, ...args] = argv;
  try {
    const r = await execFileP(file as string, args, { maxBuffer: 1 << 28 });
    return r.stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${argv.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

function pinTimes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (lstatSync(p).isDirectory()) pinTimes(p);
    if (!lstatSync(p).isSymbolicLink()) utimesSync(p, FIXED_TIME, FIXED_TIME);
  }
  utimesSync(dir, FIXED_TIME, FIXED_TIME);
}

function writeTree(root: string, files: FileSpec[]): void {
  for (const f of files) {
    const p = path.join(root, f.path);
    mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
    writeFileSync(p, f.content, { mode: f.mode ?? 0o644 });
  }
  pinTimes(root);
}

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** Reads a layout's blob by digest. */
export function readBlob(layout: string, digest: string): Buffer {
  return readFileSync(path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
}

interface IndexJson {
  schemaVersion: number;
  manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: unknown }>;
}

function readIndex(layout: string): IndexJson {
  return JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as IndexJson;
}

/** What `tag` points at in the layout. */
export function describeTag(layout: string, tag: string): BuiltImage {
  const entry = readIndex(layout).manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (entry === undefined) throw new Error(`no tag ${tag} in ${layout}`);
  const rawManifest = readBlob(layout, entry.digest);
  const m = JSON.parse(rawManifest.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string; size: number; mediaType: string }> };
  return { tag, manifestDigest: entry.digest, rawManifest, configDigest: m.config?.digest ?? '', layers: m.layers ?? [] };
}

/** Builds `tag` in the OCI layout at `layout` (created if missing) from `spec`. */
export async function buildImage(layout: string, tag: string, spec: ImageSpec): Promise<BuiltImage> {
  if (!existsSync(path.join(layout, 'index.json'))) await run(['umoci', 'init', '--layout', layout]);
  const ref = `${layout}:${tag}`;
  await run(['umoci', 'new', '--image', ref]);
  const scratch = mkdtempSync(path.join(tmpdir(), 'tsbootc-layer-'));
  try {
    for (const [i, files] of spec.layers.entries()) {
      const dir = path.join(scratch, String(i));
      mkdirSync(dir);
      writeTree(dir, files);
      await run(['umoci', 'insert', '--image', ref, '--history.created', FIXED_DATE, '--history.created_by', `layer ${i}`, dir, '/']);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const labels = Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ['--config.label', `${k}=${v}`]);
  await run(['umoci', 'config', '--image', ref, '--created', FIXED_DATE, '--no-history', '--architecture', spec.arch ?? 'amd64', '--os', 'linux', ...labels]);
  await run(['umoci', 'gc', '--layout', layout]);
  return describeTag(layout, tag);
}

/**
 * Adds `tag` to the layout as an OCI image index over `entries` (tags already
 * in the layout), each with its platform. Returns the index digest.
 */
export function addIndex(layout: string, tag: string, entries: Array<{ tag: string; arch: string }>): { digest: string; raw: Buffer } {
  const idx = readIndex(layout);
  const manifests = entries.map((e) => {
    const d = describeTag(layout, e.tag);
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d.manifestDigest, size: d.rawManifest.length, platform: { architecture: e.arch, os: 'linux' } };
  });
  const raw = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  const digest = sha256(raw);
  writeFileSync(path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), raw);
  idx.manifests = idx.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag);
  idx.manifests.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: raw.length, annotations: { 'org.opencontainers.image.ref.name': tag } });
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify(idx));
  return { digest, raw };
}

export interface PushOptions {
  /** registries.conf marking the registry insecure (plain HTTP). */
  registriesConf?: string;
  authfile?: string;
  /** Push every image of an index (`--multi-arch all`). */
  all?: boolean;
  /** Push as Docker schema 2 instead of OCI. */
  dockerFormat?: boolean;
}

/** `skopeo copy oci:LAYOUT:TAG DEST`; returns the digest the destination got. */
export async function pushImage(layout: string, tag: string, dest: string, opts: PushOptions = {}): Promise<string> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'tsbootc-push-'));
  try {
    const digestFile = path.join(scratch, 'digest');
    await run([
      'skopeo',
      ...(opts.registriesConf !== undefined ? ['--registries-conf', opts.registriesConf] : []),
      '--insecure-policy',
      'copy',
      '--quiet',
      '--digestfile',
      digestFile,
      ...(opts.authfile !== undefined ? ['--dest-authfile', opts.authfile] : []),
      ...(opts.all === true ? ['--multi-arch', 'all'] : []),
      ...(opts.dockerFormat === true ? ['--format', 'v2s2'] : []),
      `oci:${layout}:${tag}`,
      dest,
    ]);
    return readFileSync(digestFile, 'utf8').trim();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A registries.conf that marks `host` insecure (plain HTTP allowed). */
export function insecureRegistriesConf(host: string, extra = ''): string {
  return `unqualified-search-registries = []\n\n[[registry]]\nlocation = "${host}"\ninsecure = true\n${extra}`;
}

/** An auth.json for `host` (the containers-auth.json format). */
export function authJson(host: string, user: string, password: string): string {
  return JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });
}

/** Deterministic pseudo-random bytes (incompressible, reproducible). */
export function noise(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}
