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
import { copyImageTree, findBootResource, lookupImagePath, MODULES_DIR, openImageContent, readImageKargs, readImageOsRelease, readLeaf, type BootResource, type ImageContent, type UkiAddon } from '../deploy/image-content.js';
import { peSection, readPeSections } from '../boot/pe.js';
import { ARTIFACT_PREFIX, UKI_EXT } from '../boot/constants.js';
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
  boot: BootResource;
  /** The boot EROFS id the scratch pull computed (the deployment id). */
  verity: string;
  /** UKI images: the UKI's bytes, whether its composefs= is `?` (verity optional), and the addons chosen with --uki-addon. */
  uki: SourceUki | undefined;
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

export interface SourceUki {
  bytes: Buffer;
  insecure: boolean;
  /** ESP paths relative to EFI/Linux/bootc, with their bytes. */
  addons: { espPath: string; bytes: Buffer }[];
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
export async function inspectSource(host: Host, ref: string, scratch: string, arch: string, uki: { addons: readonly string[]; kargs: readonly string[] } = { addons: [], kargs: [] }): Promise<SourceImage> {
  return withContext(`Checking the source image ${ref}`, async () => {
    const { store, sourceRef } = await openSourceStore(host, ref, scratch);
    const { repo } = await Repository.init(path.join(scratch, 'composefs'), repoOptions(host, true));
    try {
      const pulled = await pullOciImage(repo, store, { sourceRef, bootable: true, zstd: libzstdDecompressor });
      if (!pulled.isContainerImage) throw new UsageError(`install: ${ref} is not a container image (an OCI artifact)`);
      const content = await openImageContent(repo, pulled.manifestDigest);
      const boot = findBootResource(content);
      const verity = pulled.bootImageId;
      if (verity === undefined) throw new TsbootcError(`install: no boot image was built for ${ref}`);
      let sourceUki: SourceUki | undefined;
      if (boot.kind === 'uki') {
        if (uki.kargs.length > 0) throw new UsageError(`install: cannot use externally specified kernel arguments with UKI (${ref} boots ${boot.path}); put them in the UKI's .cmdline`);
        const bytes = await readLeaf(content, boot.uki);
        const arg = ukiComposefsArg(bytes, boot.path);
        if (arg.id !== verity) throw new TsbootcError(`install: the UKI has the wrong composefs= parameter (is '${arg.id}', should be '${verity}') in ${boot.path} of ${ref}`, { code: 'ERR_PRECONDITION' });
        const addons: SourceUki['addons'] = [];
        for (const a of selectUkiAddons(boot.addons ?? [], uki.addons, ref)) addons.push({ espPath: ukiAddonEspPath(a.path, verity), bytes: await readLeaf(content, a.leaf) });
        sourceUki = { bytes, insecure: arg.insecure, addons };
      } else if (uki.addons.length > 0) {
        throw new UsageError(`install: --uki-addon needs an image with a UKI, and ${ref} boots a Type1 kernel (${MODULES_DIR}/${boot.kernelVersion}/vmlinuz)`);
      }
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
        verity,
        uki: sourceUki,
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

export const UKI_ADDON_EXT = '.addon.efi';
export const UKI_ADDON_DIR_EXT = '.efi.extra.d';

/** The `composefs=[?]<id>` argument of a UKI's .cmdline (composefs-boot get_cmdline_composefs). */
export function ukiComposefsArg(uki: Buffer, where: string): { id: string; insecure: boolean } {
  let cmdline: string;
  try {
    cmdline = peSection(readPeSections(uki), '.cmdline')?.toString('utf8') ?? '';
  } catch (err) {
    throw new TsbootcError(`install: ${where} is not a valid UKI: ${(err as Error).message}`, { code: 'ERR_PRECONDITION' });
  }
  const arg = cmdline.replace(/\0+$/, '').split(/\s+/).find((a) => a.startsWith('composefs='));
  if (arg === undefined) throw new TsbootcError(`install: the UKI ${where} has no composefs= in its .cmdline (${JSON.stringify(cmdline.trim())})`, { code: 'ERR_PRECONDITION' });
  const v = arg.slice('composefs='.length);
  return v.startsWith('?') ? { id: v.slice(1), insecure: true } : { id: v, insecure: false };
}

/** The addons named by --uki-addon (bootc: name = file name without `.addon.efi`); an unknown name is refused. */
export function selectUkiAddons(available: readonly UkiAddon[], names: readonly string[], ref: string): UkiAddon[] {
  const byName = (a: UkiAddon) => path.posix.basename(a.path).slice(0, -UKI_ADDON_EXT.length);
  const named = available.filter((a) => a.path.endsWith(UKI_ADDON_EXT));
  for (const n of names) {
    if (!named.some((a) => byName(a) === n)) {
      const have = [...new Set(named.map(byName))];
      throw new UsageError(`install: --uki-addon ${n}: ${ref} has no ${n}${UKI_ADDON_EXT} next to its UKI (${have.length === 0 ? 'it has no addons' : `it has ${have.join(', ')}`})`);
    }
  }
  return named.filter((a) => names.includes(byName(a)));
}

/** Where bootc puts an addon under EFI/Linux/bootc: a `*.efi.extra.d` parent becomes `bootc_composefs-<id>.efi.extra.d`. */
export function ukiAddonEspPath(rel: string, verity: string): string {
  const dir = path.posix.dirname(rel);
  const name = path.posix.basename(rel);
  if (!dir.endsWith(UKI_ADDON_DIR_EXT)) return rel;
  const parent = path.posix.dirname(dir);
  const renamed = `${ARTIFACT_PREFIX}${verity}${UKI_EXT}.extra.d`;
  return parent === '.' ? `${renamed}/${name}` : `${parent}/${renamed}/${name}`;
}
