/**
 * Owns `internals cfs oci prepare-boot` (cfsctl's PrepareBoot): build the
 * boot EROFS of a stored image, commit it, and write its boot resources to
 * `--bootdir` with a BLS entry carrying the `composefs=` /
 * `composefs.digest=v1-…` karg, then create composefs-setup-root's state
 * directory (`<repo>/../state/deploy/<id>/{var,etc/upper,etc/work}`).
 *
 * Only the kernel found at /usr/lib/modules/<kver>/{vmlinuz,initramfs.img}
 * (composefs-boot's UsrLibModulesVmlinuz, the bootc image layout) is
 * handled. cfsctl prefers Type 1 entries in /boot/loader/entries and UKIs in
 * /boot/EFI/Linux; an image carrying those is refused (not implemented
 * here; bootc's own deploy path in src/boot handles them).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsbootcError, withContext } from '../../util/errors.js';
import { buildStoredTree, openTaggedImage, transformForBoot, transformForOci, writeErofs, type Dir, type Leaf } from '../../composefs/index.js';
import type { Repository } from '../../composefs/repository/index.js';
import { str, strs, type Context } from '../context.js';
import type { Args } from '../parse.js';
import { resolveRepoPath, withRepo } from './cfs-repo.js';

interface Kernel {
  kver: string;
  vmlinuz: Leaf;
  initramfs: Leaf | undefined;
}

function sub(d: Dir | undefined, name: string): Dir | undefined {
  const i = d?.get(Buffer.from(name));
  return i?.kind === 'dir' ? i : undefined;
}

function file(d: Dir | undefined, name: string): Leaf | undefined {
  const i = d?.get(Buffer.from(name));
  return i?.kind === 'leaf' && i.data.type === 'reg' ? i : undefined;
}

/** The kernels under /usr/lib/modules, by kernel version; refuses images with /boot entries or UKIs. */
function findKernels(root: Dir): Kernel[] {
  const boot = sub(root, 'boot');
  const bls = [...(sub(sub(boot, 'loader'), 'entries')?.sortedEntries() ?? [])].filter(([n]) => n.toString('latin1').endsWith('.conf'));
  const ukis = [...(sub(sub(boot, 'EFI'), 'Linux')?.sortedEntries() ?? [])].filter(([n]) => n.toString('latin1').endsWith('.efi'));
  if (bls.length > 0 || ukis.length > 0) {
    throw new TsbootcError('oci prepare-boot: Type 1 entries in /boot/loader/entries and UKIs in /boot/EFI/Linux are not implemented; only /usr/lib/modules/<kver>/vmlinuz is', { code: 'ERR_NOT_IMPLEMENTED' });
  }
  const out: Kernel[] = [];
  for (const [name, d] of sub(sub(sub(root, 'usr'), 'lib'), 'modules')?.sortedEntries() ?? []) {
    if (d.kind !== 'dir') continue;
    const vmlinuz = file(d, 'vmlinuz');
    if (vmlinuz !== undefined) out.push({ kver: name.toString('latin1'), vmlinuz, initramfs: file(d, 'initramfs.img') });
  }
  return out;
}

async function contentOf(repo: Repository, leaf: Leaf): Promise<Buffer> {
  const d = leaf.data;
  if (d.type !== 'reg') throw new TsbootcError('not a regular file');
  if (d.content !== null || d.size === 0n) return d.content ?? Buffer.alloc(0);
  if (d.digest === null) throw new TsbootcError('a regular file has neither content nor an object id');
  return repo.readObject(d.digest.toString('hex'));
}

/** BootLoaderEntryFile::add_cmdline: replace `key=`/`key` in the options line, else append. */
function addCmdline(lines: string[], arg: string): void {
  const eq = arg.indexOf('=');
  const key = eq >= 0 ? arg.slice(0, eq + 1) : arg;
  const i = lines.findIndex((l) => /^options(\s|$)/.test(l));
  if (i < 0) {
    lines.push(`options ${arg}`);
    return;
  }
  const words = lines[i]!.replace(/^options\s*/, '').split(/\s+/).filter((w) => w !== '');
  const at = words.findIndex((w) => w.startsWith(key));
  if (at >= 0) words[at] = arg;
  else words.push(arg);
  lines[i] = `options ${words.join(' ')}`;
}

export async function prepareBoot(ctx: Context, args: Args): Promise<number> {
  return withRepo(ctx, args, async (repo) => {
    const image = str(args, 'image') ?? '';
    const config = image.startsWith('@') ? image.slice(1) : (await openTaggedImage(repo, image)).configDigest;
    const tree = await buildStoredTree(repo, config);
    transformForOci(tree);
    const kernel = findKernels(tree)[0];
    if (kernel === undefined) throw new TsbootcError(`${image}: No boot entries! (no /usr/lib/modules/<kver>/vmlinuz)`);
    if (kernel.initramfs === undefined) throw new TsbootcError(`kernel ${kernel.kver} has no initramfs.img in /usr/lib/modules/${kernel.kver}`);
    const [vmlinuz, initramfs] = [await contentOf(repo, kernel.vmlinuz), await contentOf(repo, kernel.initramfs)];
    await transformForBoot(tree, { readObject: (id) => repo.readObject(id.toString('hex')) });
    const fc = repo.formatConfig;
    const ids = new Map<number, string>();
    for (const v of [fc.default, ...fc.extra.filter((x) => x !== fc.default)]) ids.set(v, await repo.writeImage(writeErofs(tree, { version: v })));
    const id = ids.get(1) ?? ids.get(2);
    if (id === undefined) throw new TsbootcError(`${repo.path}: commit produced no V1 or V2 image`);
    const q = repo.insecure ? '?' : '';
    const karg = fc.default === 1 && !fc.extra.includes(2) ? `composefs.digest=${q}v1-${repo.algorithm}-12:${id}` : `composefs=${q}${id}`;

    const entryId = str(args, 'entry-id') ?? kernel.kver;
    const bootdir = str(args, 'bootdir') ?? '/boot';
    const lines = ['# File created by composefs', 'title todoOS', 'version 0-todo', `linux /${entryId}/vmlinuz`, `initrd /${entryId}/initramfs.img`];
    for (const a of [karg, ...strs(args, 'cmdline')]) addCmdline(lines, a);
    await withContext(`Writing boot entry ${entryId} to ${bootdir}`, async () => {
      fs.mkdirSync(path.join(bootdir, entryId), { recursive: true });
      fs.writeFileSync(path.join(bootdir, entryId, 'vmlinuz'), vmlinuz);
      fs.writeFileSync(path.join(bootdir, entryId, 'initramfs.img'), initramfs);
      fs.mkdirSync(path.join(bootdir, 'loader/entries'), { recursive: true });
      fs.writeFileSync(path.join(bootdir, 'loader/entries', `${entryId}.conf`), lines.join('\n') + '\n');
    });
    const repoArg = str(args, 'repo');
    const sysroot = repoArg !== undefined ? path.dirname(path.resolve(repoArg)) : path.dirname(resolveRepoPath(ctx, { ...args, system: true, user: false }));
    const state = path.join(sysroot, 'state/deploy', id);
    for (const d of ['var', 'etc/upper', 'etc/work']) fs.mkdirSync(path.join(state, d), { recursive: true });
    return 0;
  });
}
