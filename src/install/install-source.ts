/**
 * Owns opening and checking the source image of an install before anything
 * is written to the target: the reference is resolved to an OCI store
 * (`oci:`, `oci-archive:`, `dir:` directly; `docker://` fetched with skopeo
 * into the scratch dir), pulled into a scratch composefs repository (bootable),
 * and inspected: its boot resource (refused when there is no kernel, naming
 * where it looked), install config drop-ins, kargs.d, os-release and
 * bootupctl. The files install needs later from the image (install config,
 * systemd-boot binaries, Secure Boot keys) are checked out into an "image
 * root" directory so the existing Root-based readers work on them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Repository } from '../composefs/repository/index.js';
import { openImageSource } from '../composefs/oci/source.js';
import { pullOciImage } from '../composefs/oci/store.js';
import type { OciStore } from '../composefs/oci/layout.js';
import { copyImageTree, findBootResource, lookupImagePath, openImageContent, readImageKargs, readImageOsRelease, type BootResource, type ImageContent } from '../deploy/image-content.js';
import { fetchImage } from '../image/fetch.js';
import { parseContainersImageRef } from '../image/ref.js';
import type { Host } from '../sys/host.js';
import { realRepoSyscalls } from '../sys/repo-syscalls.js';
import { Root } from '../sys/root.js';
import { libzstdCodec, libzstdDecompressor } from '../sys/zstd.js';
import { TsbootcError, UsageError, withContext } from '../util/errors.js';
import { INSTALL_CONFIG_BASES, INSTALL_CONFIG_SUBDIR, loadInstallConfig, type InstallConfig } from './config.js';
import { SECUREBOOT_KEYS_DIR, SYSTEMD_BOOT_EFI_DIR } from './esp-bootloader.js';

export const BOOTUPCTL = '/usr/bin/bootupctl';

export interface SourceImage {
  /** As given by the user. */
  ref: string;
  store: OciStore;
  sourceRef: string | undefined;
  manifestDigest: string;
  configDigest: string;
  boot: Extract<BootResource, { kind: 'type1' }>;
  installConfig: InstallConfig | undefined;
  osRelease: string | undefined;
  imageKargs: string[];
  hasBootupctl: boolean;
  /** Checked-out parts of the image (install config, systemd-boot EFI binaries, Secure Boot keys). */
  imageRoot: Root;
  /** The scratch repository the image was checked in (closed by release). */
  scratchRepo: Repository;
  content: ImageContent;
}

export function repoOptions(host: Host, insecure: boolean) {
  return {
    sys: realRepoSyscalls(),
    zstd: libzstdCodec(),
    algorithm: 'sha512' as const,
    insecure,
    log: (e: unknown) => host.log.debug({ kind: 'message', message: `composefs: ${JSON.stringify(e)}` }),
    crash: host.crash,
  };
}

/** An OCI store for the reference; registry images are fetched into `scratch`. */
export async function openSourceStore(host: Host, ref: string, scratch: string): Promise<{ store: OciStore; sourceRef: string | undefined }> {
  if (ref.startsWith('oci:') || ref.startsWith('oci-archive:') || ref.startsWith('dir:')) {
    const s = await openImageSource(ref);
    return { store: s.store, sourceRef: s.sourceRef };
  }
  const parsed = parseContainersImageRef(ref);
  if (parsed.transport !== 'registry') {
    throw new UsageError(`install: source transport ${parsed.transport} is not supported (${ref}); copy the image to oci:DIR with skopeo first`);
  }
  const fetched = await fetchImage(host, { ...parsed, signature: { kind: 'insecure' } }, { destDir: path.join(scratch, 'fetched'), quiet: true });
  const s = await openImageSource(`dir:${fetched.dir}`);
  return { store: s.store, sourceRef: undefined };
}

/**
 * Pulls the source into a scratch repository under `scratch` and checks it.
 * @throws NoKernelError, UsageError for a bad reference, TsbootcError ERR_NOT_IMPLEMENTED for UKI images
 */
export async function inspectSource(host: Host, ref: string, scratch: string, arch: string): Promise<SourceImage> {
  return withContext(`Checking the source image ${ref}`, async () => {
    const { store, sourceRef } = await openSourceStore(host, ref, scratch);
    const { repo } = await Repository.init(path.join(scratch, 'composefs'), repoOptions(host, true));
    try {
      const pulled = await pullOciImage(repo, store, { sourceRef, bootable: true, zstd: libzstdDecompressor });
      if (!pulled.isContainerImage) throw new UsageError(`install: ${ref} is not a container image (an OCI artifact)`);
      const content = await openImageContent(repo, pulled.manifestDigest);
      const boot = findBootResource(content);
      if (boot.kind === 'uki') throw new TsbootcError(`install: image ${ref} boots a UKI (${boot.path}); tsbootc installs Type1 kernels only so far`, { code: 'ERR_NOT_IMPLEMENTED' });
      const imageRoot = new Root(path.join(scratch, 'image-root'));
      await fs.mkdir(imageRoot.prefix, { recursive: true });
      const wanted = [...INSTALL_CONFIG_BASES.filter((b) => b !== '/run').map((b) => `${b}/${INSTALL_CONFIG_SUBDIR}`), SYSTEMD_BOOT_EFI_DIR, SECUREBOOT_KEYS_DIR];
      for (const p of wanted) await copyImageTree(content, p, imageRoot, p, { owners: false });
      const installConfig = await loadInstallConfig(imageRoot, arch);
      return {
        ref,
        store,
        sourceRef,
        manifestDigest: pulled.manifestDigest,
        configDigest: pulled.configDigest,
        boot,
        installConfig,
        osRelease: await readImageOsRelease(content),
        imageKargs: await readImageKargs(content, arch),
        hasBootupctl: lookupImagePath(content.tree, BOOTUPCTL) !== undefined,
        imageRoot,
        scratchRepo: repo,
        content,
      };
    } catch (err) {
      repo.close();
      throw err;
    }
  });
}

/** A scratch directory for `fn`, removed afterwards. */
export async function withScratch<T>(parent: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await fs.mkdir(parent, { recursive: true });
  const dir = await fs.mkdtemp(path.join(parent, '.tsbootc-install-'));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
