/**
 * Owns `rollback` (bootc.md §6.8): make the rollback deployment the default
 * (or, when a rollback is already queued, make the booted one the default
 * again). Differences from bootc, on purpose: any number of entries is
 * handled (only default + rollback are kept, others are reported), the
 * entries keep the os_id of their sort keys instead of `bootc`, foreign
 * entries (memtest, fwupd, other OSes) are carried over, and the secondary's
 * file name sorts correctly under GRUB. A staged deployment is dropped.
 */
import { formatBls, type BlsEntry } from '../boot/bls.js';
import { formatUserCfg } from '../boot/grub-cfg.js';
import { confFileName, osIdFromSortKey, primarySortKey, secondarySortKey } from '../boot/entry-order.js';
import { secondaryFileName } from '../boot/entries.js';
import { commitStagedBls, commitStagedUserCfg, type ExchangeOpts } from '../boot/exchange.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { listEntries, type BootState, type ListedEntry } from './boot-state.js';
import { listStateDirs } from './deployments.js';
import { crashPoint } from '../util/crash-point.js';
import * as C from './constants.js';

export interface RollbackResult {
  /** Lines for the user (stdout), in order. */
  messages: string[];
  /** The deployment that boots next. */
  nextDefault: string;
}

/** The live entries, those naming a deployment, and the current default, booted and rollback entries among them. */
async function rollbackPlan(st: BootState) {
  const entries = await listEntries(st, { strict: true });
  const known = new Set(await listStateDirs(st.sysroot));
  const ours = entries.live.filter((e) => e.target.verity !== undefined && known.has(e.target.verity));
  const current = ours[0];
  const booted = ours.find((e) => e.target.verity === st.booted.digest);
  const candidate = ours.find((e) => e.target.verity !== st.booted.digest);
  if (current === undefined || booted === undefined || candidate === undefined) throw new TsbootcError('No rollback available');
  return { entries, ours, current, booted, candidate };
}

/** The deployment `rollback` would make the default: the rollback one, or the booted one when a rollback is queued. */
export async function rollbackNextDefault(st: BootState): Promise<string> {
  return withContext('Rolling back', async () => {
    const p = await rollbackPlan(st);
    return (p.current.target.verity === st.booted.digest ? p.candidate : p.booted).target.verity!;
  });
}

export async function rollback(st: BootState, xopts: ExchangeOpts = {}): Promise<RollbackResult> {
  const opts: ExchangeOpts = { crash: st.host.crash, ...xopts };
  return withContext('Rolling back', async () => {
    const { entries, ours, current, booted, candidate } = await rollbackPlan(st);
    const messages: string[] = [];
    let first: ListedEntry;
    let second: ListedEntry;
    if (current.target.verity === st.booted.digest) {
      first = candidate;
      second = booted;
      messages.push('Next boot: rollback deployment');
    } else {
      messages.push('notice: Reverting queued rollback state');
      first = booted;
      second = current;
      messages.push('Next boot: current deployment');
    }
    for (const e of ours) {
      if (e !== first && e !== second) messages.push(`Dropping the boot entry of deployment ${e.target.verity} (${e.fileName ?? e.menu?.title}); only the default and the rollback are kept`);
    }
    await dropStaged(st);
    crashPoint(st.host, 'rollback:after-drop-staged');
    const foreign = entries.live.filter((e) => !ours.includes(e));
    if (st.grubMenu) {
      const menus = [first.menu!, second.menu!, ...foreign.flatMap((e) => (e.menu ? [e.menu] : []))];
      await st.host.root.writeAtomic(`${st.bootDir}/${C.USER_CFG_STAGED}`, formatUserCfg(menus));
      crashPoint(st.host, 'rollback:after-staged-entries');
      await commitStagedUserCfg(st.host.root, st.bootDir, opts);
    } else {
      const os = osIdFromSortKey(first.bls!.sortKey) ?? osIdFromSortKey(second.bls!.sortKey) ?? C.DEFAULT_OS_ID;
      const p: BlsEntry = { ...first.bls!, sortKey: primarySortKey(os) };
      const s: BlsEntry = { ...second.bls!, sortKey: secondarySortKey(os) };
      const dir = `${st.bootDir}/${C.ENTRIES_STAGED_DIR}`;
      await st.host.root.mkdirp(dir);
      const pName = confFileName(os, p.version, C.PRIO_PRIMARY);
      const sName = secondaryFileName(st.bootloader, os, p.version, s.version);
      await st.host.root.writeAtomic(`${dir}/${pName}`, formatBls(p));
      await st.host.root.writeAtomic(`${dir}/${sName}`, formatBls(s));
      for (const f of foreign) {
        if (f.fileName === pName || f.fileName === sName) continue;
        await st.host.root.writeAtomic(`${dir}/${f.fileName}`, await st.host.root.readBytes(f.file));
      }
      crashPoint(st.host, 'rollback:after-staged-entries');
      await commitStagedBls(st.host.root, st.bootDir, { ...opts, order: [pName, sName] });
    }
    return { messages, nextDefault: first.target.verity! };
  });
}

/** Removes the staged entries and the /run marker (the staged state dir is left to GC). */
export async function dropStaged(st: BootState): Promise<void> {
  await st.host.root.remove(`${st.bootDir}/${C.ENTRIES_STAGED_DIR}`);
  await st.host.root.remove(`${st.bootDir}/${C.USER_CFG_STAGED}`);
  await st.host.root.remove(C.STAGED_MARKER);
}
