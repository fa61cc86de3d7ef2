/**
 * Owns offline updates (beyond bootc): `--root DIR` naming a tree that is not
 * the booted system. The rule: DIR is offline when it is not `/` and
 * DIR/proc/cmdline has no `composefs=` argument (missing file included). Its
 * bootloader comes from DIR's EFI variables or entries, its ESP is the first
 * of /boot, /efi, /boot/efi holding `loader/` or `EFI/`, and the deployment
 * the default entry boots stands in for the booted one. switch/upgrade stage
 * as usual and then finalize immediately (no shutdown will): the /etc merge
 * takes the default deployment's state-dir /etc as the "current" one.
 */
import type { Host } from '../sys/host.js';
import { TsbootcError } from '../util/errors.js';
import { listEntries, type BootState } from './boot-state.js';
import { finalizeStagedDeployment, type FinalizeOutcome } from './finalize.js';
import type { RepoAccess } from './repo-access.js';
import { detectBootloader, parseComposefsKargs } from './detect.js';
import * as C from './constants.js';

const ESP_CANDIDATES = ['/boot', '/efi', '/boot/efi'];

/** True when `host` is an offline tree by the rule above. */
export async function isOfflineTree(host: Host): Promise<boolean> {
  if (host.root.isHostRoot) return false;
  const cmdline = await host.root.tryReadText(C.PROC_CMDLINE);
  return cmdline === undefined || parseComposefsKargs(cmdline.trim()) === undefined;
}

async function findEsp(host: Host): Promise<string | undefined> {
  for (const p of ESP_CANDIDATES) {
    if ((await host.root.isDir(`${p}/loader`)) || (await host.root.isDir(`${p}/EFI`))) return p;
  }
  return undefined;
}

/** The BootState of an offline tree; undefined when it is not one. */
export async function openOfflineState(host: Host): Promise<BootState | undefined> {
  if (!(await isOfflineTree(host))) return undefined;
  const bootloader = await detectBootloader(host);
  const espPath = await findEsp(host);
  const esp = async () => {
    if (espPath === undefined) throw new TsbootcError(`No ESP found in ${host.root.prefix} (looked for loader/ or EFI/ in ${ESP_CANDIDATES.join(', ')})`);
    return espPath;
  };
  const bootDir = bootloader === 'grub' ? `${C.SYSROOT}/${C.SYSROOT_BOOT}` : await esp();
  const grubMenu = bootloader === 'grub' && (await host.root.exists(`${bootDir}/${C.USER_CFG}`));
  const st: BootState = {
    host,
    sysroot: host.root.sub(C.SYSROOT),
    booted: { digest: '', missingVerityAllowed: false, cmdlineDigest: '' },
    bootloader,
    mounts: [],
    bootDir,
    grubMenu,
    esp,
    release: async () => {},
    espUnverified: undefined,
    warnings: [],
    offline: true,
  };
  const entries = await listEntries(st, { strict: true });
  const def = entries.live.find((e) => e.target.verity !== undefined);
  if (def === undefined) throw new TsbootcError(`${host.root.prefix} is not a composefs deployment: no boot entry names a deployment`);
  const karg = def.bls?.options === undefined ? undefined : parseComposefsKargs(def.bls.options);
  st.booted = { digest: def.target.verity!, missingVerityAllowed: karg?.missingVerityAllowed ?? false, cmdlineDigest: def.target.verity! };
  return st;
}

/** Offline: finalize what was just staged and drop the /run marker (no reboot will clear it). */
export async function finalizeOffline(st: BootState, access: RepoAccess): Promise<FinalizeOutcome> {
  const r = await finalizeStagedDeployment(st, access);
  await st.host.root.remove(C.STAGED_MARKER);
  return r;
}

export function offlineMessage(st: BootState, display: string): string {
  return `Deployed ${display} as the default boot entry of ${st.host.root.prefix} (offline: not the booted system, finalized now)`;
}
