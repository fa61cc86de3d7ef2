/**
 * Owns copying a directory of an image in the composefs repository onto the
 * host, like `cp -a`: modes, owners (optional; else reported), mtimes,
 * xattrs, symlinks and hardlinks; devices, fifos and sockets are reported as
 * skipped. Regular files are copied from their repository object. Used for
 * the /etc and /var of a new deployment, the pristine /etc of the booted
 * image (etc merge) and the install config / systemd-boot files of a source.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { keyBytes, type Dir, type Inode, type Leaf } from '../composefs/tree.js';
import { setXattr } from '../sys/libc.js';
import type { Root } from '../sys/root.js';
import { withContext } from '../util/errors.js';
import { lookupImagePath, type ImageContent } from './image-content.js';

export interface CopyOptions {
  /** Set owners (needs root); otherwise files belong to the caller. */
  owners: boolean;
  /** Without `owners`: told the owner each copied path should have (to fix up later, e.g. with debugfs). */
  onOwner?: (hostPath: string, uid: number, gid: number) => void;
  /** Told about entries that cannot be copied (devices, fifos, sockets, refused xattrs). */
  skipped?: (what: string) => void;
}

export interface CopyStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  skipped: number;
}

/**
 * Copies the image subtree at `imagePath` (a directory; absent → nothing) to
 * `destPath` in `dest`, like `cp -a`: existing files are replaced. Returns
 * what was copied; false in `found` when the image has no such directory.
 */
export async function copyImageTree(c: ImageContent, imagePath: string, dest: Root, destPath: string, opts: CopyOptions): Promise<CopyStats & { found: boolean }> {
  return withContext(`Copying ${imagePath} of image ${c.name} to ${dest.resolve(destPath)}`, async () => {
    const stats: CopyStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0 };
    const src = lookupImagePath(c.tree, imagePath);
    if (src?.kind !== 'dir') return { ...stats, found: false };
    await dest.guard(destPath, true); // never copy through a link planted at the destination or above it
    await copyDir(c, src, dest.resolve(destPath), opts, stats, new Map());
    return { ...stats, found: true };
  });
}

async function applyMeta(p: string, i: Inode, opts: CopyOptions, stats: CopyStats): Promise<void> {
  const st = i.stat;
  const link = i.kind === 'leaf' && i.data.type === 'symlink';
  if (opts.owners) await fs.lchown(p, st.uid, st.gid);
  else opts.onOwner?.(p, st.uid, st.gid);
  if (!link) await fs.chmod(p, st.mode & 0o7777);
  for (const [k, v] of st.xattrs) {
    try {
      setXattr(p, keyBytes(k), v);
    } catch (err) {
      stats.skipped++;
      opts.skipped?.(`xattr ${k} on ${p}: ${(err as Error).message}`);
    }
  }
  const t = st.mtimeSec + st.mtimeNsec / 1e9;
  await fs.lutimes(p, t, t);
}

async function copyDir(c: ImageContent, d: Dir, dest: string, opts: CopyOptions, stats: CopyStats, links: Map<Leaf, string>): Promise<void> {
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.mkdir(dest, { recursive: true, mode: 0o700 });
  stats.dirs++;
  for (const [nameBytes, i] of d.sortedEntries()) {
    const p = path.join(dest, nameBytes.toString('utf8'));
    if (i.kind === 'dir') {
      await copyDir(c, i, p, opts, stats, links);
      continue;
    }
    const seen = links.get(i);
    await fs.rm(p, { force: true, recursive: true });
    if (seen !== undefined) {
      await fs.link(seen, p);
      stats.hardlinks++;
      if (!opts.owners) opts.onOwner?.(p, i.stat.uid, i.stat.gid);
      continue;
    }
    const data = i.data;
    if (data.type === 'reg') {
      if (data.content === null && data.digest !== null && data.size > 0n) await fs.copyFile(c.repo.objectPath(data.digest.toString('hex')), p);
      else await fs.writeFile(p, data.content ?? Buffer.alloc(0), { mode: 0o600 });
      stats.files++;
    } else if (data.type === 'symlink') {
      await fs.symlink(data.target, p);
      stats.symlinks++;
    } else {
      stats.skipped++;
      opts.skipped?.(`${data.type} ${p}`);
      continue;
    }
    links.set(i, p);
    await applyMeta(p, i, opts, stats);
  }
  await applyMeta(dest, d, opts, stats);
}
