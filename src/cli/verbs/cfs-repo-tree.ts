/**
 * Owns the tree-side helpers of the cfsctl verbs: storing a scanned tree's
 * external files into the repository, and mounting a repository image (erofs +
 * overlay with the objects directory as a data-only lower layer). The root
 * transforms are the OCI importer's (src/composefs/oci/merge.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TsbootcError, withContext } from '../../util/errors.js';
import { Dir, Leaf } from '../../composefs/index.js';
import type { Repository } from '../../composefs/repository/index.js';
import { MNT_DETACH, MS_RDONLY, mount, umount } from '../../sys/libc.js';
import type { Context } from '../context.js';

/** Stores every external regular file of a tree scanned from `dir` as a repository object; checks the ids agree. */
export async function storeTreeObjects(repo: Repository, root: Dir, dir: string): Promise<void> {
  const done = new Set<Leaf>();
  const walk = async (d: Dir, p: Buffer): Promise<void> => {
    for (const [name, child] of d.sortedEntries()) {
      const cp = Buffer.concat([p, Buffer.from('/'), name]);
      if (child instanceof Dir) await walk(child, cp);
      else if (child.data.type === 'reg' && child.data.digest !== null && !done.has(child)) {
        done.add(child);
        const want = child.data.digest.toString('hex');
        const id = await withContext(`Storing ${cp.toString('utf8')}`, () => repo.ensureObjectFromFile(cp));
        if (id !== want) throw new TsbootcError(`${cp.toString('utf8')} changed while it was being stored (${want} then ${id})`);
      }
    }
  };
  await walk(root, Buffer.from(dir));
}

export interface MountOptions {
  upperdir?: string;
  workdir?: string;
  readWrite?: boolean;
}

/**
 * Mounts image NAME at `mountpoint`: the EROFS (opened through images/, so
 * its verity is checked in a secure repository) on a private temporary
 * mountpoint, then overlay `lowerdir=<erofs>::<repo>/objects` with metacopy
 * and redirect_dir (plus verity=require when the repository is secure), the
 * pre-6.15 string form of composefs-rs's mount. The erofs mount is detached
 * afterwards; the overlay keeps it alive.
 */
export async function mountImage(ctx: Context, repo: Repository, name: string, mountpoint: string, opts: MountOptions = {}): Promise<void> {
  const img = await repo.openImage(name);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-cfs-erofs-'));
  const imageFile = repo.objectPath(img.id);
  try {
    ctx.host.log.debug({ kind: 'mount', source: imageFile, target: tmp, fstype: 'erofs' });
    await withContext(`Mounting image ${img.id}`, async () => mount(imageFile, tmp, 'erofs', MS_RDONLY, null));
    try {
      const data = ['metacopy=on', 'redirect_dir=on', `lowerdir=${tmp}::${path.resolve(repo.path, 'objects')}`];
      if (!repo.insecure) data.push('verity=require');
      if (opts.upperdir !== undefined && opts.workdir !== undefined) data.push(`upperdir=${path.resolve(opts.upperdir)}`, `workdir=${path.resolve(opts.workdir)}`);
      const flags = opts.upperdir !== undefined && opts.readWrite === true ? 0 : MS_RDONLY;
      ctx.host.log.debug({ kind: 'mount', source: `composefs:${img.id}`, target: mountpoint, fstype: 'overlay' });
      await withContext(`Mounting overlay on ${mountpoint}`, async () => mount(`composefs:${img.id}`, mountpoint, 'overlay', flags, data.join(',')));
    } finally {
      umount(tmp, MNT_DETACH);
    }
  } finally {
    fs.rmdirSync(tmp);
  }
}
