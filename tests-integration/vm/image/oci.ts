/**
 * Owns turning a test rootfs into a tag of an OCI image layout with umoci,
 * reproducibly: fixed config/history timestamps, fixed file mtimes (set by the
 * caller), one layer.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { exec, execAllowFailure } from './exec.js';

export interface OciBuildOptions {
  layout: string;
  tag: string;
  rootfs: string;
  mtime: number;
  labels: Record<string, string>;
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** Writes rootfs as the one-layer image layout:tag (replacing an existing tag) and returns its manifest descriptor. */
export async function writeOciImage(opts: OciBuildOptions): Promise<OciDescriptor> {
  const created = new Date(opts.mtime * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const image = `${opts.layout}:${opts.tag}`;
  if (!existsSync(path.join(opts.layout, 'index.json'))) await exec(['umoci', 'init', '--layout', opts.layout]);
  else await execAllowFailure(['umoci', 'rm', '--image', image]);
  const history = ['--history.created', created, '--history.author', 'tsbootc', '--history.created_by', 'tsbootc test-image builder'];
  await exec(['umoci', 'new', '--image', image]);
  await exec(['umoci', 'insert', '--image', image, ...history, opts.rootfs, '/']);
  const labels = Object.entries(opts.labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([k, v]) => ['--config.label', `${k}=${v}`]);
  await exec(['umoci', 'config', '--image', image, '--created', created, '--author', 'tsbootc', '--architecture', 'amd64', '--os', 'linux',
    '--no-history', ...labels]);
  await exec(['umoci', 'gc', '--layout', opts.layout]);
  return readManifestDescriptor(opts.layout, opts.tag);
}

/** The descriptor in index.json whose org.opencontainers.image.ref.name is tag. */
export function readManifestDescriptor(layout: string, tag: string): OciDescriptor {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: OciDescriptor[] };
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (d === undefined) throw new Error(`${layout}: no manifest tagged ${tag}`);
  return d;
}

/** Reads a blob of the layout by digest. */
export function readBlob(layout: string, digest: string): Buffer {
  const [alg, hex] = digest.split(':');
  return readFileSync(path.join(layout, 'blobs', alg ?? 'sha256', hex ?? ''));
}
