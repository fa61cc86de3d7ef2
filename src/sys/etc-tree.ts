/**
 * Owns the filesystem side of the /etc merge: snapshotting a directory into
 * the EtcNode model (type, mode, owner, xattrs, content hash or symlink target;
 * devices, sockets and fifos are ignored, as bootc does) and applying an
 * EtcDiff from the current /etc onto the new deployment's /etc, preserving
 * modes, owners, xattrs and symlinks, never following a symlink.
 */
import * as fs from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { TsbootcError, withContext } from '../util/errors.js';

export interface EtcMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Sorted by name; values hex-encoded. */
  xattrs: ReadonlyArray<readonly [string, string]>;
}

export type EtcNode =
  | { kind: 'dir'; meta: EtcMeta; children: ReadonlyMap<string, EtcNode> }
  | { kind: 'file'; meta: EtcMeta; hash: string }
  | { kind: 'symlink'; meta: EtcMeta; target: string };

export type EtcDir = Extract<EtcNode, { kind: 'dir' }>;

export type DirLookup = { kind: 'found'; dir: EtcDir } | { kind: 'not-found' } | { kind: 'not-a-dir' };

/** Looks up a directory by relative path; mirrors "get_directory" semantics. */
export function lookupDir(root: EtcDir, path: string): DirLookup {
  let cur: EtcNode = root;
  for (const part of path.split('/').filter((p) => p.length > 0)) {
    if (cur.kind !== 'dir') return { kind: 'not-a-dir' };
    const next: EtcNode | undefined = cur.children.get(part);
    if (next === undefined) return { kind: 'not-found' };
    cur = next;
  }
  return cur.kind === 'dir' ? { kind: 'found', dir: cur } : { kind: 'not-a-dir' };
}

/** Looks up any node by relative path. */
export function lookupNode(root: EtcDir, path: string): EtcNode | undefined {
  let cur: EtcNode = root;
  for (const part of path.split('/').filter((p) => p.length > 0)) {
    if (cur.kind !== 'dir') return undefined;
    const next: EtcNode | undefined = cur.children.get(part);
    if (next === undefined) return undefined;
    cur = next;
  }
  return cur;
}

/** The change lists applyEtcMerge carries out (deploy/etc-merge computes them). */
export interface EtcChanges {
  added: readonly string[];
  modified: readonly string[];
  removed: readonly string[];
}

/** Extended attribute access; the default sees none (filesystems without xattr support). */
export interface XattrOps {
  list(file: string): Promise<Array<[string, Buffer]>>;
  set(file: string, name: string, value: Buffer): Promise<void>;
}

export const NO_XATTRS: XattrOps = {
  list: async () => [],
  set: async () => {},
};

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function metaOf(file: string, st: { mode: number; uid: number; gid: number }, xattrs: XattrOps): Promise<EtcMeta> {
  const xs = (await xattrs.list(file)).map(([k, v]) => [k, v.toString('hex')] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, xattrs: xs };
}

async function snapshotNode(file: string, xattrs: XattrOps): Promise<EtcNode | undefined> {
  const st = await fs.lstat(file);
  if (st.isDirectory()) {
    const children = new Map<string, EtcNode>();
    for (const name of (await fs.readdir(file)).sort()) {
      const child = await snapshotNode(path.join(file, name), xattrs);
      if (child !== undefined) children.set(name, child);
    }
    return { kind: 'dir', meta: await metaOf(file, st, xattrs), children };
  }
  if (st.isFile()) return { kind: 'file', meta: await metaOf(file, st, xattrs), hash: await hashFile(file) };
  if (st.isSymbolicLink()) return { kind: 'symlink', meta: await metaOf(file, st, { ...xattrs, list: async () => [] }), target: await fs.readlink(file) };
  return undefined;
}

/** Snapshots a directory tree; a missing directory is an empty one. */
export async function snapshotEtc(dir: string, xattrs: XattrOps = NO_XATTRS): Promise<EtcDir> {
  return withContext(`Reading ${dir}`, async () => {
    try {
      const node = await snapshotNode(dir, xattrs);
      if (node?.kind !== 'dir') throw new TsbootcError(`${dir} is not a directory`);
      return node;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'dir', meta: { mode: 0o755, uid: 0, gid: 0, xattrs: [] }, children: new Map() };
      throw err;
    }
  });
}

async function applyMeta(file: string, meta: EtcMeta, isSymlink: boolean, xattrs: XattrOps): Promise<void> {
  await fs.lchown(file, meta.uid, meta.gid);
  if (!isSymlink) {
    await fs.chmod(file, meta.mode);
    for (const [k, v] of meta.xattrs) await xattrs.set(file, k, Buffer.from(v, 'hex'));
  }
}

async function lstatOrUndefined(file: string) {
  try {
    return await fs.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Refuses to write through a symlink planted in the new tree's parents. */
async function assertNoSymlinkParents(root: string, rel: string): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let cur = root;
  for (const p of parts) {
    cur = path.join(cur, p);
    const st = await lstatOrUndefined(cur);
    if (st === undefined) return;
    if (!st.isDirectory()) throw new TsbootcError(`Opening ${rel} in new etc: ${path.relative(root, cur)} is not a directory`);
  }
}

async function mergeOne(currentDir: string, newDir: string, rel: string, node: EtcNode, newTree: EtcDir, xattrs: XattrOps): Promise<void> {
  await assertNoSymlinkParents(newDir, rel);
  const dest = path.join(newDir, rel);
  const existing = lookupNode(newTree, rel);
  if (node.kind === 'dir') {
    if (existing !== undefined && existing.kind !== 'dir') throw new TsbootcError(`Modified config directory "${rel}" newly defaults to file. Cannot merge`);
    await fs.mkdir(dest, { recursive: true });
    await applyMeta(dest, node.meta, false, xattrs);
    return;
  }
  if (existing?.kind === 'dir') throw new TsbootcError(`Modified config file "${rel}" newly defaults to directory. Cannot merge`);
  await fs.rm(dest, { recursive: true, force: true });
  if (node.kind === 'symlink') await fs.symlink(node.target, dest);
  else await fs.copyFile(path.join(currentDir, rel), dest);
  await applyMeta(dest, node.meta, node.kind === 'symlink', xattrs);
}

/**
 * Applies a diff: added and modified paths are copied from `currentDir` (with
 * `currentTree` its snapshot) into `newDir` (`newTree` its snapshot), removed
 * paths are deleted from `newDir`.
 */
export async function applyEtcMerge(
  currentDir: string,
  currentTree: EtcDir,
  newDir: string,
  newTree: EtcDir,
  diff: EtcChanges,
  xattrs: XattrOps = NO_XATTRS,
  /** Called after each path is merged or removed (the crash point between two of them). */
  onStep?: () => void,
): Promise<void> {
  for (const rel of [...diff.added, ...diff.modified]) {
    const node = lookupNode(currentTree, rel);
    if (node === undefined) throw new TsbootcError(`Merging ${rel}: not found in current etc`);
    await withContext(`Merging ${rel}`, () => mergeOne(currentDir, newDir, rel, node, newTree, xattrs));
    onStep?.();
  }
  for (const rel of diff.removed) {
    await withContext(`Removing ${rel}`, async () => {
      await assertNoSymlinkParents(newDir, rel);
      const dest = path.join(newDir, rel);
      const st = await lstatOrUndefined(dest);
      if (st === undefined) return;
      await fs.rm(dest, { recursive: st.isDirectory(), force: true });
    });
    onStep?.();
  }
}
