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
import { crashPoint } from '../util/crash-point.js';
import { TsbootcError, UsageError, withContext } from '../util/errors.js';
import { prepareDisk, withPreparedDisk, type PreparedDisk } from './disk.js';
import { resolveIds } from './disk-layout.js';
import { parseRootFilesystem, requiredSizeMiB, TargetRefusedError } from './disk-checks.js';
import { estimateInstallBytes, freeBytes, spaceError, usableBytes, usedBytes } from './space.js';
import { listBlockDevice, readMountinfo } from '../sys/blockdev.js';
import { setTimeout as sleep } from 'node:timers/promises';
import * as C from '../deploy/constants.js';
import type { Filesystem } from './config.js';

const MiB = 1024 * 1024;
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
  type ToExistingRootOptions,
  type ToFilesystemOptions,
} from './install-plan.js';
import { inspectSource, type SourceImage } from './install-source.js';
import { withScratch } from './scratch.js';
import { rootKargs, supportsFsverity } from './partition.js';

export type { ToDiskOptions, ToExistingRootOptions, ToFilesystemOptions } from './install-plan.js';

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
    if (at === s) throw new TsbootcError(`simulated crash after step ${s} (${CRASH_ENV})`);
  };
}

async function readKeys(host: Host, o: InstallCommonOptions): Promise<string | undefined> {
  if (o.rootSshAuthorizedKeys === undefined) return undefined;
  return withContext(`Reading ${o.rootSshAuthorizedKeys}`, () => fs.readFile(path.resolve(o.rootSshAuthorizedKeys!), 'utf8'));
}

/** What inspectSource checks of a UKI image against the flags. */
function ukiChecks(o: InstallCommonOptions) {
  return { addons: o.ukiAddons ?? [], kargs: o.kargs ?? [] };
}

/**
 * fs-verity of the target: a UKI decides it (its `composefs=` without `?`
 * needs a filesystem with fs-verity, bootc.md §5.1); else ext4/btrfs try it
 * unless --allow-missing-verity.
 */
function verityChoice(src: SourceImage, fsType: string, o: InstallCommonOptions, target: string): { tryVerity: boolean; requireVerity: boolean } {
  const capable = supportsFsverity(fsType as 'ext4');
  if (src.uki === undefined) return { tryVerity: capable && o.allowMissingVerity !== true, requireVerity: false };
  if (src.uki.insecure) return { tryVerity: false, requireVerity: false };
  if (!capable) throw new UsageError(`install: the UKI of ${src.ref} requires fs-verity (composefs= without '?'), and ${fsType} on ${target} has none (use ext4 or btrfs)`);
  return { tryVerity: true, requireVerity: true };
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
  if (src.uki !== undefined && bl !== 'systemd') throw new UsageError(`install: ${src.ref} boots a UKI; tsbootc installs UKIs with systemd-boot only (GRUB's user.cfg chainloading is not implemented): use --bootloader systemd`);
  if (bl === 'systemd') {
    const binary = `${SYSTEMD_BOOT_EFI_DIR}/systemd-boot${EFI_ARCH[arch] ?? arch}.efi`;
    if (!(await src.imageRoot.exists(binary))) throw new UsageError(`install: systemd-boot is installed from the image, and ${src.ref} has no ${binary} (install systemd-boot-efi in the image, or use --bootloader grub with bootupd)`);
    return;
  }
  if (!src.hasBootupctl) throw new UsageError(`install: --bootloader grub needs bootupctl in the image, and ${src.ref} has none at /usr/bin/bootupctl (use --bootloader systemd)`);
  if (staged || !host.isRoot) throw new UsageError(`install: --bootloader grub runs the image's bootupctl in the mounted image, which needs root (${src.ref})`);
}

/** to-disk: refuses (before anything is written) an image that will not fit the root partition planned. */
async function checkDiskSpace(host: Host, o: ToDiskOptions, src: SourceImage, fsType: Filesystem, kernelOnRoot: boolean, fileSize: number | undefined): Promise<void> {
  const blockSetup = o.blockSetup ?? src.installConfig?.block?.[0] ?? 'direct';
  let diskBytes = o.viaLoopback === true ? (fileSize ?? o.createSizeBytes ?? 0) : undefined;
  if (diskBytes === undefined) {
    try {
      diskBytes = (await listBlockDevice(host, o.device)).size;
    } catch {
      return; // not a block device: the disk checks refuse it with their own message
    }
  }
  const rootBytes = o.rootSizeMiB !== undefined ? o.rootSizeMiB * MiB : diskBytes - requiredSizeMiB({ arch: o.arch, blockSetup, rootSizeMiB: 0 }) * MiB;
  if (rootBytes <= 0) return; // too small for the partitions at all: the disk checks say so
  const need = await estimateInstallBytes(src, kernelOnRoot);
  const usable = usableBytes(fsType, rootBytes);
  if (need.total > usable) {
    const what = `the root partition (${rootBytes} bytes${o.rootSizeMiB !== undefined ? ', --root-size' : ''}, ${fsType}) will hold about`;
    throw spaceError('to-disk', o.device, need, usable, what, o.rootSizeMiB !== undefined ? 'pass a larger --root-size' : 'use a larger disk');
  }
  host.log.debug({ kind: 'message', message: `install: the image needs about ${need.total} bytes; the root partition will hold about ${usable}` });
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
  if (o.filesystem !== undefined) parseRootFilesystem(o.filesystem, o.device);
  // Refused before the source check too (the disk layer refuses it again, e.g. from the install config's `block`).
  if (o.blockSetup === 'tpm2-luks') throw new UsageError(`install to-disk: --block-setup tpm2-luks is not supported yet (${o.device})`);
  const keys = await readKeys(host, o);
  const viaLoopback = o.viaLoopback ?? false;
  const parent = o.workDir ?? (viaLoopback ? path.dirname(path.resolve(o.device)) : os.tmpdir());
  // Cheap refusal before the (slow) source check; the disk layer checks everything again before writing.
  const st = await fs.stat(viaLoopback ? o.device : host.root.resolve(o.device)).catch(() => undefined);
  if (st === undefined && o.createSizeBytes === undefined) throw new TargetRefusedError(`${o.device} does not exist`);
  return withScratch(host, parent, async ({ dir: scratch, recordLoop }) => {
    const src = await inspectSource(host, source, scratch, o.arch, ukiChecks(o));
    try {
      const fsType = chooseFilesystem(o.filesystem, src.installConfig, o.device);
      const bl = chooseBootloader(o.bootloader, src.installConfig, src.hasBootupctl);
      await checkBootloader(host, src, bl.bootloader, viaLoopback && (o.imageMethod ?? (host.isRoot ? 'loop' : 'offsets')) === 'offsets', o.arch);
      await checkDiskSpace(host, o, src, fsType, bl.bootloader === 'grub', st?.size);
      const ids = resolveIds(o.ids);
      const dps = useDiscoverablePartitions(src.installConfig, bl);
      const target = (physRoot: Root, d: { esp: PreparedDisk['esp'] }): DeployTarget => ({
        physRoot,
        bootloader: bl.bootloader,
        esp: d.esp,
        rootKargs: rootKargs({ discoverable: dps, rootUuid: ids.rootUuid, cliKargs: [] }),
        ...verityChoice(src, fsType, o, o.device),
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
        onLoopAttached: (loop: string) => recordLoop(loop, o.device),
      };
      const method = viaLoopback ? (o.imageMethod ?? (host.isRoot ? 'loop' : 'offsets')) : 'device';
      let result: DeployResult;
      if (method === 'offsets') {
        // No mounts: stage the root in a directory, then mkfs.ext4 -d writes it into the image.
        if (fsType !== 'ext4') throw new UsageError(`install to-disk: without root, only ext4 can be populated (${o.device}); run as root for ${fsType}`);
        const staged = new Root(path.join(scratch, 'staged-root'));
        await staged.mkdirp('/');
        const ownerMap = new Map<string, [number, number]>();
        if (src.uki !== undefined && !src.uki.insecure) throw new UsageError(`install to-disk: the UKI of ${src.ref} requires fs-verity, which an image written without root cannot have (${o.device}); run as root`);
        const t = { ...target(staged, { esp: undefined }), owners: false, ownerMap, tryVerity: false };
        result = await deployFirstImage(host, src, t, deployOptions(host, o, src, scratch, keys), async () => {
          const d = await prepareDisk(host, { ...diskOpts, rootSource: staged.prefix });
          crashPoint(host, 'install:after-disk');
          if (!('file' in d.root)) throw new TsbootcError(`install to-disk: the root of ${d.disk} is not a file range`);
          await fixStagedOwners(host, d.root.file, d.root.offset, staged.prefix, ownerMap);
          return d.esp;
        });
      } else {
        result = await withPreparedDisk(host, diskOpts, (d) => {
          crashPoint(host, 'install:after-disk');
          return withMountedRoot(host, d, scratch, async (mnt) => {
            const r = await deployFirstImage(host, src, target(new Root(mnt), d), deployOptions(host, o, src, scratch, keys));
            await finalizeFilesystem(host, mnt, fsType);
            return r;
          });
        });
      }
      return { ...result, filesystem: fsType, bootloader: bl.bootloader, rootUuid: ids.rootUuid, durationMs: host.now().getTime() - started };
    } finally {
      src.scratchRepo.close();
    }
  });
}

/** `install to-filesystem`: deploy into an already mounted, empty root. */
export async function installToFilesystem(host: Host, o: ToFilesystemOptions): Promise<InstallResult> {
  return installIntoMountedRoot(host, 'to-filesystem', o, { finalize: o.skipFinalize !== true && o.replace !== 'alongside', cleanup: false });
}

/**
 * `install to-existing-root`: deploy alongside (default) the system whose root
 * is mounted at ROOT_PATH, using its ESP; nothing of it is touched (with
 * --cleanup, the stamp `etc/bootc-destructive-cleanup` asks bootc's generator
 * to remove it on the first boot). Without --acknowledge-destructive bootc
 * warns and waits 20 s; so does tsbootc.
 */
export async function installToExistingRoot(host: Host, o: ToExistingRootOptions): Promise<InstallResult> {
  const rootPath = path.resolve(o.rootPath ?? EXISTING_ROOT_DEFAULT);
  const replace = o.replace ?? 'alongside';
  requireSource('to-existing-root', o.sourceImgref);
  await probeFilesystem(host, rootPath, 'to-existing-root'); // refuse a bad ROOT_PATH before the wait
  if (o.acknowledgeDestructive !== true) {
    host.log.warn({ kind: 'warning', message: `install to-existing-root: this installs a new system into ${rootPath}${replace === 'wipe' ? ', wiping what is there' : ''} and replaces its bootloader; continuing in ${ACK_WAIT_MS / 1000} s (pass --acknowledge-destructive to skip this wait)` });
    await sleep(ACK_WAIT_MS);
  }
  return installIntoMountedRoot(host, 'to-existing-root', { ...o, rootPath, replace, acknowledgeDestructive: true }, { finalize: false, cleanup: o.cleanup === true });
}

export const EXISTING_ROOT_DEFAULT = '/target';
const ACK_WAIT_MS = 20_000;
/** bootc's stamp for bootc-destructive-cleanup.service (install.rs DESTRUCTIVE_CLEANUP), on the physical root. */
export const DESTRUCTIVE_CLEANUP_STAMP = 'etc/bootc-destructive-cleanup';

/** rootflags= and rd.* of the running system, and its root= (bootc inherits them for to-existing-root, §3.3). */
function inheritedKargs(cmdline: string): { root: string | undefined; rest: string[] } {
  const args = cmdline.trim().split(/\s+/).filter((a) => a !== '');
  const root = args.find((a) => a.startsWith('root='))?.slice('root='.length);
  return { root, rest: args.filter((a) => a.startsWith('rootflags=') || a.startsWith('rd.')) };
}

async function installIntoMountedRoot(host: Host, verb: 'to-filesystem' | 'to-existing-root', o: ToFilesystemOptions, how: { finalize: boolean; cleanup: boolean }): Promise<InstallResult> {
  const started = host.now().getTime();
  const source = requireSource(verb, o.sourceImgref);
  const rootPath = path.resolve(o.rootPath);
  const keys = await readKeys(host, o);
  const probe = await probeFilesystem(host, rootPath, verb);
  const mounts = await readMountinfo(host.root);
  const mountedBelow = new Set(mounts.map((m) => path.resolve(m.mountPoint)).filter((m) => path.dirname(m) === rootPath).map((m) => path.basename(m)));
  const existing = (await fs.readdir(rootPath)).filter((n) => n !== 'lost+found' && n !== 'boot' && !mountedBelow.has(n));
  if (existing.length > 0 && o.replace !== 'wipe' && o.replace !== 'alongside') {
    throw new TsbootcError(`install ${verb}: ${rootPath} is not empty (found ${existing.slice(0, 5).join(', ')}); pass --replace wipe or --replace alongside`, { code: 'ERR_PRECONDITION' });
  }
  if (o.replace === 'wipe' && o.acknowledgeDestructive !== true && existing.length > 0) {
    throw new UsageError(`install ${verb}: --replace wipe removes everything in ${rootPath}; pass --acknowledge-destructive`);
  }
  const running = mounts.find((m) => m.mountPoint === '/');
  const isRunningRoot = running !== undefined && running.source === probe.device;
  if (o.replace === 'wipe' && isRunningRoot) {
    throw new UsageError(`install ${verb}: --replace wipe would delete the running system (${rootPath} is ${probe.device}, mounted on /); use --replace alongside`);
  }
  return withScratch(host, o.workDir ?? os.tmpdir(), async ({ dir: scratch }) => {
    const src = await inspectSource(host, source, scratch, o.arch, ukiChecks(o));
    try {
      const bl = chooseBootloader(o.bootloader, src.installConfig, src.hasBootupctl);
      await checkBootloader(host, src, bl.bootloader, false, o.arch);
      const esp = bl.bootloader === 'systemd' ? await findColocatedEsp(host, probe.device, rootPath) : undefined;
      const espMount = esp !== undefined && 'device' in esp ? mounts.find((m) => m.source === esp.device) : undefined;
      if (espMount !== undefined) {
        // mtools writes the device, not through the mount: run `sync` first and do not write the ESP from elsewhere meanwhile.
        host.log.warn({ kind: 'warning', message: `install ${verb}: the ESP ${espMount.source} is mounted on ${espMount.mountPoint}; it is written on the device with mtools, beside that mount` });
        await host.run.run(['sync', '-f', espMount.mountPoint], { allowFailure: true });
      }
      const need = await estimateInstallBytes(src, bl.bootloader === 'grub');
      let available = await freeBytes(rootPath);
      if (o.replace === 'wipe') for (const n of existing) available += await usedBytes(path.join(rootPath, n));
      if (need.total > available) throw spaceError(verb, `${rootPath} (${probe.device})`, need, available, o.replace === 'wipe' ? 'after the wipe it will have about' : 'it has', 'free some space or use a larger filesystem');
      if (o.replace === 'wipe') for (const n of existing) await fs.rm(path.join(rootPath, n), { recursive: true, force: true });
      const inherited = verb === 'to-existing-root' && isRunningRoot ? inheritedKargs((await host.root.tryReadText(C.PROC_CMDLINE)) ?? '') : { root: undefined, rest: [] };
      const rootSpec = o.rootMountSpec ?? src.installConfig?.['root-mount-spec'] ?? inherited.root;
      const t: DeployTarget = {
        physRoot: new Root(rootPath),
        bootloader: bl.bootloader,
        esp,
        rootKargs: [...filesystemRootKargs({ rootMountSpec: rootSpec, fsUuid: probe.uuid, bootSource: o.bootMountSpec }), ...inherited.rest],
        ...verityChoice(src, probe.fstype, o, rootPath),
        owners: host.isRoot,
      };
      const r = await deployFirstImage(host, src, t, deployOptions(host, o, src, scratch, keys));
      if (how.cleanup) await t.physRoot.writeAtomic(DESTRUCTIVE_CLEANUP_STAMP, '');
      if (how.finalize) await finalizeFilesystem(host, rootPath, probe.fstype);
      return { ...r, filesystem: probe.fstype, bootloader: bl.bootloader, rootUuid: probe.uuid, durationMs: host.now().getTime() - started };
    } finally {
      src.scratchRepo.close();
    }
  });
}
