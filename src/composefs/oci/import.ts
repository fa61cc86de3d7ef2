/**
 * Owns the OCI import entry points (composefs.md §4.3 steps 3–5, §5.1): layer
 * decompression by media type (tar, gzip via node:zlib, zstd via an injected
 * Decompressor), merging each verified layer into the tree all-or-nothing, and
 * checking each layer's diff_id. The repository stores what comes out: external
 * objects through the ObjectSink, the split tar through a SplitSink, the raw
 * manifest/config bytes from ResolvedImage.
 */
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FormatError } from '../../util/errors.js';
import type { VerityAlgorithm } from '../fsverity.js';
import { newDir, type Dir } from '../tree.js';
import { resolveOciImage, verifiedBlob, type OciDescriptor, type OciPlatform, type OciStore, type ResolvedImage } from './layout.js';
import { LayerMerger } from './merge.js';
import type { ObjectSink, SplitSink } from './sink.js';
import { readTarLayer, type LayerReadResult } from './tar.js';

/** Turns a compressed byte stream into the uncompressed tar. Errors surface while iterating. */
export interface Decompressor {
  decompress(input: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
}

/** zlib output chunk size: large chunks keep per-chunk overhead low on big layers. */
export const GZIP_CHUNK_SIZE = 1 << 20;

export const gzipDecompressor: Decompressor = {
  decompress(input) {
    const gunzip = createGunzip({ chunkSize: GZIP_CHUNK_SIZE });
    return pipeline(Readable.from(input, { objectMode: false }), gunzip, () => undefined);
  },
};

export const identityDecompressor: Decompressor = { decompress: (input) => input };

/** Layer compression by media type (including the non-distributable variants). */
export function layerCompression(mediaType: string): 'none' | 'gzip' | 'zstd' | undefined {
  const m = /^application\/vnd\.oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(\+gzip|\+zstd)?$/.exec(mediaType);
  if (m !== null) return m[1] === '+gzip' ? 'gzip' : m[1] === '+zstd' ? 'zstd' : 'none';
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip' || mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip') return 'gzip';
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return 'none';
  return undefined;
}

export interface LayerImportOptions {
  algorithm: VerityAlgorithm;
  sink: ObjectSink;
  /** Decompressor for tar+zstd layers (Node 20 has no zstd). */
  zstd?: Decompressor | undefined;
  /** Xattrs to keep while parsing (see ReadLayerOptions.keepXattr); undefined keeps all. */
  keepXattr?: ((key: string) => boolean) | undefined;
}

export interface ImportOptions extends LayerImportOptions {
  /** The index.json ref name to import; optional when the layout holds one image. */
  tag?: string | undefined;
  platform?: OciPlatform | undefined;
  /** A SplitSink per layer, to write `oci-layer-<diff_id>` in the same pass (undefined: none). */
  splitFor?: ((layer: OciDescriptor, diffId: string) => SplitSink | undefined) | undefined;
}

export interface ImportedLayer {
  descriptor: OciDescriptor;
  diffId: string;
  /** Uncompressed tar length (the splitstream's stream_size). */
  tarSize: number;
  entries: number;
}

export interface ImportedImage {
  image: ResolvedImage;
  layers: ImportedLayer[];
  /** The merged tree, before transformForOci / transformForBoot. */
  root: Dir;
}

/**
 * Reads one uncompressed layer tar into `root`. On any error (bad entry, I/O,
 * diff_id mismatch) `root` is restored to what it was before the call.
 * @throws FormatError naming the layer and, for entry errors, the entry path
 */
export async function importLayerTar(root: Dir, tar: AsyncIterable<Buffer>, opts: LayerImportOptions & { layer: string; expectedDiffId?: string | undefined; split?: SplitSink | undefined }): Promise<LayerReadResult> {
  const merger = new LayerMerger(root, opts.layer);
  try {
    const res = await readTarLayer(tar, { layer: opts.layer, algorithm: opts.algorithm, sink: opts.sink, split: opts.split, keepXattr: opts.keepXattr }, (e) => merger.apply(e));
    if (opts.expectedDiffId !== undefined && res.diffId !== opts.expectedDiffId) {
      throw new FormatError(`layer ${opts.layer}: uncompressed content has diff_id ${res.diffId}, but the config says ${opts.expectedDiffId}`);
    }
    merger.commit();
    return res;
  } catch (err) {
    merger.rollback();
    throw err;
  }
}

/** The uncompressed tar of a layer blob, verified against its descriptor while read. */
export function layerTarStream(store: OciStore, layer: OciDescriptor, zstd?: Decompressor): AsyncIterable<Buffer> {
  const kind = layerCompression(layer.mediaType);
  const blob = verifiedBlob(store, layer);
  if (kind === 'none') return blob;
  if (kind === 'gzip') return gzipDecompressor.decompress(blob);
  if (kind === 'zstd') {
    if (zstd === undefined) throw new FormatError(`layer ${layer.digest}: tar+zstd layer, but no zstd decompressor was supplied`);
    return zstd.decompress(blob);
  }
  throw new FormatError(`layer ${layer.digest}: unsupported layer media type ${JSON.stringify(layer.mediaType)}`);
}

/**
 * Imports a container image from an OCI layout or archive: resolves the tag,
 * verifies manifest/config/layer blobs, and merges the layers in order into a
 * fresh tree (composefs.md §5.1.2). Apply transformForOci to the result for the
 * image ids of §4.3 step 5.
 * @throws FormatError for artifacts, bad blobs, bad layers
 */
export async function importOciImage(store: OciStore, opts: ImportOptions): Promise<ImportedImage> {
  const image = await resolveOciImage(store, opts.tag, opts.platform);
  if (!image.isContainerImage) {
    throw new FormatError(`${store.name}: manifest ${image.manifestDigest} is an OCI artifact (config media type ${JSON.stringify(image.configMediaType)}), not a container image`);
  }
  const root = newDir();
  const layers: ImportedLayer[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const diffId = image.diffIds[i]!;
    const res = await importLayerTar(root, layerTarStream(store, layer, opts.zstd), {
      ...opts,
      layer: layer.digest,
      expectedDiffId: diffId,
      split: opts.splitFor?.(layer, diffId),
    });
    layers.push({ descriptor: layer, diffId: res.diffId, tarSize: res.size, entries: res.entries });
  }
  return { image, layers, root };
}
