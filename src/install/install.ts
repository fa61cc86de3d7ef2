/**
 * Owns `install to-disk` and `install to-filesystem` end to end (bootc.md
 * §5): check the source image first (nothing is written on bad input), then
 * prepare the disk (disk.ts), mount the root (root) or stage it in a
 * directory that mkfs.ext4 -d turns into the root filesystem (non-root
 * --via-loopback), deploy the image (install-deploy.ts), and finalize the
 * filesystem (install-target.ts). The ESP is written with mtools.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs/promises';
import type { Host } from '../sys/host.js';
import { mount, umount } from '../sys/libc.js';
import { Root } from '../sys/root.js';
import { TsbootcError, UsageError, withContext } from '../util/errors.js';
import { crashPoint } from '../util/crash-point.js';
import { prepareDisk, withPreparedDisk, type PreparedDisk } from './disk.js';
import { resolveIds } from './disk-layout.js';
import { parseRootFilesystem, TargetRefusedError } from './disk-checks.js';
import { deployFirstImage, type DeployResult, type DeployTarget } from './install-deploy.js';
import { finalizeFilesystem, findColocatedEsp, probeFilesystem } from './install-target.js';
import { EFI_ARCH, SYSTEMD_BOOT_EFI_DIR } from './esp-bootloader.js';
import { fixStagedOwners } from './staged-owners.js';
import {
  chooseBootloader,
  chooseFilesystem,
  filesystemRootKargs,
  originImageReference,
  requireSource,
  targetImageRef,
  useDiscoverablePartitions,
  type InstallCommonOptions,
  type InstallStep,
  type ToDiskOptions,
  type ToFilesystemOptions,
} from './install-plan.js';
import { inspectSource, withScratch, type SourceImage } from './install-source.js';
import { rootKargs, supportsFsverity } from './partition.js';

export type { ToDiskOptions, ToFilesystemOptions } from './install-plan.js';

/** Env var that makes install stop with an error right after a named step (crash tests). */
export const CRASH_ENV = 'TSBOOTC_TEST_CRASH_AFTER';

export interface InstallResult extends DeployResult {
  filesystem: string;
  bootloader: 'systemd' | 'grub';
  rootUuid: string | undefined;
  durationMs: number;
}

function crashHook(host: Host): (s: InstallStep) => void {
  const at = host.env[CRASH_ENV];
  return (s) => {
    crashPoint(host, `install:after-${s}`);
    if (at === s) throw new TsbootcError(`simulated crash after step ${s} (${CRASH_ENV})`);
  };
}

async function readKeys(host: Host, o: InstallCommonOptions): Promise<string | undefined> {
  if (o.rootSshAuthorizedKeys === undefined) return undefined;
  return withContext(`Reading ${o.rootSshAuthorizedKeys}`, () => fs.readFile(path.resolve(o.rootSshAuthorizedKeys!), 'utf8'));
}

function checkCommon(verb: string, o: InstallCommonOptions): void {
  if ((o.ukiAddons?.length ?? 0) > 0) throw new UsageError(`install ${verb}: --uki-addon needs an image with a UKI; tsbootc installs Type1 kernels only so far`);
}

function deployOptions(host: Host, o: InstallCommonOptions, src: SourceImage, scratch: string, keys: string | undefined) {
  return {
    cliKargs: o.kargs ?? [],
    disableSelinux: o.disableSelinux ?? false,
    genericImage: o.genericImage ?? false,
    bootupdSkipBootUuid: o.bootupdSkipBootUuid ?? src.installConfig?.bootupd?.['skip-boot-uuid'] ?? false,
    arch: o.arch,
    imageReference: originImageReference(targetImageRef(src.ref, o)),
    rootSshKeys: keys,
    scratch,
    after: crashHook(host),
  };
}

/** systemd-boot needs its EFI binary in the image; GRUB the image's bootupctl and mounts. Refused before anything is written. */
async function checkBootloader(host: Host, src: SourceImage, bl: 'systemd' | 'grub', staged: boolean, arch: string): Promise<void> {
  if (bl === 'systemd') {
    const binary = `${SYSTEMD_BOOT_EFI_DIR}/systemd-boot${EFI_ARCH[arch] ?? arch}.efi`;
    if (!(await src.imageRoot.exists(binary))) throw new UsageError(`install: systemd-boot is installed from the image, and ${src.ref} has no ${binary} (install systemd-boot-efi in the image, or use --bootloader grub with bootupd)`);
    return;
  }
  if (!src.hasBootupctl) throw new UsageError(`install: --bootloader grub needs bootupctl in the image, and ${src.ref} has none at /usr/bin/bootupctl (use --bootloader systemd)`);
  if (staged || !host.isRoot) throw new UsageError(`install: --bootloader grub runs the image's bootupctl in the mounted image, which needs root (${src.ref})`);
}

async function withMountedRoot<T>(host: Host, d: PreparedDisk, scratch: string, fn: (mnt: string) => Promise<T>): Promise<T> {
  if (!('device' in d.root)) throw new TsbootcError(`install to-disk: the root of ${d.disk} is not a device`);
  const mnt = path.join(scratch, 'rootfs');
  await fs.mkdir(mnt, { recursive: true });
  host.log.debug({ kind: 'mount', source: d.root.device, target: mnt, fstype: d.filesystem });
  mount(d.root.device, mnt, d.filesystem, 0, null);
  try {
    return await fn(mnt);
  } finally {
    umount(mnt);
  }
}

/** `install to-disk`: partition, format, deploy, finalize. */
export async function installToDisk(host: Host, o: ToDiskOptions): Promise<InstallResult> {
  const started = host.now().getTime();
  const source = requireSource('to-disk', o.sourceImgref);
  checkCommon('to-disk', o);
  if (o.filesystem !== undefined) parseRootFilesystem(o.filesystem, o.device);
  const keys = await readKeys(host, o);
  const viaLoopback = o.viaLoopback ?? false;
  const parent = o.workDir ?? (viaLoopback ? path.dirname(path.resolve(o.device)) : os.tmpdir());
  // Cheap refusal before the (slow) source check; the disk layer checks everything again before writing.
  const st = await fs.stat(viaLoopback ? o.device : host.root.resolve(o.device)).catch(() => undefined);
  if (st === undefined && o.createSizeBytes === undefined) throw new TargetRefusedError(`${o.device} does not exist`);
  return withScratch(parent, async (scratch) => {
    const src = await inspectSource(host, source, scratch, o.arch);
    try {
      const fsType = chooseFilesystem(o.filesystem, src.installConfig, o.device);
      const bl = chooseBootloader(o.bootloader, src.installConfig, src.hasBootupctl);
      await checkBootloader(host, src, bl.bootloader, viaLoopback && (o.imageMethod ?? (host.isRoot ? 'loop' : 'offsets')) === 'offsets', o.arch);
      const ids = resolveIds(o.ids);
      const dps = useDiscoverablePartitions(src.installConfig, bl);
      const target = (physRoot: Root, d: { esp: PreparedDisk['esp'] }): DeployTarget => ({
        physRoot,
        bootloader: bl.bootloader,
        esp: d.esp,
        rootKargs: rootKargs({ discoverable: dps, rootUuid: ids.rootUuid, cliKargs: [] }),
        tryVerity: supportsFsverity(fsType) && o.allowMissingVerity !== true,
        owners: host.isRoot,
      });
      const diskOpts = {
        device: o.device,
        viaLoopback,
        wipe: o.wipe ?? false,
        filesystem: fsType,
        blockSetup: o.blockSetup ?? src.installConfig?.block?.[0] ?? 'direct',
        arch: o.arch,
        ids,
        ...(o.rootSizeMiB !== undefined ? { rootSizeMiB: o.rootSizeMiB } : {}),
        ...(o.imageMethod !== undefined ? { imageMethod: o.imageMethod } : {}),
        ...(o.createSizeBytes !== undefined ? { createSizeBytes: o.createSizeBytes } : {}),
      };
      const method = viaLoopback ? (o.imageMethod ?? (host.isRoot ? 'loop' : 'offsets')) : 'device';
      let result: DeployResult;
      if (method === 'offsets') {
        // No mounts: stage the root in a directory, then mkfs.ext4 -d writes it into the image.
        if (fsType !== 'ext4') throw new UsageError(`install to-disk: without root, only ext4 can be populated (${o.device}); run as root for ${fsType}`);
        const staged = new Root(path.join(scratch, 'staged-root'));
        await staged.mkdirp('/');
        const ownerMap = new Map<string, [number, number]>();
        const t = { ...target(staged, { esp: undefined }), owners: false, ownerMap, tryVerity: false };
        result = await deployFirstImage(host, src, t, deployOptions(host, o, src, scratch, keys), async () => {
          const d = await prepareDisk(host, { ...diskOpts, rootSource: staged.prefix });
          if (!('file' in d.root)) throw new TsbootcError(`install to-disk: the root of ${d.disk} is not a file range`);
          await fixStagedOwners(host, d.root.file, d.root.offset, staged.prefix, ownerMap);
          crashPoint(host, 'install:after-disk');
          return d.esp;
        });
      } else {
        result = await withPreparedDisk(host, diskOpts, (d) =>
          withMountedRoot(host, d, scratch, async (mnt) => {
            const r = await deployFirstImage(host, src, target(new Root(mnt), d), deployOptions(host, o, src, scratch, keys));
            await finalizeFilesystem(host, mnt, fsType);
            return r;
          }),
        );
      }
      return { ...result, filesystem: fsType, bootloader: bl.bootloader, rootUuid: ids.rootUuid, durationMs: host.now().getTime() - started };
    } finally {
      src.scratchRepo.close();
    }
  });
}

/** `install to-filesystem`: deploy into an already mounted, empty root. */
export async function installToFilesystem(host: Host, o: ToFilesystemOptions): Promise<InstallResult> {
  const started = host.now().getTime();
  const source = requireSource('to-filesystem', o.sourceImgref);
  checkCommon('to-filesystem', o);
  const rootPath = path.resolve(o.rootPath);
  const keys = await readKeys(host, o);
  const probe = await probeFilesystem(host, rootPath);
  const existing = (await fs.readdir(rootPath)).filter((n) => n !== 'lost+found' && n !== 'boot');
  if (existing.length > 0 && o.replace !== 'wipe' && o.replace !== 'alongside') {
    throw new TsbootcError(`install to-filesystem: ${rootPath} is not empty (found ${existing.slice(0, 5).join(', ')}); pass --replace wipe or --replace alongside`, { code: 'ERR_PRECONDITION' });
  }
  if (o.replace === 'wipe' && o.acknowledgeDestructive !== true && existing.length > 0) {
    throw new UsageError(`install to-filesystem: --replace wipe removes everything in ${rootPath}; pass --acknowledge-destructive`);
  }
  return withScratch(o.workDir ?? os.tmpdir(), async (scratch) => {
    const src = await inspectSource(host, source, scratch, o.arch);
    try {
      const bl = chooseBootloader(o.bootloader, src.installConfig, src.hasBootupctl);
      await checkBootloader(host, src, bl.bootloader, false, o.arch);
      const esp = bl.bootloader === 'systemd' ? await findColocatedEsp(host, probe.device, rootPath) : undefined;
      if (o.replace === 'wipe') for (const n of existing) await fs.rm(path.join(rootPath, n), { recursive: true, force: true });
      const rootSpec = o.rootMountSpec ?? src.installConfig?.['root-mount-spec'];
      const t: DeployTarget = {
        physRoot: new Root(rootPath),
        bootloader: bl.bootloader,
        esp,
        rootKargs: filesystemRootKargs({ rootMountSpec: rootSpec, fsUuid: probe.uuid, bootSource: o.bootMountSpec }),
        tryVerity: supportsFsverity(probe.fstype as 'ext4') && o.allowMissingVerity !== true,
        owners: host.isRoot,
      };
      const r = await deployFirstImage(host, src, t, deployOptions(host, o, src, scratch, keys));
      if (o.skipFinalize !== true && o.replace !== 'alongside') await finalizeFilesystem(host, rootPath, probe.fstype);
      return { ...r, filesystem: probe.fstype, bootloader: bl.bootloader, rootUuid: probe.uuid, durationMs: host.now().getTime() - started };
    } finally {
      src.scratchRepo.close();
    }
  });
}
