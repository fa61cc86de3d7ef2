/**
 * Owns `images/` (composefs.md §1.2): EROFS images stored as objects and
 * published as `images/<hex>`, optional names under `images/refs/` (GC
 * roots), opening an image by digest (verity-checked in a secure repository)
 * or by ref, listing refs, and the objects an image references.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { TsbootcError, withContext } from '../../util/errors.js';
import { errnoCode, idFromObjectPathname, isObjectId, objectRelPath, type ObjectId, type RepoCore } from './core.js';
import { ImageNotFoundError } from './errors.js';
import { ensureObject } from './objects.js';
import { checkRefName, listRefs, symlinkAt, targetBasename } from './refs.js';

/** `write_image`: stores the EROFS bytes, links `images/<hex>` and, with a name, `images/refs/<name>`. No syncfs. */
export async function writeImage(core: RepoCore, data: Uint8Array, name?: string): Promise<ObjectId> {
  return withContext(`Writing image${name === undefined ? '' : ` ${name}`}`, async () => {
    if (name !== undefined) checkRefName(name, 'image ref');
    const { id } = await ensureObject(core, data);
    await linkImage(core, id, name);
    return id;
  });
}

/**
 * The second half of write_image for an EROFS image already stored as an
 * object (so a caller need not hold the bytes until it publishes): links
 * `images/<id>` and, with a name, `images/refs/<name>`.
 * @throws TsbootcError when the object is missing
 */
export async function linkImage(core: RepoCore, id: ObjectId, name?: string): Promise<void> {
  if (name !== undefined) checkRefName(name, 'image ref');
  if (!isObjectId(id, core.algorithm)) throw new TsbootcError(`${JSON.stringify(id)} is not a ${core.algorithm} object id`);
  const st = await fsp.lstat(path.join(core.path, objectRelPath(id))).catch(() => undefined);
  if (st?.isFile() !== true) throw new TsbootcError(`cannot link image ${id}: objects/${id.slice(0, 2)}/${id.slice(2)} does not exist`);
  await symlinkAt(core, `images/${id}`, objectRelPath(id));
  core.crash?.('repo:after-image-publish');
  if (name !== undefined) await symlinkAt(core, `images/refs/${name}`, `images/${id}`);
}

/** Names an existing `images/<id>` as `images/refs/<name>`. */
export async function nameImage(core: RepoCore, id: ObjectId, name: string): Promise<void> {
  checkRefName(name, 'image ref');
  await symlinkAt(core, `images/refs/${name}`, `images/${id}`);
}

export interface OpenedImage {
  /** The image's object id (fs-verity digest). */
  id: ObjectId;
  data: Buffer;
  /** True when the kernel's fs-verity digest was checked against the name (secure repository, digest name). */
  verified: boolean;
  /** The repository-relative path it was opened through. */
  via: string;
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function objectIdBehind(core: RepoCore, rel: string): Promise<ObjectId> {
  const real = await fsp.realpath(path.join(core.path, rel));
  return idFromObjectPathname(real, core.algorithm, rel);
}

/**
 * `open_image`: NAME is a full hex digest (`images/<hex>`, verity-checked in
 * a secure repository), `refs/<name>`, or a bare name without `/` (tried as
 * `images/refs/<name>` when no such digest exists).
 * @throws ImageNotFoundError
 */
export async function openImage(core: RepoCore, name: string): Promise<OpenedImage> {
  const bare = name.startsWith(`${core.algorithm}:`) ? name.slice(core.algorithm.length + 1) : name;
  if (!bare.includes('/') && bare !== '' && bare !== '.' && bare !== '..') {
    const rel = `images/${bare}`;
    const fh = await fsp.open(path.join(core.path, rel), 'r').catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    });
    if (fh !== undefined) {
      try {
        if (!isObjectId(bare, core.algorithm)) throw new TsbootcError(`${rel}: image names without refs/ must be a full ${core.algorithm} digest`);
        let verified = false;
        if (!core.insecure) {
          const m = core.sys.measureVerity(fh.fd);
          if (m === undefined || m.toString('hex') !== bare) {
            throw new TsbootcError(`${rel}: fs-verity digest ${m?.toString('hex') ?? '(not enabled)'} does not match the image name`);
          }
          verified = true;
        }
        return { id: bare, data: await fh.readFile(), verified, via: rel };
      } finally {
        await fh.close();
      }
    }
  }
  const refRel = name.startsWith('refs/') ? `images/${name}` : bare.includes('/') ? undefined : `images/refs/${bare}`;
  if (refRel !== undefined) {
    checkRefName(refRel.slice('images/'.length), 'image ref');
    const data = await readIfExists(path.join(core.path, refRel));
    if (data !== undefined) return { id: await objectIdBehind(core, refRel), data, verified: false, via: refRel };
  }
  throw new ImageNotFoundError(name);
}

export interface ImageRef {
  /** The name below `images/refs/`. */
  name: string;
  /** The digest the ref points at (the target's last component). */
  digest: string;
}

/** `list_image_refs`: every `images/refs/...` link with the digest its target names, sorted by name. */
export async function listImageRefs(core: RepoCore): Promise<ImageRef[]> {
  return (await listRefs(core, 'images')).map((r) => ({ name: r.name, digest: targetBasename(r.target) ?? r.target }));
}

/** Every top-level `images/<hex>` entry. */
export async function listImages(core: RepoCore): Promise<ObjectId[]> {
  const names = await fsp.readdir(path.join(core.path, 'images')).catch((err: unknown) => {
    if (errnoCode(err) === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((n) => n !== 'refs').sort();
}

/** The object ids an image references (`objects_for_image`), sorted. */
export async function objectsForImage(core: RepoCore, name: string): Promise<ObjectId[]> {
  const img = await openImage(core, name);
  return collectFromImage(core, img.data, img.via);
}

export function collectFromImage(core: RepoCore, data: Buffer, what: string): ObjectId[] {
  if (core.collectImageObjects === undefined) throw new TsbootcError(`${what}: reading EROFS images needs an image object collector (none was given)`);
  return [...new Set(core.collectImageObjects(data, core.algorithm))].sort();
}
