/**
 * Owns moving an image checked in the scratch repository into the target's
 * repository without pulling it again (decision 0017): the object files
 * (hard links when both are on one filesystem, else copies, with fs-verity
 * enabled when the target is secure), the stream symlinks (not the refs:
 * the target gets its own tag) and the image symlinks. Object names are
 * fs-verity digests computed in userspace, so they are the same in a secure
 * and an insecure repository. The caller then runs the ordinary pull, which
 * finds the image complete and only resolves it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Repository } from '../composefs/repository/index.js';
import type { RepoSyscalls } from '../composefs/repository/ports.js';
import { withContext } from '../util/errors.js';

export interface RepoCopyStats {
  objects: number;
  linked: number;
  bytes: number;
  streams: number;
  images: number;
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined)) !== undefined;
}

/** Copies one object file; a hard link when the filesystems allow it. */
async function copyObject(src: string, dest: string, target: Repository, sys: RepoSyscalls, stats: RepoCopyStats): Promise<void> {
  if (await exists(dest)) return;
  stats.objects++;
  if (target.insecure) {
    try {
      await fs.link(src, dest);
      stats.linked++;
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
  }
  const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
  await fs.copyFile(src, tmp);
  stats.bytes += (await fs.stat(tmp)).size;
  if (!target.insecure) {
    const h = await fs.open(tmp, 'r');
    try {
      sys.enableVerity(h.fd, target.algorithm);
    } finally {
      await h.close();
    }
  }
  await fs.rename(tmp, dest);
}

/** Copies the symlinks of one repository directory (streams/, images/) that the target lacks. */
async function copyLinks(from: string, to: string, skip: readonly string[]): Promise<number> {
  let n = 0;
  await fs.mkdir(to, { recursive: true });
  for (const name of await names(from)) {
    if (skip.includes(name)) continue;
    const st = await fs.lstat(path.join(from, name));
    if (!st.isSymbolicLink() || (await exists(path.join(to, name)))) continue;
    await fs.symlink(await fs.readlink(path.join(from, name)), path.join(to, name));
    n++;
  }
  return n;
}

/** Copies everything of `from` into `to` (both open); objects first, so no link ever dangles. */
export async function copyRepositoryContent(from: Repository, to: Repository, sys: RepoSyscalls): Promise<RepoCopyStats> {
  return withContext(`Copying the checked image from ${from.path} to ${to.path}`, async () => {
    const stats: RepoCopyStats = { objects: 0, linked: 0, bytes: 0, streams: 0, images: 0 };
    for (const dir of await names(path.join(from.path, 'objects'))) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      await fs.mkdir(path.join(to.path, 'objects', dir), { recursive: true });
      for (const name of await names(path.join(from.path, 'objects', dir))) {
        if (!/^[0-9a-f]+$/.test(name)) continue;
        await copyObject(path.join(from.path, 'objects', dir, name), path.join(to.path, 'objects', dir, name), to, sys, stats);
      }
    }
    to.sync();
    stats.streams = await copyLinks(path.join(from.path, 'streams'), path.join(to.path, 'streams'), ['refs']);
    stats.images = await copyLinks(path.join(from.path, 'images'), path.join(to.path, 'images'), ['refs']);
    to.sync();
    return stats;
  });
}
