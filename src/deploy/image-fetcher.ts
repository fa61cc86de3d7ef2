/**
 * Owns the port through which switch/upgrade get images: the manifest alone
 * (is it already here? `--check`), and the whole image as an OciStore to pull
 * from. The real one fetches any transport with skopeo into a `dir:` layout
 * (image/fetch.ts) inside a work dir on the sysroot; tests inject a fake that
 * serves OCI layouts directly.
 */
import * as path from 'node:path';
import { openDirStore } from '../composefs/oci/dir-store.js';
import type { OciStore } from '../composefs/oci/layout.js';
import { fetchImage, fetchManifest } from '../image/fetch.js';
import type { ProgressOutput } from '../image/progress.js';
import type { ImageRef } from '../image/ref.js';
import type { Host } from '../sys/host.js';

export interface FetchedManifestInfo {
  manifestDigest: string;
  rawManifest: Buffer;
}

export interface FetchedSource extends FetchedManifestInfo {
  store: OciStore;
}

export interface ImageFetcher {
  /** The image's manifest (for an index: this platform's) without its layers. */
  manifest(ref: ImageRef): Promise<FetchedManifestInfo>;
  /** Fetches the whole image into `workDir` (a real, empty-or-absent path the caller removes). */
  fetch(ref: ImageRef, workDir: string): Promise<FetchedSource>;
}

export interface SkopeoFetcherOptions {
  authfile?: string | undefined;
  quiet?: boolean | undefined;
  progress?: ProgressOutput | undefined;
}

/** Fetches with skopeo; the signature policy is enforced when the reference asks for it. */
export function skopeoFetcher(host: Host, opts: SkopeoFetcherOptions = {}): ImageFetcher {
  return {
    async manifest(ref) {
      const m = await fetchManifest(host, ref, { authfile: opts.authfile });
      return { manifestDigest: m.manifestDigest, rawManifest: m.rawManifest };
    },
    async fetch(ref, workDir) {
      const img = await fetchImage(host, ref, {
        destDir: path.join(workDir, 'image'),
        authfile: opts.authfile,
        quiet: opts.quiet,
        progress: opts.progress,
        enforceSigpolicy: ref.signature.kind === 'containerPolicy',
        // The store is only read by pullOciImage, whose verifiedBlob checks each layer's sha256 as it imports it.
        layerCheck: 'size',
      });
      return { manifestDigest: img.manifestDigest, rawManifest: img.rawManifest, store: openDirStore(img.dir) };
    },
  };
}
