/**
 * Owns reading what a deployment needs from an image already pulled into a
 * composefs repository, without mounting anything: the boot resources
 * (Type1 kernel + initramfs from /usr/lib/modules/<kver>/, or a UKI), the
 * os-release, kargs.d, and copies of image subtrees (/etc, /var, the
 * systemd-boot binaries, install config) onto the host with owners, modes,
 * mtimes, xattrs, symlinks and hardlinks. The tree is rebuilt from the layer
 * splitstreams (buildStoredTree) and viewed as the boot EROFS sees it
 * (transformForOci + transformForBoot), so copies match the deployment.
 *
 * API (shared by install and switch/upgrade):
 * - openImageContent(repo, manifestDigest) → ImageContent
 * - findBootResource(c) → BootResource (throws NoKernelError naming where it looked)
 * - readBootPayload(c, r) → { vmlinuz, initrd } bytes of a Type1 resource
 * - readImageFile(c, path) / readImageOsRelease(c) / readImageKargs(c, arch)
 * - copyImageTree(c, imagePath, dest, destPath, opts) → CopyStats
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Dir, keyBytes, type Inode, type Leaf } from '../composefs/tree.js';
import type { Repository } from '../composefs/repository/index.js';
import { buildStoredTree } from '../composefs/oci/stored-tree.js';
import { openStoredImage } from '../composefs/oci/stored.js';
import { transformForBoot, transformForOci } from '../composefs/oci/merge.js';
import { collectKargs, KARGS_D } from '../boot/kargs-d.js';
import { setXattr } from '../sys/libc.js';
import type { Root } from '../sys/root.js';
import { TsbootcError, withContext } from '../util/errors.js';

export interface ImageContent {
  readonly repo: Repository;
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** The filesystem as the boot EROFS holds it (/boot and /sysroot empty). */
  readonly tree: Dir;
  /** The first boot resource, found before /boot was emptied; undefined when the image has none. */
  readonly boot: BootResource | undefined;
}

/** Type1: `/usr/lib/modules/<kver>/{vmlinuz,initramfs.img}`; UKI: an `.efi` under /boot/EFI/Linux or /usr/lib/modules/<kver>. */
export type BootResource = { kind: 'type1'; kernelVersion: string; vmlinuz: Leaf; initrd: Leaf } | { kind: 'uki'; path: string; uki: Leaf };

export const MODULES_DIR = '/usr/lib/modules';
export const BOOT_UKI_DIR = '/boot/EFI/Linux';
/** Where findBootResource looks, in bootc's order (§3.4), for error messages. */
export const BOOT_RESOURCE_PLACES = [`${BOOT_UKI_DIR}/*.efi`, `${MODULES_DIR}/*/*.efi`, `${MODULES_DIR}/*/vmlinuz (with initramfs.img)`];

/** The image has no kernel to boot. */
export class NoKernelError extends TsbootcError {
  constructor(image: string) {
    super(`image ${image} has no kernel: looked for ${BOOT_RESOURCE_PLACES.join(', ')}`, { code: 'ERR_PRECONDITION' });
  }
}
Object.defineProperty(NoKernelError.prototype, 'name', { value: 'NoKernelError', enumerable: false });

/** Opens a pulled image (`streams/oci-manifest-<digest>`) and rebuilds its boot view. */
export async function openImageContent(repo: Repository, manifestDigest: string): Promise<ImageContent> {
  return withContext(`Reading image ${manifestDigest} from ${repo.path}`, async () => {
    const stored = await openStoredImage(repo, manifestDigest);
    const tree = await buildStoredTree(repo, stored.configDigest);
    const boot = detectBootResource(tree);
    transformForOci(tree);
    await transformForBoot(tree, { readObject: (id) => repo.readObject(id.toString('hex')) });
    return { repo, manifestDigest, configDigest: stored.configDigest, tree, boot };
  });
}

/** The boot resource, or NoKernelError naming the places searched. */
export function findBootResource(c: ImageContent): BootResource {
  if (c.boot === undefined) throw new NoKernelError(c.manifestDigest);
  return c.boot;
}

function childDir(d: Dir | undefined, name: string): Dir | undefined {
  const i = d?.getKey(name);
  return i?.kind === 'dir' ? i : undefined;
}

function regular(d: Dir, name: string): Leaf | undefined {
  const i = d.getKey(name);
  return i?.kind === 'leaf' && i.data.type === 'reg' ? i : undefined;
}

function detectBootResource(tree: Dir): BootResource | undefined {
  const efis = (d: Dir | undefined) => (d === undefined ? [] : d.sortedKeys().filter((k) => k.endsWith('.efi') && regular(d, k) !== undefined));
  const bootEfi = childDir(childDir(childDir(tree, 'boot'), 'EFI'), 'Linux');
  const first = efis(bootEfi)[0];
  if (bootEfi !== undefined && first !== undefined) return { kind: 'uki', path: `${BOOT_UKI_DIR}/${first}`, uki: regular(bootEfi, first)! };
  const modules = childDir(childDir(childDir(tree, 'usr'), 'lib'), 'modules');
  for (const kver of modules?.sortedKeys() ?? []) {
    const d = childDir(modules, kver);
    if (d === undefined) continue;
    const uki = efis(d)[0];
    if (uki !== undefined) return { kind: 'uki', path: `${MODULES_DIR}/${kver}/${uki}`, uki: regular(d, uki)! };
  }
  for (const kver of modules?.sortedKeys() ?? []) {
    const d = childDir(modules, kver);
    const vmlinuz = d === undefined ? undefined : regular(d, 'vmlinuz');
    const initrd = d === undefined ? undefined : regular(d, 'initramfs.img');
    if (vmlinuz !== undefined && initrd !== undefined) return { kind: 'type1', kernelVersion: Buffer.from(kver, 'latin1').toString('utf8'), vmlinuz, initrd };
  }
  return undefined;
}

/** The bytes of a regular file leaf (inline or from its object). */
export async function readLeaf(c: ImageContent, leaf: Leaf): Promise<Buffer> {
  const d = leaf.data;
  if (d.type !== 'reg') throw new TsbootcError(`not a regular file in image ${c.manifestDigest}`);
  if (d.content !== null) return d.content;
  if (d.digest === null || d.size === 0n) return Buffer.alloc(0);
  return c.repo.readObject(d.digest.toString('hex'));
}

/** The kernel and initramfs of a Type1 resource. */
export async function readBootPayload(c: ImageContent, r: Extract<BootResource, { kind: 'type1' }>): Promise<{ vmlinuz: Buffer; initrd: Buffer }> {
  return { vmlinuz: await readLeaf(c, r.vmlinuz), initrd: await readLeaf(c, r.initrd) };
}

/** Looks a path up in the tree, following symlinks (absolute targets are image-relative). */
export function lookupImagePath(tree: Dir, p: string, follow = true): Inode | undefined {
  let parts = p.split('/').filter((s) => s !== '' && s !== '.');
  const stack: Dir[] = [];
  let cur: Inode = tree;
  for (let hops = 0; parts.length > 0; ) {
    const name = parts.shift()!;
    if (cur.kind !== 'dir') return undefined;
    if (name === '..') {
      cur = stack.pop() ?? tree;
      continue;
    }
    const next: Inode | undefined = cur.getKey(Buffer.from(name, 'utf8').toString('latin1'));
    if (next === undefined) return undefined;
    if (next.kind === 'leaf' && next.data.type === 'symlink' && (follow || parts.length > 0)) {
      if (++hops > 40) throw new TsbootcError(`too many symlinks resolving ${p} in the image`);
      const target = next.data.target.toString('utf8');
      const tparts = target.split('/').filter((s) => s !== '' && s !== '.');
      if (target.startsWith('/')) {
        stack.length = 0;
        cur = tree;
      }
      parts = [...tparts, ...parts];
      continue;
    }
    if (next.kind === 'dir') stack.push(cur);
    cur = next;
  }
  return cur;
}

/** A regular file of the image (symlinks followed), or undefined when absent. */
export async function readImageFile(c: ImageContent, p: string): Promise<Buffer | undefined> {
  const i = lookupImagePath(c.tree, p);
  return i?.kind === 'leaf' && i.data.type === 'reg' ? readLeaf(c, i) : undefined;
}

/** /usr/lib/os-release, else /etc/os-release. */
export async function readImageOsRelease(c: ImageContent): Promise<string | undefined> {
  return (await readImageFile(c, '/usr/lib/os-release'))?.toString('utf8') ?? (await readImageFile(c, '/etc/os-release'))?.toString('utf8');
}

/** The kernel arguments of the image's /usr/lib/bootc/kargs.d for `arch` (Rust name). */
export async function readImageKargs(c: ImageContent, arch: string): Promise<string[]> {
  const d = lookupImagePath(c.tree, KARGS_D);
  if (d?.kind !== 'dir') return [];
  const files: { name: string; text: string }[] = [];
  for (const [name, i] of d.sortedEntries()) {
    if (i.kind === 'leaf' && i.data.type === 'reg') files.push({ name: name.toString('utf8'), text: (await readLeaf(c, i)).toString('utf8') });
  }
  return collectKargs(files, arch);
}

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
  return withContext(`Copying ${imagePath} of image ${c.manifestDigest} to ${dest.resolve(destPath)}`, async () => {
    const stats: CopyStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0 };
    const src = lookupImagePath(c.tree, imagePath);
    if (src?.kind !== 'dir') return { ...stats, found: false };
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
