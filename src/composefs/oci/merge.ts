/**
 * Owns turning OCI layers into one composefs tree (composefs.md §5.1.2–§5.1.4):
 * applying tar entries with overlay whiteout semantics, all-or-nothing per layer
 * (an undo journal restores the caller's tree when a layer fails), and the two
 * post-merge transforms, `transformForOci` (root metadata from /usr, empty /run,
 * xattr filtering) and `transformForBoot` (empty /boot and /sysroot, SELinux).
 */
import { FormatError, TsbootcError } from '../../util/errors.js';
import { Dir, Leaf, filterXattrs, printable, type Inode, type Stat } from '../tree.js';
import { formatPath, type TarEntry } from './tar.js';

type Undo = { kind: 'entry'; dir: Dir; key: string; prev: Inode | undefined } | { kind: 'stat'; inode: Dir; prev: Stat } | { kind: 'clear'; dir: Dir; prev: Map<string, Inode> };

const OPAQUE = '.wh..wh..opq';
/**
 * Deepest entry accepted (path components). A deeper path cannot be named in
 * PATH_MAX (4096 bytes) on the booted system, and the tree walkers (EROFS writer,
 * dumpfile printer) recurse once per level. Decision 0014.
 */
export const MAX_TREE_DEPTH = 2048;
const WHITEOUT_PREFIX = '.wh.';

/**
 * Applies the entries of one layer to `root`, in order. Call `commit()` after the
 * last entry, or `rollback()` on any failure to restore `root` exactly.
 */
export class LayerMerger {
  private journal: Undo[] = [];
  constructor(
    readonly root: Dir,
    readonly layer: string,
  ) {}

  /**
   * Applies one entry (image.rs::process_entry).
   * @throws FormatError naming the layer and entry for a missing parent, a parent
   *   that is not a directory, or a hardlink whose target is missing or a directory
   */
  apply(entry: TarEntry): void {
    try {
      this.applyInner(entry);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new FormatError(`layer ${this.layer}: entry ${formatPath(entry.path)}: ${msg}`, { cause: err });
    }
  }

  private applyInner(entry: TarEntry): void {
    const { path, item } = entry;
    if (path.length > MAX_TREE_DEPTH) throw new Error(`path is ${path.length} directories deep (the limit is ${MAX_TREE_DEPTH})`);
    if (path.length === 0) {
      this.journal.push({ kind: 'stat', inode: this.root, prev: this.root.stat });
      this.root.stat = entry.stat;
      return;
    }
    let inode: Inode;
    if (item.kind === 'dir') inode = new Dir(entry.stat);
    else if (item.kind === 'leaf') inode = new Leaf(entry.stat, item.data);
    else inode = this.hardlinkTarget(item.target);

    const name = path[path.length - 1]!;
    const dir = this.parentOf(path);
    if (name === OPAQUE) {
      this.journal.push({ kind: 'clear', dir, prev: new Map(dir.entries) });
      dir.clear();
    } else if (name.startsWith(WHITEOUT_PREFIX)) {
      const victim = name.slice(WHITEOUT_PREFIX.length);
      const prev = dir.getKey(victim);
      if (prev !== undefined) {
        this.journal.push({ kind: 'entry', dir, key: victim, prev });
        dir.deleteKey(victim);
      }
    } else {
      const prev = dir.getKey(name);
      if (inode.kind === 'dir' && prev?.kind === 'dir') {
        // A directory over a directory only replaces the stat; children stay.
        this.journal.push({ kind: 'stat', inode: prev, prev: prev.stat });
        prev.stat = inode.stat;
      } else {
        this.journal.push({ kind: 'entry', dir, key: name, prev });
        dir.setKey(name, inode);
      }
    }
  }

  private parentOf(path: readonly string[]): Dir {
    let cur = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      const next = cur.getKey(path[i]!);
      if (next === undefined) throw new Error(`parent directory ${formatPath(path.slice(0, i + 1))} does not exist`);
      if (next.kind !== 'dir') throw new Error(`parent ${formatPath(path.slice(0, i + 1))} is not a directory`);
      cur = next;
    }
    return cur;
  }

  private hardlinkTarget(target: readonly string[]): Leaf {
    if (target.length === 0) throw new Error('hardlink to the root directory');
    const where = formatPath(target);
    let dir: Dir;
    try {
      dir = this.parentOf(target);
    } catch (err) {
      throw new Error(`hardlink target ${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const leaf = dir.getKey(target[target.length - 1]!);
    if (leaf === undefined) throw new Error(`hardlink target ${where} does not exist`);
    if (leaf.kind === 'dir') throw new Error(`hardlink target ${where} is a directory`);
    return leaf;
  }

  /** Keeps the layer's changes. */
  commit(): void {
    this.journal = [];
  }

  /** Undoes every change of this layer, newest first. */
  rollback(): void {
    for (let i = this.journal.length - 1; i >= 0; i--) {
      const u = this.journal[i]!;
      if (u.kind === 'stat') u.inode.stat = u.prev;
      else if (u.kind === 'entry') {
        if (u.prev === undefined) u.dir.deleteKey(u.key);
        else u.dir.setKey(u.key, u.prev);
      } else {
        u.dir.clear();
        for (const [k, v] of u.prev) u.dir.setKey(k, v);
      }
    }
    this.journal = [];
  }
}

/** Which xattrs `transformForOci` keeps (composefs-rs XattrFiltering). */
export type XattrFiltering = 'allowlist-only' | 'keep-user-xattrs';

/** Xattrs kept in every mode (CONTAINER_XATTR_ALLOWLIST). */
export const CONTAINER_XATTR_ALLOWLIST: readonly string[] = ['security.capability'];

function topDir(root: Dir, name: string, required: boolean): Dir | undefined {
  const inode = root.getKey(name);
  if (inode === undefined) {
    if (required) throw new FormatError(`/${name} does not exist in the image`);
    return undefined;
  }
  if (inode.kind !== 'dir') throw new FormatError(`/${name} is not a directory`);
  return inode;
}

/** The xattr keys transformForOci keeps under `mode`. */
export function xattrFilter(mode: XattrFiltering = 'allowlist-only'): (key: string) => boolean {
  const keepUser = mode === 'keep-user-xattrs';
  return (k) => CONTAINER_XATTR_ALLOWLIST.includes(k) || (keepUser && k.startsWith('user.'));
}

/**
 * After all layers (transform_for_oci): the root takes /usr's mode, owner, mtime
 * and xattrs; /run, if present, is emptied and takes /usr's mtime; xattrs are
 * filtered on every inode. Orphaned leaves need no compaction in this tree model.
 * @throws FormatError if /usr is missing or not a directory, or /run is not a directory
 */
export function transformForOci(root: Dir, opts: { xattrs?: XattrFiltering } = {}): void {
  const usr = topDir(root, 'usr', true)!.stat;
  const run = topDir(root, 'run', false);
  root.stat = { ...usr, xattrs: new Map(usr.xattrs) };
  if (run !== undefined) {
    run.stat = { ...run.stat, mtimeSec: usr.mtimeSec, mtimeNsec: usr.mtimeNsec };
    run.clear();
  }
  filterXattrs(root, xattrFilter(opts.xattrs));
}

export interface BootTransformOptions {
  /** Reads an external object's bytes (needed when /etc/selinux/config is larger than 64 bytes). */
  readObject?: ((id: Buffer, size: bigint) => Promise<Buffer>) | undefined;
}

/** The error for an image with an SELinux policy: labelling it needs the selabel.rs port (code ERR_NOT_IMPLEMENTED). */
function selinuxNotImplemented(policy: string): TsbootcError {
  return new TsbootcError(`SELinux relabeling not implemented: the image has an SELinux policy (SELINUXTYPE=${policy}), and a boot image without its labels would have the wrong digest`, { code: 'ERR_NOT_IMPLEMENTED' });
}

/**
 * The boot variant (composefs-boot transform_for_boot, without boot-entry
 * extraction), applied after transformForOci as generate_boot_image does:
 * /boot and /sysroot must exist; both are emptied and take /usr's
 * mtime seconds. With no SELinux policy every security.selinux xattr is removed;
 * an image whose /etc/selinux/config names a policy is refused.
 * @throws FormatError for missing /usr, /boot or /sysroot; TsbootcError ERR_NOT_IMPLEMENTED for an SELinux policy
 */
export async function transformForBoot(root: Dir, opts: BootTransformOptions = {}): Promise<void> {
  const usrMtime = topDir(root, 'usr', true)!.stat.mtimeSec;
  const dirs = [topDir(root, 'boot', true)!, topDir(root, 'sysroot', true)!];
  const policy = await selinuxPolicyName(root, opts);
  if (policy !== undefined) throw selinuxNotImplemented(policy);
  for (const d of dirs) {
    d.stat = { ...d.stat, mtimeSec: usrMtime };
    d.clear();
  }
  filterXattrs(root, (k) => k !== 'security.selinux');
}

/** SELINUXTYPE from /etc/selinux/config, or undefined when there is no policy (selabel.rs rules). */
async function selinuxPolicyName(root: Dir, opts: BootTransformOptions): Promise<string | undefined> {
  const etc = topDir(root, 'etc', false);
  const selinux = etc?.getKey('selinux');
  if (selinux === undefined) return undefined;
  if (selinux.kind !== 'dir') throw new FormatError('/etc/selinux is not a directory');
  const config = selinux.getKey('config');
  if (config === undefined) return undefined;
  if (config.kind === 'dir' || config.data.type !== 'reg') throw new FormatError('/etc/selinux/config is not a regular file');
  const d = config.data;
  let text: Buffer;
  if (d.content !== null || d.size === 0n) text = d.content ?? Buffer.alloc(0);
  else if (d.digest === null) throw new FormatError('/etc/selinux/config has no content or object id');
  else if (opts.readObject === undefined) throw new FormatError(`/etc/selinux/config is stored as object ${d.digest.toString('hex')}; transformForBoot needs readObject to read it`);
  else text = await opts.readObject(d.digest, d.size);
  for (const line of text.toString('utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    if (line.slice(0, eq).trim().toLowerCase() === 'selinuxtype') return printable(line.slice(eq + 1).trim());
  }
  return undefined;
}
