/**
 * Owns walking a composefs EROFS image from its root: it decodes every
 * reachable inode exactly once and every directory's entries (without . and
 * ..), and rejects directory cycles and hardlinked directories. The work and
 * memory are bounded by the image size: each directory is read once and each
 * dirent costs at least 13 bytes of image. Both the tree reader and the
 * composefs-info views build on the result.
 */
import { FormatError } from '../../util/errors.js';
import { ImageView, parseSuperblock, S_IFDIR, type Superblock } from './reader-format.js';
import { fileTypeOf, readDirents, readInode, type RawDirent, type RawInode } from './reader-inode.js';

export interface DecodedImage {
  view: ImageView;
  sb: Superblock;
  rootNid: number;
  /** Every reachable inode by nid. */
  inodes: Map<number, RawInode>;
  /** The entries of every reachable directory, by nid, in on-disk order, without . and .. */
  dirs: Map<number, RawDirent[]>;
}

/** Decodes the header, the superblock and every inode reachable from the root. */
export function decodeImage(image: Buffer): DecodedImage {
  const view = new ImageView(image);
  const sb = parseSuperblock(view);
  const inodes = new Map<number, RawInode>();
  const dirs = new Map<number, RawDirent[]>();
  const rootNid = sb.rootNid;
  const root = readInode(view, sb, rootNid);
  if (fileTypeOf(root) !== S_IFDIR) throw new FormatError(`EROFS image: the root inode (nid ${rootNid}) is not a directory (mode 0${root.mode.toString(8)})`);
  inodes.set(rootNid, root);
  const stack: RawInode[] = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const entries = readDirents(view, dir).filter((e) => e.name !== '.' && e.name !== '..');
    dirs.set(dir.nid, entries);
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.name)) throw new FormatError(`EROFS image: duplicate name ${JSON.stringify(e.name)} in the directory at nid ${dir.nid}`);
      seen.add(e.name);
      const known = inodes.get(e.nid);
      if (known !== undefined) {
        if (fileTypeOf(known) === S_IFDIR) {
          throw new FormatError(`EROFS image: directory nid ${e.nid} is reached twice, from nid ${dir.nid} (a directory cycle or a hardlinked directory)`);
        }
        continue;
      }
      const child = readInode(view, sb, e.nid);
      inodes.set(e.nid, child);
      if (fileTypeOf(child) === S_IFDIR) stack.push(child);
    }
  }
  return { view, sb, rootNid, inodes, dirs };
}
