/**
 * Owns the containers-image `dir:` layout as skopeo writes it (manifest.json
 * with the source's exact bytes, `version`, one file per blob named by the
 * digest's hex): reading it back with every blob's sha256 and size checked
 * against its descriptor, and measuring a copy in progress (skopeo writes
 * each blob to `dir-put-blob*` and renames it when complete).
 * The paths here are working directories, not host paths.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { FetchError } from './fetch-errors.js';
import { parseManifest, sha256Digest, type Descriptor } from './oci-manifest.js';
import type { LayerState } from './progress.js';

export const DIR_MANIFEST = 'manifest.json';
const PARTIAL_PREFIX = 'dir-put-blob';

export interface FetchedLayer {
  digest: string;
  size: number;
  mediaType: string;
  /** Real path of the (still compressed) blob. */
  path: string;
}

export interface DirImage {
  manifestDigest: string;
  rawManifest: Buffer;
  configDigest: string;
  rawConfig: Buffer;
  layers: FetchedLayer[];
}

export function blobPath(dir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(dir, hex);
}

async function sha256File(file: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: 'sha256:' + h.digest('hex'), size };
}

/** Checks one blob against its descriptor. @throws FetchError('verify') naming the blob. */
export async function verifyBlob(dir: string, d: Descriptor, what: string): Promise<string> {
  const file = blobPath(dir, d.digest);
  let got: { digest: string; size: number };
  try {
    got = await sha256File(file);
  } catch (err) {
    throw new FetchError('verify', `${what} ${d.digest} is missing from the fetched image`, { cause: err });
  }
  if (got.size !== d.size) throw new FetchError('verify', `${what} ${d.digest}: size ${got.size}, expected ${d.size}`);
  if (got.digest !== d.digest) throw new FetchError('verify', `${what} ${d.digest}: content has digest ${got.digest}`);
  return file;
}

/**
 * How the layers of a `dir:` image are checked when it is read back: `full`
 * hashes every layer now; `size` only checks that each is present with its
 * descriptor's size, for a caller that reads every layer it uses through a
 * digest-checking stream (the importer's `verifiedBlob`) and so would hash it
 * a second time (docs/decisions/0018-switch-import-speed.md).
 */
export type LayerCheck = 'full' | 'size';

/** Checks one blob's presence and size only. @throws FetchError('verify') naming the blob. */
async function checkBlobSize(dir: string, d: Descriptor, what: string): Promise<string> {
  const file = blobPath(dir, d.digest);
  let size: number;
  try {
    size = (await fs.stat(file)).size;
  } catch (err) {
    throw new FetchError('verify', `${what} ${d.digest} is missing from the fetched image`, { cause: err });
  }
  if (size !== d.size) throw new FetchError('verify', `${what} ${d.digest}: size ${size}, expected ${d.size}`);
  return file;
}

/**
 * Reads and verifies a `dir:` image: the manifest's sha256 must be
 * `expectedDigest`, the config must match its descriptor, and so must every
 * layer (with `layerCheck` `size`: its size only).
 */
export async function readDirImage(dir: string, expectedDigest: string, layerCheck: LayerCheck = 'full'): Promise<DirImage> {
  const rawManifest = await fs.readFile(path.join(dir, DIR_MANIFEST));
  const manifestDigest = sha256Digest(rawManifest);
  if (manifestDigest !== expectedDigest) {
    throw new FetchError('verify', `the copied manifest has digest ${manifestDigest}, expected ${expectedDigest} (did the image change during the fetch?)`);
  }
  const m = parseManifest(rawManifest);
  if (m.kind !== 'manifest') throw new FetchError('verify', 'the copied manifest is an index, not an image manifest');
  await verifyBlob(dir, m.config, 'config');
  const rawConfig = await fs.readFile(blobPath(dir, m.config.digest));
  const layers: FetchedLayer[] = [];
  for (const l of m.layers) {
    layers.push({ digest: l.digest, size: l.size, mediaType: l.mediaType, path: layerCheck === 'full' ? await verifyBlob(dir, l, 'layer') : await checkBlobSize(dir, l, 'layer') });
  }
  return { manifestDigest, rawManifest, configDigest: m.config.digest, rawConfig, layers };
}

/**
 * How far a copy into `dir` has come, per layer. Completed blobs count whole.
 * skopeo writes a `dir:` destination one blob at a time in manifest order
 * (layers, then the config), so a single partial file belongs to the first
 * layer not yet complete; with several partial files (never seen with skopeo
 * 1.9) in-flight bytes are not attributed.
 */
export async function measureDirProgress(dir: string, layers: readonly Descriptor[]): Promise<LayerState[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') names = [];
    else throw err;
  }
  const present = new Set(names);
  const states = layers.map((l) => ({ digest: l.digest, size: l.size, bytes: present.has(l.digest.replace(/^sha256:/, '')) ? l.size : 0 }));
  const partial = names.filter((n) => n.startsWith(PARTIAL_PREFIX));
  const pending = states.find((s) => s.bytes < s.size);
  if (partial.length === 1 && pending !== undefined) {
    try {
      pending.bytes = Math.min(pending.size, (await fs.stat(path.join(dir, partial[0] as string))).size);
    } catch (err) {
      // Renamed or removed between readdir and stat: the next poll sees the result.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return states;
}
