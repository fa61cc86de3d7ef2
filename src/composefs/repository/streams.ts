/**
 * Owns `streams/` (composefs.md §1.3): content identifiers as symlinks to
 * splitstream objects, named refs under `streams/refs/` (GC roots), writing a
 * finished splitstream (store, syncfs barrier, then the symlinks), opening
 * one by name, and reassembling its content (`cat`).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { FormatError, TsbootcError, withContext } from '../../util/errors.js';
import { assertWritable, errnoCode, idFromObjectPathname, objectRelPath, type ObjectId, type RepoCore } from './core.js';
import { ensureObject, readObject } from './objects.js';
import { checkRefName, symlinkAt } from './refs.js';
import { SplitStreamWriter } from './splitstream.js';
import { parseSplitStream, type SplitStream } from './splitstream-reader.js';
import type { ZstdCodec } from './ports.js';

export function zstdOf(core: RepoCore): ZstdCodec {
  if (core.zstd === undefined) throw new TsbootcError(`${core.path}: no zstd codec was given to the repository (splitstreams need one)`);
  return core.zstd;
}

/** A new splitstream writer for this repository's algorithm. */
export function createStream(core: RepoCore, contentType: bigint): SplitStreamWriter {
  return new SplitStreamWriter(core.algorithm, contentType, zstdOf(core));
}

/** Checks a content identifier: one path component, no NUL. */
function checkContentId(contentId: string): void {
  if (contentId.length === 0 || contentId.includes('/') || contentId === '.' || contentId === '..' || contentId.includes('\0') || contentId === 'refs') {
    throw new FormatError(`stream name ${JSON.stringify(contentId)} is not a valid content identifier`);
  }
}

/** `has_stream`: the object id `streams/<contentId>` points at, or undefined. */
export async function hasStream(core: RepoCore, contentId: string): Promise<ObjectId | undefined> {
  checkContentId(contentId);
  let target: string;
  try {
    target = await fsp.readlink(path.join(core.path, 'streams', contentId));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  if (!target.startsWith('../')) throw new FormatError(`streams/${contentId}: symlink target ${JSON.stringify(target)} does not start with ../`);
  return idFromObjectPathname(target, core.algorithm, `streams/${contentId}`);
}

/** Points `streams/refs/<name>` at `streams/<contentId>` (a GC root). */
export async function nameStream(core: RepoCore, contentId: string, name: string): Promise<void> {
  checkContentId(contentId);
  checkRefName(name, 'stream ref');
  await symlinkAt(core, `streams/refs/${name}`, `streams/${contentId}`);
}

/** `register_stream`: links an already-stored splitstream object as `streams/<contentId>` (after a syncfs barrier). */
export async function registerStream(core: RepoCore, id: ObjectId, contentId: string, refName?: string): Promise<void> {
  checkContentId(contentId);
  assertWritable(core);
  core.sys.syncfs(core.fd);
  await symlinkAt(core, `streams/${contentId}`, objectRelPath(id));
  core.crash?.('repo:after-stream-publish');
  if (refName !== undefined) await nameStream(core, contentId, refName);
}

/** `write_stream`: stores the finished splitstream, syncfs, then `streams/<contentId>` (and the ref). Returns the stream's object id. */
export async function writeStream(core: RepoCore, writer: SplitStreamWriter, contentId: string, refName?: string): Promise<ObjectId> {
  return withContext(`Writing stream ${contentId}`, async () => {
    checkContentId(contentId);
    const { id } = await ensureObject(core, writer.finish());
    await registerStream(core, id, contentId, refName);
    return id;
  });
}

/** Resolves `NAME` or `refs/NAME` to the splitstream object id it names. */
export async function resolveStream(core: RepoCore, name: string): Promise<ObjectId> {
  if (name.startsWith('refs/')) {
    checkRefName(name, 'stream ref');
    let target: string;
    try {
      target = await fsp.readlink(path.join(core.path, 'streams', name));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new TsbootcError(`stream not found: ${name}`);
      throw err;
    }
    // refs point at streams/<content id>; resolve through it.
    const cid = target.split('/').pop() ?? '';
    const id = await hasStream(core, cid);
    if (id === undefined) throw new TsbootcError(`stream ref ${name} points at missing stream ${cid}`);
    return id;
  }
  const id = await hasStream(core, name);
  if (id === undefined) throw new TsbootcError(`stream not found: ${name}`);
  return id;
}

/** Opens the splitstream `streams/<name>` (or `streams/refs/...`). */
export async function openStream(core: RepoCore, name: string, expectedContentType?: bigint): Promise<SplitStream & { id: ObjectId }> {
  return withContext(`Opening stream ${name}`, async () => {
    const id = await resolveStream(core, name);
    const data = await readObject(core, id);
    return { id, ...parseSplitStream(data, core.algorithm, zstdOf(core), `streams/${name}`, expectedContentType) };
  });
}

/** Parses the splitstream stored as object `id`. */
export async function openStreamObject(core: RepoCore, id: ObjectId, expectedContentType?: bigint): Promise<SplitStream> {
  const data = await readObject(core, id);
  return parseSplitStream(data, core.algorithm, zstdOf(core), objectRelPath(id), expectedContentType);
}

/** Reassembles a stream (`cat`), handing each piece to `sink` in order. */
export async function catStream(core: RepoCore, name: string, sink: (data: Buffer) => void | Promise<void>): Promise<void> {
  const ss = await openStream(core, name);
  for (const c of ss.chunks()) {
    await sink(c.kind === 'inline' ? c.data : await readObject(core, c.id));
  }
}

/** The object an external splitstream (config, manifest, blob) wraps: exactly one object ref. */
export async function readExternalStream(core: RepoCore, name: string, expectedContentType?: bigint): Promise<Buffer> {
  const ss = await openStream(core, name, expectedContentType);
  const only = ss.objectRefs[0];
  if (ss.objectRefs.length !== 1 || only === undefined) throw new FormatError(`streams/${name}: expected exactly one object ref, found ${ss.objectRefs.length}`);
  return readObject(core, only);
}
