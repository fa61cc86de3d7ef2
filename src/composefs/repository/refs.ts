/**
 * Owns the repository's symlinks (composefs.md §1.4, §4.2): the exact
 * relative-target rule of `symlink_impl`, atomic replacement through a
 * `.symlink-<12 alnum>` temporary in the repository root, recursive listing of
 * `images/refs/` and `streams/refs/`, and the OCI tag escaping.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { FormatError, withContext } from '../../util/errors.js';
import { assertRealDir, assertWritable, errnoCode, tmpSuffix, type RepoCore } from './core.js';

function components(p: string): string[] {
  return p.split('/').filter((c) => c.length > 0 && c !== '.');
}

/**
 * The relative target `symlink_impl` writes for a link at `name` pointing at
 * `target` (both repository-relative): drop the leading components the link's
 * parent shares with the target, one `..` per remaining parent component,
 * then the rest of the target. Also returns the parent directories to create.
 */
export function relativeSymlinkTarget(name: string, target: string): { target: string; dirs: string[] } {
  const parent = components(name).slice(0, -1);
  const t = components(target);
  let i = 0;
  while (i < parent.length && i < t.length && parent[i] === t[i]) i++;
  const dirs: string[] = [];
  const rel: string[] = [];
  for (let j = i; j < parent.length; j++) {
    dirs.push(parent.slice(0, j + 1).join('/'));
    rel.push('..');
  }
  rel.push(...t.slice(i));
  return { target: rel.join('/'), dirs };
}

/** Validates a ref name used as a relative path: no empty, `.` or `..` components, no leading `/`. */
export function checkRefName(name: string, what: string): void {
  const parts = name.split('/');
  if (name.length === 0 || name.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new FormatError(`${what} ${JSON.stringify(name)}: not a valid ref name (empty, '.' or '..' component)`);
  }
}

/**
 * Creates (or atomically replaces) the symlink `name` → `target`, both
 * repository-relative, with the relative-path rule; missing parents are
 * created 0755. An identical existing link is left alone.
 */
export async function symlinkAt(core: RepoCore, name: string, target: string): Promise<void> {
  assertWritable(core);
  await withContext(`Creating symlink ${name} -> ${target}`, async () => {
    const rel = relativeSymlinkTarget(name, target);
    for (const d of rel.dirs) {
      await fsp.mkdir(path.join(core.path, d), { mode: 0o755 }).catch((err: unknown) => {
        if (errnoCode(err) !== 'EEXIST') throw err;
      });
      assertRealDir(core, d);
    }
    const abs = path.join(core.path, name);
    try {
      await fsp.symlink(rel.target, abs);
      return;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    const existing = await fsp.readlink(abs).catch(() => undefined);
    if (existing === rel.target) return;
    const tmp = path.join(core.path, `.symlink-${tmpSuffix()}`);
    await fsp.symlink(rel.target, tmp);
    try {
      await fsp.rename(tmp, abs);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  });
}

export interface RefEntry {
  /** Path below `<category>/refs/`, with `/` separators. */
  name: string;
  /** The symlink's target as stored. */
  target: string;
}

/** Every symlink below `<category>/refs/<prefix>`, recursively, sorted bytewise by name. */
export async function listRefs(core: RepoCore, category: 'images' | 'streams', prefix = ''): Promise<RefEntry[]> {
  const base = path.join(core.path, category, 'refs');
  const out: RefEntry[] = [];
  async function walk(rel: string): Promise<void> {
    let entries;
    try {
      entries = await fsp.readdir(path.join(base, rel), { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const name = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(name);
      else if (e.isSymbolicLink()) out.push({ name, target: await fsp.readlink(path.join(base, name)) });
    }
  }
  await walk(prefix.replace(/\/+$/, ''));
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/** Tag → file name under `streams/refs/oci/`: `%` → `%25` first, then `/` → `%2F`; nothing else. */
export function escapeTag(tag: string): string {
  return tag.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** Single-pass inverse of {@link escapeTag}: `%2F` → `/`, `%25` → `%`, other `%XY` left as is. */
export function unescapeTag(name: string): string {
  return name.replace(/%2F|%25/g, (m) => (m === '%2F' ? '/' : '%'));
}

/** The last path component of a symlink target (what GC and resolve use). */
export function targetBasename(target: string): string | undefined {
  const parts = target.split('/').filter((p) => p.length > 0);
  const last = parts[parts.length - 1];
  return last === undefined || last === '..' || last === '.' ? undefined : last;
}
