/**
 * Owns the repository integrity check (composefs.md §7 "fsck", `fsck_inner`):
 * meta.json, every object's digest against its name, every top-level
 * `streams/` and `images/` symlink, every ref, every splitstream's object and
 * named refs, and every image's referenced objects. The result is data
 * (`FsckResult`); `formatFsck` renders cfsctl's text and `fsckJson` its
 * `--json` document.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { errnoCode, isObjectId, objectRelPath, type RepoCore } from './core.js';
import { checkObjectFile } from './objects.js';
import { checkCompatible, parseMetadata, REPO_METADATA_FILENAME } from './metadata.js';
import { parseSplitStream } from './splitstream-reader.js';
import { zstdOf } from './streams.js';

export type FsckErrorKind =
  | 'object-invalid-name'
  | 'object-open-failed'
  | 'object-digest-mismatch'
  | 'object-verity-missing'
  | 'entry-not-symlink'
  | 'broken-symlink'
  | 'unexpected-file-type'
  | 'stream-open-failed'
  | 'missing-object-ref'
  | 'stream-read-failed'
  | 'missing-named-ref'
  | 'image-open-failed'
  | 'image-invalid'
  | 'image-missing-object'
  | 'metadata-parse-failed'
  | 'metadata-algorithm-mismatch';

export interface FsckError {
  type: FsckErrorKind;
  /** Repository-relative path of the offending entry. */
  path: string;
  objectId?: string;
  refName?: string;
  detail?: string;
  /** cfsctl's rendering: `fsck: <type>: <path>: …`. */
  message: string;
}

export interface FsckResult {
  hasMetadata: boolean;
  objectsChecked: number;
  objectsCorrupted: number;
  streamsChecked: number;
  streamsCorrupted: number;
  imagesChecked: number;
  imagesCorrupted: number;
  brokenLinks: number;
  missingObjects: number;
  errors: FsckError[];
}

export interface FsckOptions {
  /** Skip hashing object contents (`--metadata-only`). */
  metadataOnly?: boolean;
}

function err(type: FsckErrorKind, p: string, extra: { objectId?: string; refName?: string; detail?: string } = {}): FsckError {
  let message = `fsck: ${type}: ${p}`;
  if (type === 'object-digest-mismatch') message += `: ${extra.detail ?? ''}`;
  else if (type === 'missing-named-ref') message += `: ref ${extra.refName ?? ''}: ${extra.objectId ?? ''}`;
  else if (extra.objectId !== undefined) message += `: ${extra.objectId}`;
  else if (extra.detail !== undefined) message += `: ${extra.detail}`;
  return { type, path: p, ...extra, message };
}

function detailOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function exists(file: string): Promise<boolean> {
  return fsp.stat(file).then(
    () => true,
    () => false,
  );
}

async function entries(dir: string) {
  return fsp.readdir(dir, { withFileTypes: true }).catch((e: unknown) => {
    if (errnoCode(e) === 'ENOENT') return [];
    throw e;
  });
}

async function checkMetadata(core: RepoCore, r: FsckResult): Promise<void> {
  try {
    const text = await fsp.readFile(path.join(core.path, REPO_METADATA_FILENAME), 'utf8');
    r.hasMetadata = true;
    const meta = parseMetadata(text, core.path);
    try {
      checkCompatible(meta, core.path, core.algorithm);
    } catch {
      r.errors.push({ type: 'metadata-algorithm-mismatch', path: REPO_METADATA_FILENAME, message: `fsck: metadata-algorithm-mismatch: meta.json: expected fsverity-${meta.algorithm}-12, repository opened as ${core.algorithm}` });
    }
  } catch (e) {
    const detail = errnoCode(e) === 'ENOENT' ? 'meta.json not found; expected because repository was opened successfully' : detailOf(e);
    r.errors.push({ type: 'metadata-parse-failed', path: REPO_METADATA_FILENAME, detail, message: `fsck: metadata-parse-failed: meta.json: ${detail}` });
  }
}

async function checkObjects(core: RepoCore, r: FsckResult): Promise<void> {
  for (let b = 0; b < 256; b++) {
    const xx = b.toString(16).padStart(2, '0');
    for (const e of await entries(path.join(core.path, 'objects', xx))) {
      const rel = `objects/${xx}/${e.name}`;
      r.objectsChecked++;
      const id = xx + e.name;
      if (!isObjectId(id, core.algorithm)) {
        r.objectsCorrupted++;
        r.errors.push(err('object-invalid-name', rel, { detail: `not a ${core.algorithm} object name` }));
        continue;
      }
      try {
        const problem = await checkObjectFile(core, path.join(core.path, rel), id);
        if (problem === 'fs-verity is not enabled') {
          r.objectsCorrupted++;
          r.errors.push(err('object-verity-missing', rel));
        } else if (problem !== undefined) {
          r.objectsCorrupted++;
          r.errors.push(err('object-digest-mismatch', rel, { detail: problem }));
        }
      } catch (e2) {
        r.objectsCorrupted++;
        r.errors.push(err('object-open-failed', rel, { detail: detailOf(e2) }));
      }
    }
  }
}

async function checkStream(core: RepoCore, name: string, r: FsckResult): Promise<void> {
  const p = `streams/${name}`;
  let ss;
  try {
    ss = parseSplitStream(await fsp.readFile(path.join(core.path, p)), core.algorithm, zstdOf(core), p);
  } catch (e) {
    r.streamsCorrupted++;
    r.errors.push(err('stream-open-failed', p, { detail: detailOf(e) }));
    return;
  }
  for (const id of ss.objectRefs) {
    if (!(await exists(path.join(core.path, objectRelPath(id))))) {
      r.missingObjects++;
      r.errors.push(err('missing-object-ref', p, { objectId: id }));
    }
  }
  for (const [refName, id] of ss.namedRefs) {
    if (!(await exists(path.join(core.path, objectRelPath(id))))) {
      r.missingObjects++;
      r.errors.push(err('missing-named-ref', p, { refName, objectId: id }));
    }
  }
}

async function checkImage(core: RepoCore, name: string, r: FsckResult): Promise<void> {
  const p = `images/${name}`;
  let data: Buffer;
  try {
    data = await fsp.readFile(path.join(core.path, p));
  } catch (e) {
    r.imagesCorrupted++;
    r.errors.push(err('image-open-failed', p, { detail: detailOf(e) }));
    return;
  }
  if (core.collectImageObjects === undefined) return;
  let ids: string[];
  try {
    ids = [...new Set(core.collectImageObjects(data, core.algorithm))].sort();
  } catch (e) {
    r.imagesCorrupted++;
    r.errors.push(err('image-invalid', p, { detail: detailOf(e) }));
    return;
  }
  for (const id of ids) {
    if (!(await exists(path.join(core.path, objectRelPath(id))))) {
      r.missingObjects++;
      r.errors.push(err('image-missing-object', p, { objectId: id }));
    }
  }
}

async function checkRefs(core: RepoCore, rel: string, r: FsckResult): Promise<void> {
  for (const e of await entries(path.join(core.path, rel))) {
    const p = `${rel}/${e.name}`;
    if (e.isDirectory()) await checkRefs(core, p, r);
    else if (e.isSymbolicLink()) {
      if (!(await exists(path.join(core.path, p)))) {
        r.brokenLinks++;
        r.errors.push(err('broken-symlink', p));
      }
    } else r.errors.push(err('unexpected-file-type', p, { detail: 'not a symlink or directory' }));
  }
}

async function checkCategory(core: RepoCore, category: 'streams' | 'images', r: FsckResult): Promise<void> {
  const isStreams = category === 'streams';
  const bump = () => (isStreams ? r.streamsCorrupted++ : r.imagesCorrupted++);
  const list = (await entries(path.join(core.path, category))).sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (const e of list) {
    if (e.name === 'refs') continue;
    const p = `${category}/${e.name}`;
    if (isStreams) r.streamsChecked++;
    else r.imagesChecked++;
    if (!e.isSymbolicLink()) {
      bump();
      r.errors.push(err('entry-not-symlink', p));
      continue;
    }
    if (!(await exists(path.join(core.path, p)))) {
      r.brokenLinks++;
      bump();
      r.errors.push(err('broken-symlink', p));
      continue;
    }
    if (isStreams) await checkStream(core, e.name, r);
    else await checkImage(core, e.name, r);
  }
  await checkRefs(core, `${category}/refs`, r);
}

/** Runs every check; never throws for damage it finds (that is the result), only for I/O it cannot do. */
export async function runFsck(core: RepoCore, opts: FsckOptions = {}): Promise<FsckResult> {
  const r: FsckResult = {
    hasMetadata: false,
    objectsChecked: 0,
    objectsCorrupted: 0,
    streamsChecked: 0,
    streamsCorrupted: 0,
    imagesChecked: 0,
    imagesCorrupted: 0,
    brokenLinks: 0,
    missingObjects: 0,
    errors: [],
  };
  await checkMetadata(core, r);
  if (opts.metadataOnly !== true) await checkObjects(core, r);
  await checkCategory(core, 'streams', r);
  await checkCategory(core, 'images', r);
  return r;
}

export function fsckOk(r: FsckResult): boolean {
  return r.errors.length === 0;
}

/** cfsctl's text report (`impl Display for FsckResult`). */
export function formatFsck(r: FsckResult): string {
  const metaErr = r.errors.some((e) => e.type === 'metadata-parse-failed' || e.type === 'metadata-algorithm-mismatch');
  const lines = [
    `meta.json: ${metaErr ? 'error' : r.hasMetadata ? 'ok' : 'absent'}`,
    `objects: ${r.objectsChecked - r.objectsCorrupted}/${r.objectsChecked} ok`,
    `streams: ${r.streamsChecked - r.streamsCorrupted}/${r.streamsChecked} ok`,
    `images: ${r.imagesChecked - r.imagesCorrupted}/${r.imagesChecked} ok`,
  ];
  if (r.brokenLinks > 0) lines.push(`broken symlinks: ${r.brokenLinks}`);
  if (r.missingObjects > 0) lines.push(`missing objects: ${r.missingObjects}`);
  if (r.errors.length === 0) lines.push('status: ok');
  else lines.push(`status: ${r.errors.length} error(s)`, ...r.errors.map((e) => `  - ${e.message}`));
  return lines.join('\n') + '\n';
}

/** cfsctl's `fsck --json` document (`FsckReply`, serde_json pretty + newline). */
export function fsckJson(r: FsckResult): string {
  const doc = {
    ok: fsckOk(r),
    has_metadata: r.hasMetadata,
    objects_checked: r.objectsChecked,
    objects_corrupted: r.objectsCorrupted,
    streams_checked: r.streamsChecked,
    streams_corrupted: r.streamsCorrupted,
    images_checked: r.imagesChecked,
    images_corrupted: r.imagesCorrupted,
    broken_links: r.brokenLinks,
    missing_objects: r.missingObjects,
    errors: r.errors.map((e) => e.message),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
