/**
 * Owns the `install` verbs' flag handling: to-disk, to-filesystem, finalize,
 * ensure-completion and print-configuration. The logic lives in src/install;
 * this maps yargs arguments to its options and prints one summary line.
 */
import { loadInstallConfig, printableInstallConfig, type BootloaderName } from '../../install/config.js';
import { EXISTING_ROOT_DEFAULT, installToDisk, installToExistingRoot, installToFilesystem, type InstallResult } from '../../install/install.js';
import type { InstallCommonOptions } from '../../install/install-plan.js';
import { installFinalize, probeFilesystem } from '../../install/install-target.js';
import { parseSizeMiB } from '../../install/partition.js';
import { rustArch } from '../../boot/kargs-d.js';
import { UsageError } from '../../util/errors.js';
import type { Args } from '../parse.js';
import { bool, str, strs, type Context, type HandlerTable } from '../context.js';
import { renderJson } from '../output.js';

/** Flags bootc accepts that the composefs backend ignores (as bootc does), with a warning. */
function warnIgnored(ctx: Context, args: Args): void {
  if (strs(args, 'karg-delete').length > 0) ctx.out.warn('warning: --karg-delete is ignored with the composefs backend (as in bootc)');
  if (str(args, 'stateroot') !== undefined) ctx.out.warn('warning: --stateroot is ignored with the composefs backend (the state path is always os/default)');
  if (bool(args, 'run-fetch-check')) ctx.out.warn('warning: --run-fetch-check is not implemented; the target image is not checked');
}

function commonOptions(ctx: Context, args: Args): InstallCommonOptions {
  warnIgnored(ctx, args);
  return {
    sourceImgref: str(args, 'source-imgref'),
    targetImgref: str(args, 'target-imgref'),
    targetTransport: str(args, 'target-transport'),
    enforceContainerSigpolicy: bool(args, 'enforce-container-sigpolicy'),
    kargs: strs(args, 'karg'),
    disableSelinux: bool(args, 'disable-selinux'),
    rootSshAuthorizedKeys: str(args, 'root-ssh-authorized-keys'),
    genericImage: bool(args, 'generic-image') || bool(args, 'via-loopback'),
    bootupdSkipBootUuid: bool(args, 'bootupd-skip-boot-uuid') || undefined,
    bootloader: str(args, 'bootloader') as BootloaderName | undefined,
    allowMissingVerity: bool(args, 'allow-missing-verity'),
    ukiAddons: strs(args, 'uki-addon'),
    arch: rustArch(process.arch),
  };
}

function summary(ctx: Context, r: InstallResult, where: string): void {
  const verity = r.insecure ? ' (no fs-verity: composefs=?)' : '';
  ctx.out.write(`Installed ${r.manifestDigest} to ${where}: deployment ${r.verity}, ${r.filesystem}, ${r.bootloader}${verity}, in ${(r.durationMs / 1000).toFixed(1)}s\n`);
}

export const installHandlers: HandlerTable = {
  'install print-configuration': async (ctx, args) => {
    const config = await loadInstallConfig(ctx.host.root, rustArch(process.arch));
    ctx.out.write(renderJson(printableInstallConfig(config, bool(args, 'all'))));
    return 0;
  },
  'install to-disk': async (ctx, args) => {
    const device = str(args, 'device') ?? '';
    const size = str(args, 'root-size');
    const r = await installToDisk(ctx.host, {
      ...commonOptions(ctx, args),
      device,
      viaLoopback: bool(args, 'via-loopback'),
      wipe: bool(args, 'wipe'),
      filesystem: str(args, 'filesystem'),
      blockSetup: (str(args, 'block-setup') ?? 'direct') as 'direct' | 'tpm2-luks',
      ...(size !== undefined ? { rootSizeMiB: parseSizeMiB(size) } : {}),
    });
    summary(ctx, r, device);
    return 0;
  },
  'install to-filesystem': async (ctx, args) => {
    const rootPath = str(args, 'root-path') ?? '';
    const replace = str(args, 'replace');
    if (replace !== undefined && replace !== 'wipe' && replace !== 'alongside') throw new UsageError(`install to-filesystem: unknown --replace ${replace}`);
    const r = await installToFilesystem(ctx.host, {
      ...commonOptions(ctx, args),
      rootPath,
      rootMountSpec: str(args, 'root-mount-spec'),
      bootMountSpec: str(args, 'boot-mount-spec'),
      replace: replace as 'wipe' | 'alongside' | undefined,
      acknowledgeDestructive: bool(args, 'acknowledge-destructive'),
      skipFinalize: bool(args, 'skip-finalize'),
    });
    summary(ctx, r, rootPath);
    return 0;
  },
  'install to-existing-root': async (ctx, args) => {
    const rootPath = str(args, 'root-path') ?? EXISTING_ROOT_DEFAULT;
    const replace = str(args, 'replace') ?? 'alongside';
    if (replace !== 'wipe' && replace !== 'alongside') throw new UsageError(`install to-existing-root: unknown --replace ${replace}`);
    const r = await installToExistingRoot(ctx.host, {
      ...commonOptions(ctx, args),
      rootPath,
      replace,
      acknowledgeDestructive: bool(args, 'acknowledge-destructive'),
      cleanup: bool(args, 'cleanup'),
    });
    summary(ctx, r, rootPath);
    return 0;
  },
  'install finalize': async (ctx, args) => {
    const rootPath = str(args, 'root-path') ?? '';
    const fs = await probeFilesystem(ctx.host, rootPath);
    await installFinalize(ctx.host, rootPath, fs.fstype);
    return 0;
  },
  'install ensure-completion': async (ctx) => {
    // bootc completes logically bound images and the aleph file here; neither exists on the composefs backend.
    ctx.host.log.info({ kind: 'message', message: 'install ensure-completion: nothing to complete on the composefs backend' });
    return 0;
  },
};
