/**
 * Owns rebuilding an image's filesystem tree from the layer splitstreams in
 * a repository (composefs-oci image.rs `create_filesystem`), without the
 * source blobs: each layer's tar is replayed through the importer's parser
 * with the external file contents stood in by zeros of the object's size, and
 * every regular file the parser hashed is then given the object id the
 * splitstream names. So a re-pull, `oci dump` and `oci compute-id` see exactly
 * the tree the first pull built. Also: reassembling a layer's tar and the
 * `oci layer --json` summary.
 */
import * as fsp from 'node:fs/promises';
import { FormatError, withContext } from '../../util/errors.js';
import { CONTENT_TYPE, type ObjectId, type Repository, type SplitStream } from '../repository/index.js';
import { newDir, objectPath, type Dir } from '../tree.js';
import { LayerMerger } from './merge.js';
import type { ObjectSink } from './sink.js';
import { readTarLayer, type TarEntry } from './tar.js';
import { configStreamName, layerStreamName } from './stored.js';

const ZEROS = Buffer.alloc(1 << 20);

/** Discards contents without hashing them: the ids come from the splitstream. */
const NO_ID = Buffer.alloc(64);
const DISCARD: ObjectSink = { begin: () => ({ write: () => undefined, digest: () => NO_ID, finish: () => undefined, abort: () => undefined }) };

/** The layer's tar bytes with every external object replaced by zeros of its size; the ids are pushed to `ids` in order. */
async function* zeroFilledTar(repo: Repository, ss: SplitStream, ids: ObjectId[]): AsyncIterable<Buffer> {
  for (const c of ss.chunks()) {
    if (c.kind === 'inline') {
      yield c.data;
      continue;
    }
    ids.push(c.id);
    let left = (await fsp.stat(repo.objectPath(c.id))).size;
    while (left > 0) {
      const n = Math.min(left, ZEROS.length);
      yield ZEROS.subarray(0, n);
      left -= n;
    }
  }
}

export interface StoredLayerSummary {
  entries: number;
  externalObjects: number;
  externalSize: number;
}

/**
 * Replays a stored layer splitstream, calling `onEntry` with entries whose
 * external files carry the splitstream's object ids.
 * @throws FormatError when the stream's externals and the tar's large files disagree
 */
export async function readStoredLayer(repo: Repository, ss: SplitStream, what: string, onEntry: (e: TarEntry) => void): Promise<StoredLayerSummary> {
  const ids: ObjectId[] = [];
  let next = 0;
  let externalSize = 0;
  const res = await readTarLayer(zeroFilledTar(repo, ss, ids), { layer: what, algorithm: repo.algorithm, sink: DISCARD }, (e) => {
    if (e.item.kind === 'leaf' && e.item.data.type === 'reg' && e.item.data.digest !== null) {
      const id = ids[next++];
      if (id === undefined) throw new FormatError(`${what}: a file larger than 64 bytes has no external object in the splitstream`);
      const digest = Buffer.from(id, 'hex');
      externalSize += Number(e.item.data.size);
      e.item.data = { ...e.item.data, digest, payload: Buffer.from(objectPath(digest), 'latin1') };
    }
    onEntry(e);
  });
  if (next !== ids.length) throw new FormatError(`${what}: ${ids.length} external objects in the splitstream, but ${next} large files in the tar`);
  return { entries: res.entries, externalObjects: new Set(ids).size, externalSize };
}

/** Applies a stored layer (`streams/oci-layer-<diffId>` or the stream object `verity`) to `root`, all-or-nothing. */
export async function mergeStoredLayer(repo: Repository, root: Dir, diffId: string, verity?: ObjectId): Promise<void> {
  const what = `layer ${diffId}`;
  const ss = verity !== undefined ? await repo.openStreamObject(verity, CONTENT_TYPE.ociLayer) : await repo.openStream(layerStreamName(diffId), CONTENT_TYPE.ociLayer);
  const merger = new LayerMerger(root, diffId);
  try {
    await readStoredLayer(repo, ss, what, (e) => merger.apply(e));
    merger.commit();
  } catch (err) {
    merger.rollback();
    throw err;
  }
}

/**
 * The merged tree of an image from its config stream (`create_filesystem`
 * before the transforms): layers in rootfs.diff_ids order, each through the
 * layer verity the config names.
 */
export async function buildStoredTree(repo: Repository, configDigest: string): Promise<Dir> {
  return withContext(`Building the filesystem of config ${configDigest}`, async () => {
    const ss = await repo.openStream(configStreamName(configDigest), CONTENT_TYPE.ociConfig);
    const only = ss.objectRefs[0];
    if (ss.objectRefs.length !== 1 || only === undefined) throw new FormatError(`streams/${configStreamName(configDigest)}: expected exactly 1 external object`);
    const config = JSON.parse((await repo.readObject(only)).toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds)) throw new FormatError(`config ${configDigest}: rootfs.diff_ids missing`);
    const root = newDir();
    for (const d of diffIds.map(String)) {
      const verity = ss.namedRefs.get(d);
      if (verity === undefined) throw new FormatError(`config ${configDigest}: no layer reference for ${d}`);
      await mergeStoredLayer(repo, root, d, verity);
    }
    return root;
  });
}

/** Reassembles `oci-layer-<diffId>` (the uncompressed tar), piece by piece. */
export async function* storedLayerTar(repo: Repository, diffId: string): AsyncIterable<Buffer> {
  const ss = await repo.openStream(layerStreamName(diffId));
  for (const c of ss.chunks()) yield c.kind === 'inline' ? c.data : await repo.readObject(c.id);
}

/** `oci layer --json` (composefs-oci LayerInfo, camelCase). */
export async function storedLayerInfo(repo: Repository, diffId: string): Promise<Record<string, unknown>> {
  const ss = await repo.openStream(layerStreamName(diffId), CONTENT_TYPE.ociLayer);
  const s = await readStoredLayer(repo, ss, `layer ${diffId}`, () => undefined);
  const size = Number(ss.streamSize);
  return {
    diffId,
    verity: ss.id,
    size,
    entryCount: s.entries,
    splitstream: { externalObjects: ss.objectRefs.length, externalSize: s.externalSize, inlineSize: Math.max(0, size - s.externalSize) },
  };
}
