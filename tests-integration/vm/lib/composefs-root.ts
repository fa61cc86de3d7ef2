/**
 * Owns laying out a bootc composefs physical root from an OCI test image
 * without the install verb (bootc.md §2): unpack the image, build its EROFS +
 * object store with mkcomposefs, create state/deploy/<id>/{etc,var} and
 * state/os/default/var, and pack the tree into an ext4 disk image with
 * `mkfs.ext4 -d` (no mount, no loop device).
 */
import { chmodSync, copyFileSync, cpSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { exec, execText } from '../image/exec.js';

import type { MkcomposefsCommand } from '../image/composefs-id.js';

export { findMkcomposefs } from '../image/composefs-id.js';

export interface ComposefsRootOptions {
  /** OCI layout and tag to deploy. */
  layout: string;
  tag: string;
  /** Scratch directory (must not exist or be empty). */
  workDir: string;
  /** From findMkcomposefs(). */
  mkcomposefs: MkcomposefsCommand;
  /** Extra files written into the deployment's etc (state/deploy/<id>/etc/<rel>). */
  etcFiles?: Record<string, string>;
  /** Extra files written into the shared var (state/os/default/var/<rel>); .sh files get mode 0755. */
  varFiles?: Record<string, string>;
  diskSizeMiB?: number;
  /** Filesystem UUID of the ext4 root. */
  uuid?: string;
}

export interface ComposefsRoot {
  /** The deployment id: the EROFS image's fs-verity digest as mkcomposefs prints it. */
  id: string;
  /** The unpacked image rootfs. */
  rootfs: string;
  /** The physical root tree packed into disk. */
  tree: string;
  disk: string;
  kver: string;
  vmlinuz: string;
  initramfs: string;
  /** The image's UKI, taken out of the deployed tree (see takeOutUki). */
  uki?: string;
}

function onlyKver(rootfs: string): string {
  const modules = path.join(rootfs, 'usr', 'lib', 'modules');
  const kvers = readdirSync(modules);
  const kver = kvers[0];
  if (kvers.length !== 1 || kver === undefined) throw new Error(`expected one kernel in ${modules}, found ${kvers.join(' ')}`);
  return kver;
}

/**
 * Moves /usr/lib/modules/<kver>/*.efi (a UKI) out of the unpacked rootfs into workDir and
 * restores the directory's mtime. A UKI's .cmdline carries composefs=<id>, so the id cannot
 * cover the UKI itself: the test images define the id over the rootfs without it (as bootc's
 * boot image leaves out /boot), and the deployment is built from the same tree.
 */
function takeOutUki(rootfs: string, workDir: string): string | undefined {
  const dir = path.join(rootfs, 'usr', 'lib', 'modules', onlyKver(rootfs));
  const efis = readdirSync(dir).filter((f) => f.endsWith('.efi')).sort();
  const first = efis[0];
  if (first === undefined) return undefined;
  const st = statSync(dir);
  const out = path.join(workDir, first);
  copyFileSync(path.join(dir, first), out);
  for (const f of efis) rmSync(path.join(dir, f));
  utimesSync(dir, st.atime, st.mtime);
  return out;
}

/** Builds the physical root tree and its ext4 disk image (see the module comment). */
export async function buildComposefsRoot(opts: ComposefsRootOptions): Promise<ComposefsRoot> {
  mkdirSync(opts.workDir, { recursive: true });
  const bundle = path.join(opts.workDir, 'bundle');
  await exec(['umoci', 'unpack', '--rootless', '--image', `${opts.layout}:${opts.tag}`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  const uki = takeOutUki(rootfs, opts.workDir);
  const tree = path.join(opts.workDir, 'root');
  const cfs = path.join(tree, 'composefs');
  mkdirSync(path.join(cfs, 'images'), { recursive: true });
  mkdirSync(path.join(cfs, 'objects'), { recursive: true });
  chmodSync(cfs, 0o700);
  const tmpImage = path.join(cfs, 'images', '.tmp-image');
  const id = await execText([...opts.mkcomposefs, '--min-version=1', `--digest-store=${path.join(cfs, 'objects')}`, '--print-digest', rootfs, tmpImage]);
  if (!/^[0-9a-f]{64}$|^[0-9a-f]{128}$/.test(id)) throw new Error(`mkcomposefs printed ${JSON.stringify(id)}, not a digest`);
  renameSync(tmpImage, path.join(cfs, 'images', id));

  const deploy = path.join(tree, 'state', 'deploy', id);
  mkdirSync(deploy, { recursive: true });
  cpSync(path.join(rootfs, 'etc'), path.join(deploy, 'etc'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  symlinkSync('../../os/default/var', path.join(deploy, 'var'));
  const sharedVar = path.join(tree, 'state', 'os', 'default', 'var');
  mkdirSync(path.dirname(sharedVar), { recursive: true });
  cpSync(path.join(rootfs, 'var'), sharedVar, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  for (const [rel, text] of Object.entries(opts.etcFiles ?? {})) writeTreeFile(path.join(deploy, 'etc'), rel, text);
  for (const [rel, text] of Object.entries(opts.varFiles ?? {})) writeTreeFile(sharedVar, rel, text);

  const disk = path.join(opts.workDir, 'disk.img');
  await exec(['truncate', '-s', `${opts.diskSizeMiB ?? 256}M`, disk]);
  await exec(['mkfs.ext4', '-q', '-F', '-b', '4096', '-O', 'verity', '-L', 'tsbootc-root', ...(opts.uuid !== undefined ? ['-U', opts.uuid] : []), '-d', tree, disk]);

  const modules = path.join(rootfs, 'usr', 'lib', 'modules');
  const kver = onlyKver(rootfs);
  return {
    ...(uki !== undefined ? { uki } : {}),
    id,
    rootfs,
    tree,
    disk,
    kver,
    vmlinuz: path.join(modules, kver, 'vmlinuz'),
    initramfs: path.join(modules, kver, 'initramfs.img'),
  };
}

function writeTreeFile(base: string, rel: string, text: string): void {
  const p = path.join(base, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, rel.endsWith('.sh') ? 0o755 : 0o644);
}
