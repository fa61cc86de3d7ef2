/**
 * Owns pulling an OCI image into a composefs repository (composefs.md §4.3;
 * composefs-oci `pull` + `ensure_oci_composefs_erofs`): resolve and verify
 * the manifest and config, store every missing layer as `oci-layer-<diff_id>`
 * (split per §3.4, objects published concurrently; layers already present are
 * replayed from their splitstreams, never re-read from the source), non-tar
 * artifact layers as raw `oci_blob` streams, then the EROFS images for every
 * format in meta.json (and with `bootable` the boot variant), the config and
 * manifest splitstreams with their named refs, and the tag.
 *
 * All-or-nothing: every stream, image link and tag is created only after the
 * whole image (layers, trees, EROFS bytes) was built, so a failed pull leaves
 * no tag, no stream and no image — only unreferenced objects, for GC.
 */
import { FormatError, TsbootcError, withContext } from '../../util/errors.js';
import { writeErofs } from '../erofs/writer.js';
import { CONTENT_TYPE, type ErofsFormatVersion, type ObjectId, type Repository } from '../repository/index.js';
import { newDir, type Dir } from '../tree.js';
import { importLayerTar, layerTarStream, type Decompressor } from './import.js';
import { resolveOciImage, verifiedBlob, type OciDescriptor, type OciPlatform, type OciStore, type ResolvedImage } from './layout.js';
import { transformForBoot, transformForOci, xattrFilter, type XattrFiltering } from './merge.js';
import { newImportStats, RepoObjectSink, StreamSplitSink, type ImportStats } from './repo-sink.js';
import { mergeStoredLayer } from './stored-tree.js';
import { configStreamName, idForVersion, imageRefKey, layerStreamName, manifestStreamName, openStoredImage, tagImage, writeConfigStream, writeManifestStream, type ImageIds } from './stored.js';

export interface PullOptions {
  /** Tag to create in the repository: `streams/refs/oci/<enc(tag)>`. */
  tag?: string | undefined;
  /** The `org.opencontainers.image.ref.name` to pick from the source's index.json. */
  sourceRef?: string | undefined;
  platform?: OciPlatform | undefined;
  /** Also build the boot EROFS (transform_for_boot) and link it as `composefs.image.boot[.v1]`. */
  bootable?: boolean | undefined;
  /** tar+zstd layers (inject src/sys/zstd.ts libzstdDecompressor). */
  zstd?: Decompressor | undefined;
  xattrs?: XattrFiltering | undefined;
  /** Objects published at once (default 16). */
  concurrency?: number | undefined;
}

export interface PullResult {
  manifestDigest: string;
  configDigest: string;
  manifestVerity: ObjectId;
  configVerity: ObjectId;
  isContainerImage: boolean;
  /** The OCI-view EROFS ids, one per configured format (none for artifacts). */
  imageIds: ImageIds;
  /** The boot EROFS ids (with `bootable`). */
  bootImageIds: ImageIds;
  /** The default format's boot id: bootc's deployment id (with `bootable`). */
  bootImageId?: ObjectId | undefined;
  stats: ImportStats;
}

/** meta.json's formats, default first. V0 is refused as composefs-rs does (no epoch-1 map entry). */
function formatsOf(repo: Repository): ErofsFormatVersion[] {
  const c = repo.formatConfig;
  const all = [c.default, ...c.extra.filter((v) => v !== c.default)];
  if (all.includes(0)) throw new TsbootcError(`${repo.path}: a repository whose EROFS formats include V0 cannot pull OCI images (composefs-rs stores only V1 and V2 image refs)`);
  return all;
}

interface BuiltImage {
  layers: [string, ObjectId][];
  /** Layer streams to register: [content id, splitstream object]. */
  newStreams: [string, ObjectId][];
  /** EROFS images by format, already stored as objects (linked under images/ at commit). */
  erofs: Map<ErofsFormatVersion, ObjectId>;
  bootErofs: Map<ErofsFormatVersion, ObjectId>;
}

/** Stores or replays each tar layer into `root`; returns the layer refs and the streams still to register. */
async function storeLayers(repo: Repository, store: OciStore, image: ResolvedImage, root: Dir, opts: PullOptions, sink: RepoObjectSink, stats: ImportStats): Promise<Pick<BuiltImage, 'layers' | 'newStreams'>> {
  const layers: [string, ObjectId][] = [];
  const newStreams: [string, ObjectId][] = [];
  for (const [i, layer] of image.layers.entries()) {
    const diffId = image.diffIds[i]!;
    stats.layers++;
    const existing = await repo.hasStream(layerStreamName(diffId));
    if (existing !== undefined) {
      stats.layersAlreadyPresent++;
      await mergeStoredLayer(repo, root, diffId, existing);
      layers.push([diffId, existing]);
      continue;
    }
    const split = new StreamSplitSink(repo.createStream(CONTENT_TYPE.ociLayer), stats);
    try {
      // Xattrs transformForOci would drop are dropped while parsing: a layer cannot fill memory with them.
      const keepXattr = xattrFilter(opts.xattrs ?? 'allowlist-only');
      await importLayerTar(root, layerTarStream(store, layer, opts.zstd), { algorithm: repo.algorithm, sink, zstd: opts.zstd, layer: layer.digest, expectedDiffId: diffId, split, keepXattr });
    } catch (err) {
      split.writer.dispose();
      throw err;
    }
    const { id } = await repo.storeObject(split.writer.finish());
    layers.push([diffId, id]);
    newStreams.push([layerStreamName(diffId), id]);
  }
  return { layers, newStreams };
}

/** A non-tar artifact layer: the raw blob as one object behind an `oci_blob` splitstream keyed by its digest. */
async function storeBlobLayer(repo: Repository, store: OciStore, layer: OciDescriptor, stats: ImportStats): Promise<ObjectId> {
  const obj = await repo.storeObject(await collectBlob(store, layer));
  if (obj.method === 'already-present') stats.objectsAlreadyPresent++;
  else {
    stats.objectsCopied++;
    stats.bytesCopied += layer.size;
  }
  const w = repo.createStream(CONTENT_TYPE.ociBlob);
  w.writeExternalRef(obj.id, layer.size);
  return (await repo.storeObject(w.finish())).id;
}

async function collectBlob(store: OciStore, desc: OciDescriptor): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of verifiedBlob(store, desc)) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/**
 * Writes each format's EROFS image and stores it as an object at once, so
 * only one image is in memory at a time and none is held until the commit
 * (an unlinked object is harmless: GC removes it if the pull fails).
 */
async function storeImages(repo: Repository, root: Dir, formats: ErofsFormatVersion[]): Promise<Map<ErofsFormatVersion, ObjectId>> {
  const out = new Map<ErofsFormatVersion, ObjectId>();
  for (const v of formats) out.set(v, (await repo.storeObject(writeErofs(root, { version: v }))).id);
  return out;
}

/** Builds everything for a container image (nothing visible yet). */
async function buildContainerImage(repo: Repository, store: OciStore, image: ResolvedImage, opts: PullOptions, stats: ImportStats): Promise<BuiltImage> {
  const formats = formatsOf(repo);
  const sink = new RepoObjectSink(repo, stats, opts.concurrency === undefined ? {} : { maxPending: opts.concurrency });
  const root = newDir();
  let stored: Pick<BuiltImage, 'layers' | 'newStreams'>;
  try {
    stored = await storeLayers(repo, store, image, root, opts, sink, stats);
    await sink.drain();
  } catch (err) {
    await sink.settle();
    throw err;
  }
  transformForOci(root, { xattrs: opts.xattrs ?? 'allowlist-only' });
  const erofs = await storeImages(repo, root, formats);
  let bootErofs = new Map<ErofsFormatVersion, ObjectId>();
  if (opts.bootable === true) {
    await transformForBoot(root, { readObject: (id) => repo.readObject(id.toString('hex')) });
    bootErofs = await storeImages(repo, root, formats);
  }
  return { ...stored, erofs, bootErofs };
}

/**
 * Pulls an image from an OCI layout, archive or dir store into `repo` and
 * tags it. An image already complete in the repository (manifest stream, and
 * the config naming every required EROFS image) is only re-tagged.
 * @throws FormatError for bad blobs, layers or JSON; TsbootcError for repository failures
 */
export async function pullOciImage(repo: Repository, source: OciStore, opts: PullOptions = {}): Promise<PullResult> {
  return withContext(`Pulling ${source.name}`, async () => {
    const image = await resolveOciImage(source, opts.sourceRef, opts.platform);
    const stats = newImportStats();
    const done = await completeImage(repo, image, opts);
    if (done !== undefined) {
      stats.layers = image.layers.length;
      stats.layersAlreadyPresent = image.layers.length;
      if (opts.tag !== undefined) await tagImage(repo, image.manifestDigest, opts.tag);
      return { ...done, stats };
    }
    const formats = image.isContainerImage ? formatsOf(repo) : [];
    let built: BuiltImage;
    if (image.isContainerImage) built = await buildContainerImage(repo, source, image, opts, stats);
    else {
      built = { layers: [], newStreams: [], erofs: new Map(), bootErofs: new Map() };
      for (const layer of image.layers) {
        stats.layers++;
        const existing = await repo.hasStream(layerStreamName(layer.digest));
        const id = existing ?? (await storeBlobLayer(repo, source, layer, stats));
        if (existing === undefined) built.newStreams.push([layerStreamName(layer.digest), id]);
        else stats.layersAlreadyPresent++;
        built.layers.push([layer.digest, id]);
      }
    }
    return withContext(`Committing image ${image.manifestDigest}`, async () => {
      for (const [name, id] of built.newStreams) await repo.registerStream(id, name);
      const imageIds: ImageIds = {};
      const bootImageIds: ImageIds = {};
      const bootRefs = new Map<string, ObjectId>();
      for (const v of formats) {
        const id = built.erofs.get(v)!;
        await repo.linkImage(id);
        if (v === 2) imageIds.v2 = id;
        else imageIds.v1 = id;
        const bid = built.bootErofs.get(v);
        if (bid !== undefined) {
          await repo.linkImage(bid);
          bootRefs.set(imageRefKey(v, true), bid);
          if (v === 2) bootImageIds.v2 = bid;
          else bootImageIds.v1 = bid;
        }
      }
      const configLayers = image.isContainerImage ? built.layers : [];
      const configVerity = await writeConfigStream(repo, image.configRaw, configLayers, imageIds, bootRefs);
      const manifestVerity = await writeManifestStream(repo, image.manifestRaw, image.configDigest, configVerity, built.layers);
      if (opts.tag !== undefined) await tagImage(repo, image.manifestDigest, opts.tag);
      const def = formats[0];
      return {
        manifestDigest: image.manifestDigest,
        configDigest: image.configDigest,
        manifestVerity,
        configVerity,
        isContainerImage: image.isContainerImage,
        imageIds,
        bootImageIds,
        bootImageId: def === undefined ? undefined : idForVersion(bootImageIds, def),
        stats,
      };
    });
  });
}

/** The result for an image the repository already holds completely, or undefined. */
async function completeImage(repo: Repository, image: ResolvedImage, opts: PullOptions): Promise<Omit<PullResult, 'stats'> | undefined> {
  if ((await repo.hasStream(manifestStreamName(image.manifestDigest))) === undefined) return undefined;
  if ((await repo.hasStream(configStreamName(image.configDigest))) === undefined) return undefined;
  let stored;
  try {
    stored = await openStoredImage(repo, image.manifestDigest);
  } catch (err) {
    if (err instanceof FormatError) return undefined; // damaged: pull again
    throw err;
  }
  const formats = stored.isContainerImage ? formatsOf(repo) : [];
  for (const v of formats) {
    if (idForVersion(stored.imageIds, v) === undefined) return undefined;
    if (opts.bootable === true && idForVersion(stored.bootImageIds, v) === undefined) return undefined;
  }
  const def = formats[0];
  return {
    manifestDigest: stored.manifestDigest,
    configDigest: stored.configDigest,
    manifestVerity: stored.manifestVerity,
    configVerity: stored.configVerity,
    isContainerImage: stored.isContainerImage,
    imageIds: stored.imageIds,
    bootImageIds: stored.bootImageIds,
    bootImageId: def === undefined ? undefined : idForVersion(stored.bootImageIds, def),
  };
}
