/**
 * Owns reading an image already pulled into a composefs repository, without
 * mounting anything: opening it (by manifest digest: the tree rebuilt from
 * the layer splitstreams and viewed as the boot EROFS sees it; or by EROFS
 * image id: `images/<id>` parsed), resolving paths inside it (symlinks
 * followed inside the image), listing directories, reading files, kargs.d,
 * os-release, and finding what it boots (a UKI or a Type1 kernel +
 * initramfs). Copies of image subtrees onto the host live in image-copy.ts.
 *
 * API (shared by install, switch/upgrade and finalize):
 * - openImageContent(repo, manifestDigest) / openImageById(repo, id) → ImageContent
 * - lookupImagePath(tree, path, follow) / listImageDir(c, path) / readImageFile(c, path)
 * - readImageOsRelease(c) / readImageKargs(c, arch)
 * - findBootResource(c) (NoKernelError naming where it looked), readBootPayload, bootPayloadFromImage
 * - copyImageTree (re-exported from image-copy.ts)
 */
import type { BootPayload } from '../boot/entries.js';
import { collectKargs, KARGS_D } from '../boot/kargs-d.js';
import { readErofs } from '../composefs/erofs/reader.js';
import type { Dir, Inode, Leaf } from '../composefs/tree.js';
import type { Repository } from '../composefs/repository/index.js';
import { buildStoredTree } from '../composefs/oci/stored-tree.js';
import { openStoredImage } from '../composefs/oci/stored.js';
import { transformForBoot, transformForOci } from '../composefs/oci/merge.js';
import { TsbootcError, withContext } from '../util/errors.js';

export { copyImageTree, type CopyOptions, type CopyStats } from './image-copy.js';

export interface ImageContent {
  readonly repo: Repository;
  /** How the image was opened (manifest digest or EROFS image id), for messages. */
  readonly name: string;
  /** Set when opened by manifest digest. */
  readonly manifestDigest?: string;
  readonly configDigest?: string;
  /** By manifest: the filesystem as the boot EROFS holds it (/boot and /sysroot empty); by id: that EROFS. */
  readonly tree: Dir;
  /** The first boot resource, found before /boot was emptied; undefined when the image has none. */
  readonly boot: BootResource | undefined;
}

/** Type1: `/usr/lib/modules/<kver>/{vmlinuz,initramfs.img}`; UKI: an `.efi` under /boot/EFI/Linux or /usr/lib/modules/<kver>. */
export type BootResource = { kind: 'type1'; kernelVersion: string; vmlinuz: Leaf; initrd: Leaf } | { kind: 'uki'; path: string; uki: Leaf; addons?: UkiAddon[] };

/**
 * A PE file in a subdirectory of the UKI's directory (composefs-boot's
 * PEType::UkiAddon): `path` is relative to that directory, e.g.
 * `x.efi.extra.d/debug.addon.efi` or `loader/addons/a.addon.efi`.
 */
export interface UkiAddon {
  path: string;
  leaf: Leaf;
}

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
    return { repo, name: manifestDigest, manifestDigest, configDigest: stored.configDigest, tree, boot };
  });
}

/** Opens `images/<id>` of the repository (e.g. the booted deployment's EROFS) as a tree. */
export async function openImageById(repo: Repository, id: string): Promise<ImageContent> {
  return withContext(`Reading image ${id}`, async () => {
    const tree = readErofs((await repo.openImage(id)).data);
    return { repo, name: id, tree, boot: detectBootResource(tree) };
  });
}

/** Looks a path up in the tree, following symlinks (absolute targets are image-relative); `follow` false keeps a final symlink. */
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
      if (target.startsWith('/')) {
        stack.length = 0;
        cur = tree;
      }
      parts = [...target.split('/').filter((s) => s !== '' && s !== '.'), ...parts];
      continue;
    }
    if (next.kind === 'dir') stack.push(cur);
    cur = next;
  }
  return cur;
}

function regularAt(tree: Dir, p: string): Leaf | undefined {
  const i = lookupImagePath(tree, p);
  return i?.kind === 'leaf' && i.data.type === 'reg' ? i : undefined;
}

function namesIn(tree: Dir, p: string): string[] {
  const i = lookupImagePath(tree, p);
  return i?.kind === 'dir' ? i.sortedKeys().map((k) => Buffer.from(k, 'latin1').toString('utf8')) : [];
}

/** Entry names (UTF-8, sorted by bytes) of a directory; [] when missing or not a directory. */
export function listImageDir(c: ImageContent, p: string): string[] {
  return namesIn(c.tree, p);
}

/** The bytes of a regular file leaf (inline or from its object). */
export async function readLeaf(c: ImageContent, leaf: Leaf): Promise<Buffer> {
  const d = leaf.data;
  if (d.type !== 'reg') throw new TsbootcError(`not a regular file in image ${c.name}`);
  if (d.content !== null) return d.content;
  if (d.size === 0n) return Buffer.alloc(0);
  if (d.digest === null) throw new TsbootcError(`a file of ${d.size} bytes in image ${c.name} has no object digest`);
  return c.repo.readObject(d.digest.toString('hex'));
}

/** A regular file of the image (symlinks followed), or undefined when absent or not a regular file. */
export async function readImageFile(c: ImageContent, p: string): Promise<Buffer | undefined> {
  const leaf = regularAt(c.tree, p);
  return leaf === undefined ? undefined : withContext(`Reading ${p} from image ${c.name}`, () => readLeaf(c, leaf));
}

/** /usr/lib/os-release, else /etc/os-release. */
export async function readImageOsRelease(c: ImageContent): Promise<string | undefined> {
  return ((await readImageFile(c, '/usr/lib/os-release')) ?? (await readImageFile(c, '/etc/os-release')))?.toString('utf8');
}

/** The kernel arguments of the image's /usr/lib/bootc/kargs.d (`*.toml`, symlinks followed) for `arch` (Rust name). */
export async function readImageKargs(c: ImageContent, arch: string): Promise<string[]> {
  return withContext(`Reading ${KARGS_D} of image ${c.name}`, async () => {
    const files: { name: string; text: string }[] = [];
    for (const name of listImageDir(c, KARGS_D)) {
      const b = name.endsWith('.toml') ? await readImageFile(c, `${KARGS_D}/${name}`) : undefined;
      if (b !== undefined) files.push({ name, text: b.toString('utf8') });
    }
    return collectKargs(files, arch);
  });
}

/** The first `.efi` of a directory that is (or links to) a regular file. */
function firstUki(tree: Dir, dir: string): { path: string; uki: Leaf } | undefined {
  for (const n of namesIn(tree, dir).filter((x) => x.endsWith('.efi'))) {
    const uki = regularAt(tree, `${dir}/${n}`);
    if (uki !== undefined) return { path: `${dir}/${n}`, uki };
  }
  return undefined;
}

/** Every `.efi` regular file below the subdirectories of `dir` (not followed through symlinked dirs), sorted. */
function ukiAddons(tree: Dir, dir: string): UkiAddon[] {
  const out: UkiAddon[] = [];
  const walk = (rel: string, depth: number) => {
    for (const n of namesIn(tree, `${dir}/${rel}`)) {
      const p = rel === '' ? n : `${rel}/${n}`;
      const i = lookupImagePath(tree, `${dir}/${p}`, false);
      if (i?.kind === 'dir' && depth < 8) walk(p, depth + 1);
      else if (rel !== '' && n.endsWith('.efi') && i?.kind === 'leaf' && i.data.type === 'reg') out.push({ path: p, leaf: i });
    }
  };
  walk('', 0);
  return out;
}

/** bootc's order: a UKI in /boot/EFI/Linux, a UKI in /usr/lib/modules/<kver>, the first complete Type1 kernel. */
function detectBootResource(tree: Dir): BootResource | undefined {
  const kvers = namesIn(tree, MODULES_DIR);
  for (const dir of [BOOT_UKI_DIR, ...kvers.map((k) => `${MODULES_DIR}/${k}`)]) {
    const u = firstUki(tree, dir);
    if (u !== undefined) return { kind: 'uki', ...u, addons: ukiAddons(tree, dir) };
  }
  for (const kernelVersion of kvers) {
    const vmlinuz = regularAt(tree, `${MODULES_DIR}/${kernelVersion}/vmlinuz`);
    const initrd = regularAt(tree, `${MODULES_DIR}/${kernelVersion}/initramfs.img`);
    if (vmlinuz !== undefined && initrd !== undefined) return { kind: 'type1', kernelVersion, vmlinuz, initrd };
  }
  return undefined;
}

/** The boot resource, or NoKernelError naming the places searched. */
export function findBootResource(c: ImageContent): BootResource {
  if (c.boot === undefined) throw new NoKernelError(c.name);
  return c.boot;
}

/** The kernel and initramfs of a Type1 resource. */
export async function readBootPayload(c: ImageContent, r: Extract<BootResource, { kind: 'type1' }>): Promise<{ vmlinuz: Buffer; initrd: Buffer }> {
  return { vmlinuz: await readLeaf(c, r.vmlinuz), initrd: await readLeaf(c, r.initrd) };
}

/**
 * What a new deployment boots: the image's UKI, else its Type1 kernel with
 * `options` and the os-release for the title. Several kernel versions are
 * refused (bootc cannot tell which one to boot).
 * @throws NoKernelError, TsbootcError for several kernels
 */
export async function bootPayloadFromImage(c: ImageContent, options: string): Promise<BootPayload> {
  return withContext(`Reading the kernel of image ${c.name}`, async () => {
    const r = findBootResource(c);
    if (r.kind === 'uki') return { kind: 'uki', uki: await readLeaf(c, r.uki) };
    const kvers = listImageDir(c, MODULES_DIR).filter((k) => lookupImagePath(c.tree, `${MODULES_DIR}/${k}/vmlinuz`) !== undefined);
    if (kvers.length > 1) throw new TsbootcError(`Multiple kernels found in ${MODULES_DIR}: ${kvers.join(', ')}`);
    return { kind: 'type1', ...(await readBootPayload(c, r)), osRelease: await readImageOsRelease(c), options };
  });
}
