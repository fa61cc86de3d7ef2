/**
 * Owns the flags and output of the deployment verbs that change boot state:
 * `rollback`, `delete-deployment`, `internals composefs-gc` and the shared
 * "open the booted host (and migrate it)" step.
 */
import { NotImplementedError, TsbootcError } from '../../util/errors.js';
import type { Host } from '../../sys/host.js';
import { openBootState, type BootState } from '../../deploy/boot-state.js';
import * as C from '../../deploy/constants.js';
import { migrateLegacyLayout } from '../../deploy/migrate.js';
import { rollback } from '../../deploy/rollback.js';
import { deleteDeployment } from '../../deploy/delete.js';
import { composefsGc, type RepoGc, type RepoGcResult } from '../../deploy/gc.js';
import { repoGcFrom } from '../../deploy/repo-gc.js';
import { bool, str, type Context, type HandlerTable } from '../context.js';
import { hostRepoAccess } from '../host-repo.js';

/** The repository GC of the host: bootc tags, then `/sysroot/composefs` GC with the deployments as roots. */
export function repositoryGc(host: Host): RepoGc {
  return repoGcFrom(hostRepoAccess(host));
}

export async function openBooted(ctx: Context): Promise<BootState> {
  const st = await openBootState(ctx.host);
  if (st === undefined) throw new TsbootcError('System is not deployed via bootc (no composefs= on the kernel command line)', { code: 'ERR_NOT_BOOTED' });
  if (st.espUnverified !== undefined) throw new TsbootcError(`Locating the ESP: ${st.espUnverified}`);
  for (const w of st.warnings) ctx.out.warn(`warning: ${w}`);
  const m = await migrateLegacyLayout(st);
  for (const c of m.changes) ctx.host.log.info({ kind: 'step', message: `Migrated boot layout: ${c}` });
  for (const w of m.warnings) ctx.out.warn(`warning: ${w}`);
  return st;
}

/** `--apply`: reboot the running system; on a fake root (--root ≠ /) only say what would happen. */
export async function maybeReboot(ctx: Context, apply: boolean): Promise<void> {
  if (!apply) return;
  if (!ctx.host.root.isHostRoot) {
    ctx.out.write(`Would reboot now (systemctl reboot), but ${ctx.host.root.prefix} is not the running system\n`);
    return;
  }
  await ctx.host.run.run(['systemctl', 'reboot']);
}

/** bootc's repository GC lines. */
export function writeRepoGc(ctx: Context, r: RepoGcResult): void {
  ctx.out.write(`Objects: ${r.objectsRemoved} removed (${r.bytesRemoved} bytes)\n`);
  if (r.prunedImages + r.prunedStreams > 0) ctx.out.write(`Pruned symlinks: ${r.prunedImages} images, ${r.prunedStreams} streams\n`);
}

export const deployHandlers: HandlerTable = {
  rollback: async (ctx, args) => {
    if (str(args, 'soft-reboot') !== undefined) throw new NotImplementedError('rollback --soft-reboot');
    const r = await rollback(await openBooted(ctx));
    for (const m of r.messages) ctx.out.write(m + '\n');
    await maybeReboot(ctx, bool(args, 'apply'));
    return 0;
  },
  'delete-deployment': async (ctx, args) => {
    const id = str(args, 'id') ?? '';
    const r = await deleteDeployment(await openBooted(ctx), id, { repoGc: repositoryGc(ctx.host) });
    for (const m of r.messages) ctx.out.write(m + '\n');
    for (const p of r.gc.removed) ctx.out.write(`Removed ${p}\n`);
    if (r.gc.repo !== undefined) writeRepoGc(ctx, r.gc.repo);
    return 0;
  },
  'internals composefs-gc': async (ctx, args) => {
    const dryRun = bool(args, 'dry-run') || bool(args, 'assert-no-op');
    const pruneRepo = bool(args, 'prune-repo');
    const r = await composefsGc(await openBooted(ctx), { dryRun, pruneRepo, repoGc: repositoryGc(ctx.host) });
    for (const p of r.removed) ctx.out.write(`${dryRun ? 'Would remove' : 'Removed'} ${p}\n`);
    for (const e of r.orphanEntries) ctx.out.warn(`warning: boot entry without state dir: ${e}`);
    if (pruneRepo && r.repo === undefined) ctx.out.warn(`warning: no composefs repository at ${C.SYSROOT}/${C.COMPOSEFS_DIR}; only boot artifacts and state dirs were collected`);
    if (r.repo !== undefined) writeRepoGc(ctx, r.repo);
    if (dryRun) ctx.out.write('Dry run (no files deleted)\n');
    const n = r.removed.length + (r.repo?.objectsRemoved ?? 0) + (r.repo?.prunedImages ?? 0) + (r.repo?.prunedStreams ?? 0);
    if (bool(args, 'assert-no-op') && n > 0) throw new TsbootcError(`composefs-gc --assert-no-op: ${n} item(s) would be removed`);
    return 0;
  },
};
