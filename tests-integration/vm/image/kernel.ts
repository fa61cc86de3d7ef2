/**
 * Owns the Debian kernel of the test images: which linux-image package a
 * variant uses, downloading its .deb once into the cache, and extracting the
 * vmlinuz plus only the modules the initramfs needs (environment.md §8).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { exec, execAllowFailure, execText } from './exec.js';

/**
 * The modules the initramfs loads, in insmod order: virtio disk, ext4 for the
 * physical root, erofs + loop for the composefs image, overlay for the root.
 */
export const INITRAMFS_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'virtio_blk',
  'crc16',
  'mbcache',
  'jbd2',
  'crc32c_generic',
  'libcrc32c',
  'ext4',
  'erofs',
  'overlay',
  'loop',
] as const;

/**
 * Modules the booted userspace loads (not the initramfs): vfat and the code
 * pages its default mount options need, so tsbootc can mount the ESP.
 */
export const RUNTIME_MODULES = ['fat', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8', 'nls_iso8859-1', 'efivarfs'] as const;

const RUNTIME_MODULE_DIRS: Record<string, string> = { fat: 'fat', vfat: 'fat', efivarfs: 'efivarfs' };

const KERNEL_PKG_RE = /^linux-image-(6\.1\.0-(\d+)-amd64)$/;

export interface KernelModule {
  name: string;
  /** Path relative to /usr/lib/modules/<kver>/, e.g. kernel/fs/ext4/ext4.ko */
  relPath: string;
  /** Absolute path of the extracted file in the cache. */
  file: string;
}

export interface ExtractedKernel {
  pkg: string;
  kver: string;
  deb: string;
  vmlinuz: string;
  /** In INITRAMFS_MODULES order. */
  modules: KernelModule[];
  /** RUNTIME_MODULES, for the rootfs only. */
  runtimeModules: KernelModule[];
}

/** The cache dir: $TSBOOTC_TEST_IMAGE_CACHE, else /var/cache/tsbootc-test-image. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['TSBOOTC_TEST_IMAGE_CACHE'] ?? '/var/cache/tsbootc-test-image';
}

function abiOf(pkg: string): number {
  const m = KERNEL_PKG_RE.exec(pkg);
  return m?.[2] !== undefined ? Number(m[2]) : -1;
}

/** linux-image-6.1.0-N-amd64 packages the apt index or the cache knows, oldest ABI first. */
export async function listKernelPackages(cacheDir: string): Promise<string[]> {
  const names = new Set<string>();
  const r = await execAllowFailure(['apt-cache', 'search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-amd64$']);
  if (r.exitCode === 0) {
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (KERNEL_PKG_RE.test(name)) names.add(name);
    }
  }
  const debs = path.join(cacheDir, 'debs');
  if (existsSync(debs)) {
    for (const f of readdirSync(debs)) {
      const name = f.split('_')[0] ?? '';
      if (f.endsWith('.deb') && KERNEL_PKG_RE.test(name)) names.add(name);
    }
  }
  return [...names].sort((a, b) => abiOf(a) - abiOf(b));
}

/**
 * The kernel packages of the variants: v1/v2 use the second-newest ABI and v3
 * the newest, so v3 is a real kernel change. With one ABI available both are
 * the same and the builder perturbs v3's initramfs instead.
 * Overrides: $TSBOOTC_TEST_KERNEL_PKG (v1/v2) and $TSBOOTC_TEST_KERNEL_PKG_V3.
 */
export async function chooseKernelPackages(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ base: string; v3: string }> {
  const all = await listKernelPackages(cacheDir);
  const newest = all[all.length - 1];
  const older = all.length >= 2 ? all[all.length - 2] : newest;
  const base = env['TSBOOTC_TEST_KERNEL_PKG'] ?? older;
  const v3 = env['TSBOOTC_TEST_KERNEL_PKG_V3'] ?? newest;
  if (base === undefined || v3 === undefined) {
    throw new Error('no linux-image-6.1.0-*-amd64 package in the apt index or the cache (run apt-get update)');
  }
  return { base, v3 };
}

/** The cached .deb of pkg, downloading it with apt-get download if absent. */
export async function ensureKernelDeb(cacheDir: string, pkg: string): Promise<string> {
  const debs = path.join(cacheDir, 'debs');
  mkdirSync(debs, { recursive: true });
  const find = () => readdirSync(debs).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')).sort();
  let found = find();
  if (found.length === 0) {
    await exec(['apt-get', 'download', '-q', pkg], { cwd: debs });
    found = find();
  }
  const deb = found[found.length - 1];
  if (deb === undefined) throw new Error(`apt-get download ${pkg} left no .deb in ${debs}`);
  return path.join(debs, deb);
}

/**
 * Extracts vmlinuz and INITRAMFS_MODULES from the package into
 * <cache>/kernels/<deb name>/ (once; later calls reuse it) and checks that
 * the insmod order satisfies every module's `depends`.
 */
export async function extractKernel(cacheDir: string, pkg: string): Promise<ExtractedKernel> {
  const m = KERNEL_PKG_RE.exec(pkg);
  const kver = m?.[1];
  if (kver === undefined) throw new Error(`unsupported kernel package name ${pkg}`);
  const deb = await ensureKernelDeb(cacheDir, pkg);
  const dir = path.join(cacheDir, 'kernels', path.basename(deb, '.deb'));
  if (!existsSync(path.join(dir, '.complete'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const tarball = path.join(tmp, 'data.tar');
    await exec(['sh', '-c', 'dpkg-deb --fsys-tarfile "$1" > "$2"', 'sh', deb, tarball]);
    const patterns = [`./boot/vmlinuz-${kver}`, ...INITRAMFS_MODULES.map((n) => `./lib/modules/${kver}/kernel/*/${n}.ko`)];
    await exec(['tar', '-x', '-f', tarball, '-C', tmp, '--wildcards', ...patterns]);
    rmSync(tarball);
    writeFileSync(path.join(tmp, '.complete'), `${pkg}\n`);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another build (other worktrees share the cache) finished the same extraction first.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(path.join(dir, '.complete'))) throw err;
    }
  }
  const modRoot = path.join(dir, 'lib', 'modules', kver);
  await extractRuntimeModules(deb, dir, kver);
  const modules: KernelModule[] = [];
  const byName = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(modRoot, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ko')) byName.set(e.name.slice(0, -3), r);
    }
  };
  walk('');
  for (const name of INITRAMFS_MODULES) {
    const relPath = byName.get(name);
    if (relPath === undefined) throw new Error(`${pkg} has no module ${name}.ko`);
    modules.push({ name, relPath, file: path.join(modRoot, relPath) });
  }
  const runtimeModules: KernelModule[] = [];
  for (const name of RUNTIME_MODULES) {
    const relPath = byName.get(name);
    if (relPath === undefined) throw new Error(`${pkg} has no module ${name}.ko`);
    runtimeModules.push({ name, relPath, file: path.join(modRoot, relPath) });
  }
  const loaded = new Set<string>();
  for (const mod of modules) {
    const deps = await execText(['modinfo', '-F', 'depends', mod.file]);
    for (const d of deps.split(',').filter((x) => x !== '')) {
      if (!loaded.has(d)) throw new Error(`${pkg}: module ${mod.name} depends on ${d}, which is not loaded before it`);
    }
    loaded.add(mod.name.replace(/-/g, '_'));
  }
  return { pkg, kver, deb, vmlinuz: path.join(dir, 'boot', `vmlinuz-${kver}`), modules, runtimeModules };
}

/**
 * Adds RUNTIME_MODULES to an extracted kernel dir that predates them (the
 * cache is shared with older builds): extracted next to it, then each file
 * renamed into place, so a concurrent build sees a module whole or not at all.
 */
async function extractRuntimeModules(deb: string, dir: string, kver: string): Promise<void> {
  const marker = path.join(dir, '.runtime-modules');
  const want = `${RUNTIME_MODULES.join('\n')}\n`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === want) return;
  const tmp = `${dir}.rt-tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const tarball = path.join(tmp, 'data.tar');
    await exec(['sh', '-c', 'dpkg-deb --fsys-tarfile "$1" > "$2"', 'sh', deb, tarball]);
    const rels = RUNTIME_MODULES.map((n) => `lib/modules/${kver}/kernel/fs/${RUNTIME_MODULE_DIRS[n] ?? 'nls'}/${n}.ko`);
    await exec(['tar', '-x', '-f', tarball, '-C', tmp, ...rels.map((r) => `./${r}`)]);
    for (const rel of rels) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      renameSync(path.join(tmp, rel), path.join(dir, rel));
    }
    writeFileSync(marker, want);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
