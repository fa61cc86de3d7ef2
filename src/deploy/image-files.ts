/**
 * Owns reading files of an image stored in the composefs repository without
 * mounting it: the EROFS (`images/<id>`) is parsed into a tree and regular
 * files are read inline or from their object. Used for the pristine and new
 * /etc of the three-way merge, the kernel/initrd or UKI of a new deployment,
 * kargs.d and os-release. Symlinks are followed inside the image only.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { readErofs } from '../composefs/erofs/reader.js';
import { lookup, type Dir, type Inode } from '../composefs/tree.js';
import type { Repository } from '../composefs/repository/index.js';
import { TsbootcError, withContext } from '../util/errors.js';

export interface ImageFs {
  repo: Repository;
  /** The EROFS image id the tree was read from. */
  id: string;
  tree: Dir;
}

/** Opens `images/<id>` of the repository as a tree. */
export async function openImageFs(repo: Repository, id: string): Promise<ImageFs> {
  return withContext(`Reading image ${id}`, async () => {
    const img = await repo.openImage(id);
    return { repo, id, tree: readErofs(img.data) };
  });
}

const MAX_LINKS = 40;

/** The inode at `p`, following symlinks (absolute ones relative to the image root). */
export function resolveInImage(image: ImageFs, p: string, followLast = true): Inode | undefined {
  let parts = p.split('/').filter((c) => c !== '' && c !== '.');
  let done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const c = parts.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const cur = lookup(image.tree, '/' + [...done, c].join('/'));
    if (cur === undefined) return undefined;
    if (cur.kind === 'leaf' && cur.data.type === 'symlink' && (parts.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw new TsbootcError(`${p}: too many levels of symbolic links in image ${image.id}`);
      const target = cur.data.target.toString('utf8');
      if (target.startsWith('/')) done = [];
      parts = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...parts];
      continue;
    }
    done.push(c);
  }
  return done.length === 0 ? image.tree : lookup(image.tree, '/' + done.join('/'));
}

async function leafBytes(image: ImageFs, inode: Inode, p: string): Promise<Buffer> {
  if (inode.kind !== 'leaf' || inode.data.type !== 'reg') throw new TsbootcError(`${p} in image ${image.id} is not a regular file`);
  const d = inode.data;
  if (d.content !== null) return d.content;
  if (d.size === 0n) return Buffer.alloc(0);
  if (d.digest === null) throw new TsbootcError(`${p} in image ${image.id} has no object digest`);
  return image.repo.readObject(d.digest.toString('hex'));
}

/** A regular file's bytes, or undefined when the path does not exist. */
export async function readImageFile(image: ImageFs, p: string): Promise<Buffer | undefined> {
  const inode = resolveInImage(image, p);
  if (inode === undefined) return undefined;
  return withContext(`Reading ${p} from image ${image.id}`, () => leafBytes(image, inode, p));
}

/** Entry names of a directory (sorted), [] when missing or not a directory. */
export function listImageDir(image: ImageFs, p: string): string[] {
  const inode = resolveInImage(image, p);
  if (inode === undefined || inode.kind !== 'dir') return [];
  return inode.sortedKeys().map((k) => Buffer.from(k, 'latin1').toString('utf8'));
}

async function extractNode(image: ImageFs, inode: Inode, dest: string, rel: string, owners: boolean): Promise<void> {
  const s = inode.stat;
  if (inode.kind === 'dir') {
    await fs.mkdir(dest, { recursive: true });
    for (const [name, child] of inode.sortedEntries()) await extractNode(image, child, path.join(dest, name.toString('utf8')), `${rel}/${name.toString('utf8')}`, owners);
    await fs.chmod(dest, s.mode & 0o7777);
  } else if (inode.data.type === 'symlink') {
    await fs.symlink(inode.data.target.toString('utf8'), dest);
  } else if (inode.data.type === 'reg') {
    await fs.writeFile(dest, await leafBytes(image, inode, rel), { mode: s.mode & 0o777 });
    await fs.chmod(dest, s.mode & 0o7777);
  } else return; // devices, fifos, sockets do not belong in /etc; skip them
  if (owners) await fs.lchown(dest, s.uid, s.gid);
}

/**
 * Writes the image directory `p` (e.g. `/etc`) to the real path `dest`
 * (which must not exist): modes, owners (when running as root) and
 * symlinks; an absent directory yields an empty one.
 */
export async function extractImageDir(image: ImageFs, p: string, dest: string, owners: boolean): Promise<void> {
  await withContext(`Extracting ${p} of image ${image.id}`, async () => {
    const inode = resolveInImage(image, p);
    if (inode === undefined) {
      await fs.mkdir(dest, { recursive: true });
      return;
    }
    if (inode.kind !== 'dir') throw new TsbootcError(`${p} is not a directory`);
    await extractNode(image, inode, dest, p, owners);
  });
}
