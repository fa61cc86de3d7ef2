/**
 * Owns the flags and output of the deployment verbs that change boot state:
 * `rollback`, `delete-deployment`, `internals composefs-gc` and the shared
 * "open the booted host (and migrate it)" step.
 */
import { TsbootcError } from '../../util/errors.js';
import type { Host } from '../../sys/host.js';
import { openBootState, withBootState, type BootState } from '../../deploy/boot-state.js';
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

/** The checks and migration every verb on the booted host starts with. */
async function prepareBooted(ctx: Context, st: BootState | undefined): Promise<BootState> {
  if (st === undefined) throw new TsbootcError('System is not deployed via bootc (no composefs= on the kernel command line)', { code: 'ERR_NOT_BOOTED' });
  if (st.espUnverified !== undefined) throw new TsbootcError(`Locating the ESP: ${st.espUnverified}`);
  for (const w of st.warnings) ctx.out.warn(`warning: ${w}`);
  const m = await migrateLegacyLayout(st);
  for (const c of m.changes) ctx.host.log.info({ kind: 'step', message: `Migrated boot layout: ${c}` });
  for (const w of m.warnings) ctx.out.warn(`warning: ${w}`);
  return st;
}

/** Runs `fn` on the booted host (migrated first); an ESP mounted for it is unmounted afterwards, also on error. */
export async function withBooted<T>(ctx: Context, fn: (st: BootState) => Promise<T>): Promise<T> {
  return withBootState(ctx.host, async (st) => fn(await prepareBooted(ctx, st)));
}

/** Opens the booted host for a caller that calls `st.release()` itself; prefer withBooted. */
export async function openBooted(ctx: Context): Promise<BootState> {
  const st = await openBootState(ctx.host);
  try {
    return await prepareBooted(ctx, st);
  } catch (err) {
    await st?.release();
    throw err;
  }
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

/** bootc ignores `rollback --soft-reboot` on composefs (only its ostree path handles it); tsbootc says so. */
export const ROLLBACK_SOFT_REBOOT_NOTICE = 'notice: --soft-reboot is ignored for rollback on the composefs backend; use --apply to reboot';

export const deployHandlers: HandlerTable = {
  rollback: async (ctx, args) => {
    if (str(args, 'soft-reboot') !== undefined) ctx.out.warn(ROLLBACK_SOFT_REBOOT_NOTICE);
    const r = await withBooted(ctx, (st) => rollback(st));
    for (const m of r.messages) ctx.out.write(m + '\n');
    await maybeReboot(ctx, bool(args, 'apply'));
    return 0;
  },
  'delete-deployment': async (ctx, args) => {
    const id = str(args, 'id') ?? '';
    const r = await withBooted(ctx, (st) => deleteDeployment(st, id, { repoGc: repositoryGc(ctx.host) }));
    for (const m of r.messages) ctx.out.write(m + '\n');
    for (const p of r.gc.removed) ctx.out.write(`Removed ${p}\n`);
    if (r.gc.repo !== undefined) writeRepoGc(ctx, r.gc.repo);
    return 0;
  },
  'internals composefs-gc': async (ctx, args) => {
    const dryRun = bool(args, 'dry-run') || bool(args, 'assert-no-op');
    const pruneRepo = bool(args, 'prune-repo');
    const r = await withBooted(ctx, (st) => composefsGc(st, { dryRun, pruneRepo, repoGc: repositoryGc(ctx.host) }));
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
