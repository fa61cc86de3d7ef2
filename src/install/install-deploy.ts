/**
 * Owns laying the first deployment onto a physical root (mounted, or a
 * staging directory that becomes the root filesystem) and its ESP, in the
 * order of bootc.md §5.3 with the boot entry moved last: the `composefs/`
 * repository (0700, sha512, insecure without fs-verity) and
 * `ostree/bootc -> ../composefs/bootc`, the pull of the source with the tag
 * `localhost/bootc-<manifest digest>`, systemd-boot from the image (or the
 * GRUB /boot layout), the Type1 kernel dir, the state dir (image /etc without
 * `.updated`, shared /var from the image, `var` link, origin last), and only
 * then the BLS entry. An interrupted install therefore leaves at most an
 * unreferenced kernel dir, never an entry without its deployment.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Repository } from '../composefs/repository/index.js';
import { pullOciImage } from '../composefs/oci/store.js';
import { tagImage } from '../composefs/oci/stored.js';
import { formatBls, type1Entry, ukiEntry, type BlsEntry, type EfiKey } from '../boot/bls.js';
import { efiKeyFor, readBootctlVersion } from '../boot/efi-key.js';
import type { BootPayload } from '../boot/entries.js';
import { confFileName, primarySortKey } from '../boot/entry-order.js';
import { osInfoFrom, parseOsRelease, peSection, readPeSections, type1BootDigest, ukiBootDigest, ukiBootLabel } from '../boot/pe.js';
import { copyImageTree, openImageContent, readBootPayload } from '../deploy/image-content.js';
import { writeDeploymentState } from '../deploy/stage.js';
import * as C from '../deploy/constants.js';
import type { Host } from '../sys/host.js';
import { crashPoint } from '../util/crash-point.js';
import type { Root } from '../sys/root.js';
import { libzstdDecompressor } from '../sys/zstd.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { installSystemdBoot, writeBootEntries } from './esp-bootloader.js';
import { runImageBootupctl } from './install-grub.js';
import { describeEsp, mkdirEsp, writeEspFile, type EspTarget } from './esp.js';
import { copyRepositoryContent } from './repo-copy.js';
import { realRepoSyscalls } from '../sys/repo-syscalls.js';
import { bootcTag, installCmdline, ROOT_SSH_TMPFILES, rootSshTmpfiles, type InstallStep } from './install-plan.js';
import { repoOptions, type SourceImage } from './install-source.js';

export interface DeployTarget {
  /** The physical root: `composefs/`, `state/`, `ostree/` (and `boot/` for GRUB) go here. */
  physRoot: Root;
  bootloader: 'systemd' | 'grub';
  /** The ESP (systemd-boot); written with mtools. */
  esp: EspTarget | undefined;
  /** root=…/rw/boot=… (the part of the cmdline that names the root). */
  rootKargs: string[];
  /** Try a repository with fs-verity (ext4, btrfs); falls back to insecure when the kernel refuses. */
  tryVerity: boolean;
  /** No fallback: the image's UKI names its root without `?` (bootc.md §5.1). */
  requireVerity?: boolean;
  /** Set file owners from the image (root only). */
  owners: boolean;
  /** Without `owners`: the owner each path should have (host path → uid, gid); everything else is root's. */
  ownerMap?: Map<string, [number, number]>;
}

export interface DeployOptions {
  cliKargs: readonly string[];
  disableSelinux: boolean;
  genericImage: boolean;
  /** GRUB: do not pass --write-uuid to bootupctl ([install.bootupd] skip-boot-uuid, --bootupd-skip-boot-uuid). */
  bootupdSkipBootUuid?: boolean;
  arch: string;
  imageReference: string;
  rootSshKeys: string | undefined;
  scratch: string;
  /** Called after each step (tests; the TSBOOTC_TEST_CRASH_AFTER hook). */
  after?: (step: InstallStep) => void | Promise<void>;
}

export interface DeployResult {
  verity: string;
  manifestDigest: string;
  insecure: boolean;
  entryName: string;
  entryText: string;
  bootDigest: string;
}

/** Creates the repository: secure when asked and possible, else insecure (bootc's allow_missing_verity). */
async function initRepository(host: Host, t: DeployTarget): Promise<Repository> {
  const dir = t.physRoot.resolve(C.COMPOSEFS_DIR);
  if (t.tryVerity) {
    try {
      return (await Repository.init(dir, repoOptions(host, false))).repo;
    } catch (err) {
      if ((err as { reason?: unknown }).reason !== 'verity-unsupported') throw err;
      if (t.requireVerity === true) throw new TsbootcError(`install: the image's UKI requires fs-verity (composefs= without '?'), and the kernel has no fs-verity on ${t.physRoot.prefix}`, { code: 'ERR_PRECONDITION' });
      host.log.info({ kind: 'message', message: `the target filesystem has no fs-verity here; the repository is insecure (composefs=?)` });
    }
  }
  return (await Repository.init(dir, repoOptions(host, true))).repo;
}

interface Pulled {
  repo: Repository;
  verity: string;
  manifestDigest: string;
  payload: { kind: 'type1'; vmlinuz: Buffer; initrd: Buffer } | { kind: 'uki'; uki: Buffer };
  bootDigest: string;
  content: Awaited<ReturnType<typeof openImageContent>>;
}

/**
 * Deploys `src` onto `t`; see the module comment for the order. With
 * `makeEsp` (unprivileged images) the root content is complete before the
 * disk exists: repository, pull, state, then `makeEsp()`, then the ESP side.
 */
export async function deployFirstImage(host: Host, src: SourceImage, t: DeployTarget, o: DeployOptions, makeEsp?: () => Promise<EspTarget | undefined>): Promise<DeployResult> {
  const after = async (s: InstallStep) => {
    host.log.debug({ kind: 'step', message: `install: ${s} done` });
    crashPoint(host, `install:after-${s}`);
    await o.after?.(s);
  };
  const repo = await withContext(`Creating the repository in ${t.physRoot.prefix}`, () => initRepository(host, t));
  try {
    const p = await pullInto(host, repo, src, t, after);
    let esp = t.esp;
    if (makeEsp !== undefined) {
      await writeState(host, src, t, o, p);
      await after('state');
      esp = await makeEsp();
    }
    if (t.bootloader === 'systemd') {
      if (esp === undefined) throw new TsbootcError('install: systemd-boot needs an ESP, and the target has none');
      const r = await installSystemdBoot(host, esp, { imageRoot: src.imageRoot, arch: o.arch, generic: o.genericImage });
      host.log.debug({ kind: 'step', message: `systemd-boot installed with ${r.method} on ${describeEsp(esp)}` });
    } else await runImageBootupctl(host, repo, p.verity, t.physRoot, { espDevice: esp !== undefined && 'device' in esp ? esp.device : undefined, generic: o.genericImage, skipBootUuid: o.bootupdSkipBootUuid ?? false, scratch: o.scratch });
    await after('bootloader');
    await writeKernel(host, src, t, esp, o, p);
    await after('kernel');
    if (makeEsp === undefined) {
      await writeState(host, src, t, o, p);
      await after('state');
    }
    // Barrier (decision 0011): the repository, state dir and kernel are on disk before an entry names them.
    await t.physRoot.syncFs('/');
    if (esp !== undefined) await syncEsp(host, esp);
    const r = await writeEntry(host, src, t, esp, o, p);
    if (esp !== undefined) await syncEsp(host, esp);
    await after('entries');
    return r;
  } finally {
    repo.close();
  }
}

/** fsync of the ESP's device or image file (`sync FILE`): mtools writes through the page cache and never syncs. */
async function syncEsp(host: Host, esp: EspTarget): Promise<void> {
  await withContext(`Syncing the ESP ${describeEsp(esp)}`, () => host.run.run(['sync', 'device' in esp ? esp.device : esp.file]));
}

async function pullInto(host: Host, repo: Repository, src: SourceImage, t: DeployTarget, after: (s: InstallStep) => Promise<void>): Promise<Pulled> {
  await t.physRoot.mkdirp('composefs/bootc');
  await t.physRoot.mkdirp('ostree');
  if ((await t.physRoot.tryLstat('ostree/bootc')) === undefined) await t.physRoot.symlink('../composefs/bootc', 'ostree/bootc');
  await after('repository');
  // Pull once: the scratch repository already holds the checked image; copy it, then the pull only resolves it.
  const copied = await copyRepositoryContent(src.scratchRepo, repo, realRepoSyscalls());
  host.log.debug({ kind: 'step', message: `copied ${copied.objects} objects (${copied.linked} linked, ${copied.bytes} bytes copied), ${copied.streams} streams, ${copied.images} images from the scratch repository` });
  const pulled = await pullOciImage(repo, src.store, { sourceRef: src.sourceRef, bootable: true, zstd: libzstdDecompressor });
  if (pulled.manifestDigest !== src.manifestDigest) throw new TsbootcError(`install: ${src.ref} changed while installing (${src.manifestDigest} → ${pulled.manifestDigest})`);
  const verity = pulled.bootImageId;
  if (verity === undefined) throw new TsbootcError(`install: no boot image was built for ${src.ref}`);
  if (verity !== src.verity) throw new TsbootcError(`install: the deployment id changed between the check and the install of ${src.ref} (${src.verity} → ${verity})`);
  await tagImage(repo, pulled.manifestDigest, bootcTag(pulled.manifestDigest));
  host.log.debug({ kind: 'step', message: `pulled ${src.ref} (${pulled.manifestDigest}) as deployment ${verity}` });
  await after('pull');
  const content = await openImageContent(repo, pulled.manifestDigest);
  if (src.boot.kind === 'uki') {
    const uki = src.uki!.bytes;
    return { repo, verity, manifestDigest: pulled.manifestDigest, payload: { kind: 'uki', uki }, bootDigest: ukiBootDigest(uki), content };
  }
  const payload = await readBootPayload(content, src.boot);
  return { repo, verity, manifestDigest: pulled.manifestDigest, payload: { kind: 'type1', ...payload }, bootDigest: type1BootDigest(payload.vmlinuz, payload.initrd), content };
}

async function writeKernel(host: Host, src: SourceImage, t: DeployTarget, esp: EspTarget | undefined, o: DeployOptions, p: Pulled): Promise<void> {
  const kdir = `${C.ARTIFACT_PREFIX}${p.verity}`;
  if (p.payload.kind === 'uki') {
    // bootc: EFI/Linux/bootc/bootc_composefs-<id>.efi, addons renamed into bootc_composefs-<id>.efi.extra.d/.
    const files = [{ espPath: `${kdir}${C.UKI_EXT}`, bytes: p.payload.uki }, ...src.uki!.addons];
    await mkdirEsp(host, esp!, [...new Set(files.map((f) => path.posix.dirname(`${C.BOOTC_UKI_DIR}/${f.espPath}`)))]);
    for (const f of files) await writeEspFile(host, esp!, `${C.BOOTC_UKI_DIR}/${f.espPath}`, f.bytes);
    return;
  }
  if (t.bootloader === 'systemd') {
    const tmp = path.join(o.scratch, 'kernel');
    await fs.mkdir(tmp, { recursive: true });
    await fs.writeFile(path.join(tmp, 'vmlinuz'), p.payload.vmlinuz);
    await fs.writeFile(path.join(tmp, 'initrd'), p.payload.initrd);
    await writeBootEntries(host, esp!, { kernels: [{ id: p.verity, vmlinuz: path.join(tmp, 'vmlinuz'), initrd: path.join(tmp, 'initrd') }], entries: [] });
    return;
  }
  await t.physRoot.mkdirp(`${C.SYSROOT_BOOT}/${kdir}`);
  await t.physRoot.writeAtomic(`${C.SYSROOT_BOOT}/${kdir}/${C.TYPE1_KERNEL}`, p.payload.vmlinuz);
  await t.physRoot.writeAtomic(`${C.SYSROOT_BOOT}/${kdir}/${C.TYPE1_INITRD}`, p.payload.initrd);
}

async function writeState(host: Host, src: SourceImage, t: DeployTarget, o: DeployOptions, p: Pulled): Promise<void> {
  const stateDir = C.stateDirOf(p.verity);
  await withContext(`Writing ${stateDir}`, async () => {
    const skipped = (what: string) => host.log.debug({ kind: 'message', message: `install: not copied: ${what}` });
    const onOwner = (p: string, uid: number, gid: number) => t.ownerMap?.set(p, [uid, gid]);
    await t.physRoot.remove(stateDir);
    await copyImageTree(p.content, '/etc', t.physRoot, `${stateDir}/etc`, { owners: t.owners, skipped, onOwner });
    await t.physRoot.mkdirp(`${stateDir}/etc`);
    await t.physRoot.remove(`${stateDir}/etc/.updated`);
    if (o.rootSshKeys !== undefined) {
      await t.physRoot.mkdirp(`${stateDir}/etc/tmpfiles.d`);
      await t.physRoot.writeAtomic(`${stateDir}/etc/${ROOT_SSH_TMPFILES}`, rootSshTmpfiles(o.rootSshKeys));
    }
    await copyImageTree(p.content, '/var', t.physRoot, C.STATE_OS_VAR, { owners: t.owners, skipped, onOwner });
    const payload: BootPayload = p.payload.kind === 'uki' ? p.payload : { kind: 'type1', vmlinuz: p.payload.vmlinuz, initrd: p.payload.initrd, osRelease: src.osRelease, options: '' };
    await writeDeploymentState(t.physRoot, { verity: p.verity, imageReference: o.imageReference, manifestDigest: p.manifestDigest, payload }, p.bootDigest);
  });
}

/** The UKI's entry (bootc write_systemd_uki_config): label and version from its .osrel, `efi`/`uki` key by the host's bootctl. */
function ukiEntryFor(uki: Buffer, verity: string, efiKey: EfiKey): { entry: BlsEntry; osId: string } {
  const osrel = parseOsRelease(peSection(readPeSections(uki), '.osrel')?.toString('utf8') ?? '');
  const osId = osrel.get('ID') ?? 'bootc';
  const efi = `/${C.BOOTC_UKI_DIR}/${C.ARTIFACT_PREFIX}${verity}${C.UKI_EXT}`;
  return { entry: ukiEntry({ title: ukiBootLabel(osrel), version: osrel.get('VERSION_ID') ?? verity, efi, efiKey, sortKey: primarySortKey(osId) }), osId };
}

async function writeEntry(host: Host, src: SourceImage, t: DeployTarget, esp: EspTarget | undefined, o: DeployOptions, p: Pulled): Promise<DeployResult> {
  const kdir = `${C.ARTIFACT_PREFIX}${p.verity}`;
  let entry: BlsEntry;
  let osId: string;
  if (p.payload.kind === 'uki') {
    const efiKey = efiKeyFor('systemd', await readBootctlVersion(host.run));
    ({ entry, osId } = ukiEntryFor(p.payload.uki, p.verity, efiKey));
  } else {
    const info = osInfoFrom(src.osRelease === undefined ? undefined : parseOsRelease(src.osRelease), p.verity);
    const options = installCmdline({ rootKargs: t.rootKargs, cliKargs: o.cliKargs, disableSelinux: o.disableSelinux, verity: p.verity, insecure: p.repo.insecure, imageKargs: src.imageKargs });
    const base = t.bootloader === 'grub' ? `/${C.SYSROOT_BOOT}/${kdir}` : `/${C.EFI_LINUX}/${kdir}`;
    entry = type1Entry({ title: info.title, version: info.version, linux: `${base}/${C.TYPE1_KERNEL}`, initrd: [`${base}/${C.TYPE1_INITRD}`], options, sortKey: primarySortKey(info.osId) });
    osId = info.osId;
  }
  const entryName = confFileName(osId, entry.version, C.PRIO_PRIMARY);
  const entryText = formatBls(entry);
  if (t.bootloader === 'systemd') await writeBootEntries(host, esp!, { kernels: [], entries: [{ name: entryName, text: entryText }] });
  else {
    await t.physRoot.mkdirp(`${C.SYSROOT_BOOT}/${C.ENTRIES_DIR}`);
    await t.physRoot.writeAtomic(`${C.SYSROOT_BOOT}/${C.ENTRIES_DIR}/${entryName}`, entryText);
  }
  return { verity: p.verity, manifestDigest: p.manifestDigest, insecure: p.repo.insecure, entryName, entryText, bootDigest: p.bootDigest };
}
