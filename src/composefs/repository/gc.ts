/**
 * Owns garbage collection (composefs.md §7, `gc_impl`): roots are the
 * symlinks under `images/refs/` and `streams/refs/` plus caller-named
 * top-level entries; image roots keep the objects their EROFS references,
 * stream roots keep their object refs and, through named refs, the streams
 * and images they name (recursively). Everything else in `objects/XX/` is
 * removed, then dangling symlinks are pruned. The caller holds the exclusive
 * lock (repository.ts); this module only walks and sweeps.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { TsbootcError, withContext } from '../../util/errors.js';
import { assertRealDir, errnoCode, idFromObjectPathname, isObjectId, objectRelPath, type ObjectId, type RepoCore } from './core.js';
import { listRefs, targetBasename } from './refs.js';
import { collectFromImage } from './images.js';
import { openStreamObject } from './streams.js';
import { readObject } from './objects.js';

export interface GcOptions {
  /** Names matched against top-level `images/<name>` and `streams/<name>` entries. */
  additionalRoots?: readonly string[];
  dryRun?: boolean;
}

export interface GcResult {
  objectsRemoved: number;
  objectsBytes: number;
  imagesPruned: number;
  streamsPruned: number;
}

type Category = 'images' | 'streams';

async function readdirOrEmpty(dir: string) {
  try {
    return await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Top-level entries of a category: name → object id. Non-symlinks are an error. */
async function allEntries(core: RepoCore, category: Category): Promise<Map<string, ObjectId>> {
  const out = new Map<string, ObjectId>();
  for (const e of await readdirOrEmpty(path.join(core.path, category))) {
    if (e.name === 'refs') continue;
    if (!e.isSymbolicLink()) throw new TsbootcError(`${category}/${e.name}: category directory contains a non-symlink`);
    const target = await fsp.readlink(path.join(core.path, category, e.name));
    out.set(e.name, idFromObjectPathname(target, core.algorithm, `${category}/${e.name}`));
  }
  return out;
}

/** Roots of a category: the top-level names that refs point at (plus extra roots), resolved to ids. */
async function roots(core: RepoCore, category: Category, all: Map<string, ObjectId>, extra: Set<string>): Promise<Map<string, ObjectId>> {
  const out = new Map<string, ObjectId>();
  for (const r of await listRefs(core, category)) {
    const base = targetBasename(r.target);
    const id = base === undefined ? undefined : all.get(base);
    if (base === undefined || id === undefined) {
      core.log({ kind: 'gc-dangling-ref', path: `${category}/refs/${r.name}` });
      continue;
    }
    out.set(base, id);
  }
  for (const [name, id] of all) if (extra.has(name)) out.set(name, id);
  return out;
}

/** Marks everything reachable from the roots; returns the live set. */
export async function collectLive(core: RepoCore, additionalRoots: readonly string[] = []): Promise<Set<ObjectId>> {
  const live = new Set<ObjectId>();
  const extra = new Set(additionalRoots);
  const allImages = await allEntries(core, 'images');
  for (const [name, id] of await roots(core, 'images', allImages, extra)) {
    await withContext(`Collecting objects for image ${name}`, async () => {
      live.add(id);
      for (const o of collectFromImage(core, await readObject(core, id), `images/${name}`)) live.add(o);
    });
  }
  const allStreams = await allEntries(core, 'streams');
  const nameOf = new Map<ObjectId, string>();
  for (const [name, id] of allStreams) nameOf.set(id, name);
  const walked = new Set<string>();
  const walk = async (name: string, id: ObjectId): Promise<void> => {
    if (walked.has(name)) return;
    walked.add(name);
    await withContext(`Walking stream ${name}`, async () => {
      live.add(id);
      const ss = await openStreamObject(core, id);
      for (const o of ss.objectRefs) live.add(o);
      for (const [refName, refId] of ss.namedRefs) {
        live.add(refId);
        const target = nameOf.get(refId);
        if (target !== undefined) await walk(target, refId);
        else core.log({ kind: 'gc-unwalked-ref', stream: name, ref: refName });
      }
    });
  };
  for (const [name, id] of await roots(core, 'streams', allStreams, extra)) await walk(name, id);
  return live;
}

async function sweep(core: RepoCore, live: Set<ObjectId>, dryRun: boolean, result: GcResult): Promise<void> {
  for (let b = 0; b < 256; b++) {
    const xx = b.toString(16).padStart(2, '0');
    const dir = path.join(core.path, 'objects', xx);
    assertRealDir(core, `objects/${xx}`); // a planted link would make GC delete files elsewhere
    for (const e of await readdirOrEmpty(dir)) {
      const id = xx + e.name;
      if (!isObjectId(id, core.algorithm)) throw new TsbootcError(`objects/${xx}/${e.name}: not an object name for ${core.algorithm}`);
      if (live.has(id)) continue;
      const st = await fsp.lstat(path.join(dir, e.name)).catch(() => undefined);
      result.objectsBytes += st?.size ?? 0;
      result.objectsRemoved++;
      core.log({ kind: 'gc-remove', path: objectRelPath(id), dryRun });
      if (!dryRun) await fsp.unlink(path.join(dir, e.name));
      if (!dryRun) core.crash?.('repo-gc:after-object-delete');
    }
  }
}

async function pruneDir(core: RepoCore, rel: string, recursive: boolean, dryRun: boolean): Promise<number> {
  let count = 0;
  assertRealDir(core, rel);
  for (const e of await readdirOrEmpty(path.join(core.path, rel))) {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) {
      if (recursive) count += await pruneDir(core, child, true, dryRun);
    } else if (e.isSymbolicLink()) {
      const ok = await fsp.stat(path.join(core.path, child)).then(
        () => true,
        (err: unknown) => {
          if (errnoCode(err) === 'ENOENT') return false;
          throw err;
        },
      );
      if (!ok) {
        count++;
        core.log({ kind: 'gc-prune', path: child, dryRun });
        if (!dryRun) await fsp.unlink(path.join(core.path, child));
        if (!dryRun) core.crash?.('repo-gc:after-prune');
      }
    } else throw new TsbootcError(`${child}: unexpected file type (expected a symlink or directory)`);
  }
  return count;
}

/** Temp files of writers that died (the exclusive lock means no writer is running now). */
async function removeStaleTemps(core: RepoCore): Promise<void> {
  assertRealDir(core, 'objects');
  for (const e of await readdirOrEmpty(path.join(core.path, 'objects'))) {
    if (!e.name.startsWith('.tmp-')) continue;
    core.log({ kind: 'gc-remove', path: `objects/${e.name}`, dryRun: false });
    await fsp.rm(path.join(core.path, 'objects', e.name), { force: true });
  }
}

/** Runs the walk, sweep and prune. The exclusive lock is the caller's business. */
export async function runGc(core: RepoCore, opts: GcOptions = {}): Promise<GcResult> {
  const dryRun = opts.dryRun === true;
  return withContext(`Running garbage collection${dryRun ? ' (dry run)' : ''} in ${core.path}`, async () => {
    const live = await collectLive(core, opts.additionalRoots);
    const result: GcResult = { objectsRemoved: 0, objectsBytes: 0, imagesPruned: 0, streamsPruned: 0 };
    if (!dryRun) await removeStaleTemps(core);
    await sweep(core, live, dryRun, result);
    // Top level first, so a ref whose target just went dangling goes in the same pass.
    result.imagesPruned = (await pruneDir(core, 'images', false, dryRun)) + (await pruneDir(core, 'images/refs', true, dryRun));
    result.streamsPruned = (await pruneDir(core, 'streams', false, dryRun)) + (await pruneDir(core, 'streams/refs', true, dryRun));
    return result;
  });
}
