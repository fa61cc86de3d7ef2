/**
 * Owns soft reboots into a composefs deployment (bootc.md §6.7, bootc
 * `soft_reboot.rs`): the checks (systemd ships soft-reboot.target, not the
 * booted id, a known deployment, `softRebootCapable` in status, `required`
 * fails otherwise), preparing `/run/nextroot` as the initramfs would build
 * the root (the deployment's EROFS + overlay over the repository objects,
 * read-only; `/sysroot` bound read-only, the state dir's /etc and /var
 * bound) and `--reset` (detach /run/nextroot). Running `systemctl
 * soft-reboot` is the caller's (cli) business, as is rebooting.
 *
 * Under `--root DIR` every path is DIR's: the mounts land on DIR/run/nextroot
 * (which needs root), and nothing outside DIR is mounted. Every mount goes
 * through the MountPort, so tests can record them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, overlayPathOption, type MountPort } from '../sys/mount-port.js';
import type { Root } from '../sys/root.js';
import { TsbootcError, withContext } from '../util/errors.js';
import type { BootState } from './boot-state.js';
import type { BootEntry } from './host-spec.js';
import type { RepoAccess } from './repo-access.js';
import { armFinalizeUnit } from './stage-image.js';
import { hostOfBootState } from './status.js';
import { RUN_TSBOOTC } from './usr-overlay.js';
import * as C from './constants.js';

export type SoftRebootMode = 'required' | 'auto';
export const SOFT_REBOOT_MODES: readonly SoftRebootMode[] = ['required', 'auto'];

/** Where the next root is assembled (host path); systemd switches into it on soft-reboot. */
export const NEXTROOT = '/run/nextroot';
/** bootc's (ostree-ext's) test for soft-reboot support (host path). */
export const SOFT_REBOOT_UNIT = '/usr/lib/systemd/system/soft-reboot.target';

export const NOT_CAPABLE_MESSAGE = 'Cannot soft-reboot to deployment with a different kernel state';

export type SoftRebootCheck = { capable: true } | { capable: false; reason: string };

/**
 * The checks of bootc's `prepare_soft_reboot_composefs` up to the capability:
 * throws for a host without soft-reboot support, the booted id, an unknown
 * deployment, and (mode `required`) a deployment that is not capable.
 */
export async function checkSoftRebootTarget(st: BootState, deployment: string, mode: SoftRebootMode): Promise<SoftRebootCheck> {
  if (!(await st.host.root.exists(SOFT_REBOOT_UNIT))) throw new TsbootcError(`System does not support soft reboots (no ${SOFT_REBOOT_UNIT})`);
  if (deployment === st.booted.digest) throw new TsbootcError('Cannot soft-reboot to currently booted deployment');
  const host = await hostOfBootState(st);
  const all: BootEntry[] = [host.status.staged, host.status.rollback, ...(host.status.otherDeployments ?? [])].filter((e): e is BootEntry => e !== null);
  const entry = all.find((e) => e.composefs?.verity === deployment);
  if (entry === undefined) throw new TsbootcError(`Deployment '${deployment}' not found`);
  if (entry.softRebootCapable) return { capable: true };
  if (mode === 'required') throw new TsbootcError(NOT_CAPABLE_MESSAGE);
  return { capable: false, reason: 'its kernel, initramfs, kernel arguments or SELinux policy differ from the booted one' };
}

export interface SoftRebootDeps {
  repo: RepoAccess;
  mounts: MountPort;
}

export type PrepareResult = { kind: 'prepared'; deployment: string; nextroot: string } | { kind: 'not-capable'; deployment: string; reason: string };

/** Checks `deployment`, then mounts it on /run/nextroot (an earlier preparation is replaced). */
export async function prepareSoftReboot(st: BootState, deps: SoftRebootDeps, opts: { deployment: string; mode: SoftRebootMode }): Promise<PrepareResult> {
  return withContext('Soft rebooting', async () => {
    const check = await checkSoftRebootTarget(st, opts.deployment, opts.mode);
    if (!check.capable) return { kind: 'not-capable', deployment: opts.deployment, reason: check.reason };
    await armFinalizeUnit(st);
    const nextroot = st.host.root.resolve(NEXTROOT);
    await mountNextRoot(st, deps, opts.deployment);
    return { kind: 'prepared', deployment: opts.deployment, nextroot };
  });
}

/** True when `real` is a mount point: its device differs from its parent's (overlay and bind roots do). */
async function isMountPoint(real: string): Promise<boolean> {
  const [a, b] = await Promise.all([fs.stat(real).catch(() => undefined), fs.stat(path.dirname(real)).catch(() => undefined)]);
  return a !== undefined && b !== undefined && a.dev !== b.dev;
}

async function isDir(real: string): Promise<boolean> {
  return (await fs.stat(real).catch(() => undefined))?.isDirectory() === true;
}

/**
 * The initramfs's `setup_root` with target /run/nextroot and the default
 * setup-root config (bootc passes none): the image read-only, `/sysroot` (if
 * the image has it) a read-only non-recursive bind of the physical root,
 * `/etc` and `/var` bound from `state/deploy/<id>/`. On failure what was
 * mounted is detached again.
 */
async function mountNextRoot(st: BootState, deps: SoftRebootDeps, id: string): Promise<void> {
  const root = st.host.root;
  const target = root.resolve(NEXTROOT);
  await withContext(`Preparing ${target}`, async () => {
    if (!st.host.isRoot) throw new TsbootcError('mounting the deployment needs root');
    const repo = await deps.repo.open();
    if (repo === undefined) throw new TsbootcError(`No composefs repository at ${deps.repo.path}`);
    try {
      const img = await repo.openImage(id);
      await root.mkdirp(NEXTROOT);
      if (await isMountPoint(target)) deps.mounts.umount(target, MNT_DETACH);
      const scratchHost = `${RUN_TSBOOTC}/nextroot-erofs.${randomBytes(6).toString('hex')}`;
      await root.mkdirp(scratchHost, 0o700);
      const scratch = root.resolve(scratchHost);
      deps.mounts.mount(repo.objectPath(img.id), scratch, 'erofs', MS_RDONLY, null);
      try {
        const data = ['metacopy=on', 'redirect_dir=on', `lowerdir=${overlayPathOption(scratch)}::${overlayPathOption(path.join(repo.path, 'objects'))}`];
        if (!repo.insecure && !st.booted.missingVerityAllowed) data.push('verity=require');
        deps.mounts.mount(`composefs:${id}`, target, 'overlay', MS_RDONLY, data.join(','));
      } finally {
        deps.mounts.umount(scratch, MNT_DETACH);
        await fs.rmdir(scratch);
      }
    } finally {
      repo.close();
    }
    try {
      if (await isDir(path.join(target, 'sysroot'))) {
        const sysroot = path.join(target, 'sysroot');
        deps.mounts.mount(root.resolve(C.SYSROOT), sysroot, 'none', MS_BIND, null);
        deps.mounts.mount('none', sysroot, 'none', MS_BIND | MS_REMOUNT | MS_RDONLY, null);
      }
      for (const sub of ['etc', 'var']) {
        const src = st.sysroot.resolve(`${C.stateDirOf(id)}/${sub}`);
        if (!(await isDir(src))) throw new TsbootcError(`${src} is not a directory`);
        if (!(await isDir(path.join(target, sub)))) throw new TsbootcError(`the image of ${id} has no /${sub} to mount on`);
        deps.mounts.mount(src, path.join(target, sub), 'none', MS_BIND, null);
      }
    } catch (err) {
      deps.mounts.umount(target, MNT_DETACH);
      throw err;
    }
  });
}

export type ResetResult = 'not-prepared' | 'reset';

/** `prep-soft-reboot --reset`: detach /run/nextroot (with everything mounted under it). */
export async function resetSoftReboot(root: Root, mounts: MountPort): Promise<ResetResult> {
  return withContext('Resetting soft reboot state', async () => {
    const target = root.resolve(NEXTROOT);
    if (!(await isMountPoint(target))) return 'not-prepared';
    mounts.umount(target, MNT_DETACH);
    return 'reset';
  });
}
