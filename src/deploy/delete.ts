/**
 * Owns `delete-deployment ID` (bootc.md §6.9): refuse the booted deployment;
 * un-queue it first if it is the queued rollback; remove its boot entry (or
 * the staged set, or its GRUB menuentry); then GC with pruning, which removes
 * its boot binaries (unless shared) and its state dir.
 */
import { formatUserCfg } from '../boot/grub-cfg.js';
import { commitStagedUserCfg, type ExchangeOpts } from '../boot/exchange.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { listEntries, type BootState } from './boot-state.js';
import { composefsGc, type GcResult, type RepoGc } from './gc.js';
import { readStagedMarker } from './deployments.js';
import { dropStaged, rollback } from './rollback.js';
import { crashPoint } from '../util/crash-point.js';
import * as C from './constants.js';

export interface DeleteResult {
  messages: string[];
  gc: GcResult;
}

export async function deleteDeployment(st: BootState, id: string, xopts: ExchangeOpts & { repoGc?: RepoGc } = {}): Promise<DeleteResult> {
  const opts = { crash: st.host.crash, ...xopts };
  return withContext(`Deleting deployment ${id}`, async () => {
    if (id === st.booted.digest) throw new TsbootcError('Cannot delete the booted deployment');
    const messages: string[] = [];
    let entries = await listEntries(st, { strict: true });
    const marker = await readStagedMarker(st.host.root);
    const isStaged = entries.staged.some((e) => e.target.verity === id) || marker?.deplId === id;
    const live = entries.live.filter((e) => e.target.verity === id);
    if (!isStaged && live.length === 0 && !(await st.sysroot.exists(C.stateDirOf(id)))) throw new TsbootcError(`No deployment ${id}`);
    if (isStaged) {
      await dropStaged(st);
      messages.push(`Removed the staged deployment ${id}`);
    }
    const def = entries.live.find((e) => e.target.verity !== undefined);
    if (def?.target.verity === id) {
      messages.push(...(await rollback(st, opts)).messages);
      entries = await listEntries(st, { strict: true });
    }
    for (const e of entries.live.filter((x) => x.target.verity === id)) {
      if (e.menu !== undefined) {
        const rest = entries.live.filter((x) => x.menu !== undefined && x.target.verity !== id).map((x) => x.menu!);
        await st.host.root.writeAtomic(`${st.bootDir}/${C.USER_CFG_STAGED}`, formatUserCfg(rest));
        await commitStagedUserCfg(st.host.root, st.bootDir, opts);
        break;
      }
      await st.host.root.remove(e.file);
      messages.push(`Removed boot entry ${e.file}`);
      crashPoint(st.host, 'delete:after-remove-entry');
    }
    const gc = await composefsGc(st, { dryRun: false, pruneRepo: true, ...(opts.repoGc ? { repoGc: opts.repoGc } : {}) });
    return { messages, gc };
  });
}
