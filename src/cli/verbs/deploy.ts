/**
 * Owns the flags and output of the deployment verbs that change boot state:
 * `rollback`, `delete-deployment`, `internals composefs-gc` and the shared
 * "open the booted host (and migrate it)" step.
 */
import { TsbootcError } from '../../util/errors.js';
import { withBootState, type BootState } from '../../deploy/boot-state.js';
import { migrateLegacyLayout } from '../../deploy/migrate.js';
import { rollback } from '../../deploy/rollback.js';
import { deleteDeployment } from '../../deploy/delete.js';
import { composefsGc, type RepoGc } from '../../deploy/gc.js';
import { bool, str, type Context, type HandlerTable } from '../context.js';

/** The repository GC; the composefs repository module plugs in here. Undefined until then. */
export const repositoryGc: RepoGc | undefined = undefined;

/** Runs `fn` on the booted host (migrated first); an ESP mounted for it is unmounted afterwards. */
export async function withBooted<T>(ctx: Context, fn: (st: BootState) => Promise<T>): Promise<T> {
  return withBootState(ctx.host, async (st) => {
    if (st === undefined) throw new TsbootcError('System is not deployed via bootc (no composefs= on the kernel command line)', { code: 'ERR_NOT_BOOTED' });
    if (st.espUnverified !== undefined) throw new TsbootcError(`Locating the ESP: ${st.espUnverified}`);
    for (const w of st.warnings) ctx.out.warn(`warning: ${w}`);
    const m = await migrateLegacyLayout(st);
    for (const c of m.changes) ctx.host.log.info({ kind: 'step', message: `Migrated boot layout: ${c}` });
    for (const w of m.warnings) ctx.out.warn(`warning: ${w}`);
    return fn(st);
  });
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
    const r = await withBooted(ctx, (st) => deleteDeployment(st, id, repositoryGc ? { repoGc: repositoryGc } : {}));
    for (const m of r.messages) ctx.out.write(m + '\n');
    for (const p of r.gc.removed) ctx.out.write(`Removed ${p}\n`);
    return 0;
  },
  'internals composefs-gc': async (ctx, args) => {
    const dryRun = bool(args, 'dry-run') || bool(args, 'assert-no-op');
    const pruneRepo = bool(args, 'prune-repo');
    const r = await withBooted(ctx, (st) => composefsGc(st, { dryRun, pruneRepo, ...(repositoryGc ? { repoGc: repositoryGc } : {}) }));
    for (const p of r.removed) ctx.out.write(`${dryRun ? 'Would remove' : 'Removed'} ${p}\n`);
    for (const e of r.orphanEntries) ctx.out.warn(`warning: boot entry without state dir: ${e}`);
    if (pruneRepo && r.repo === undefined) ctx.out.warn('warning: repository garbage collection is not available in this build; only boot artifacts and state dirs were collected');
    if (r.repo !== undefined) {
      ctx.out.write(`Objects: ${r.repo.objectsRemoved} removed (${r.repo.bytesRemoved} bytes)\n`);
      if (r.repo.prunedImages + r.repo.prunedStreams > 0) ctx.out.write(`Pruned symlinks: ${r.repo.prunedImages} images, ${r.repo.prunedStreams} streams\n`);
    }
    if (dryRun) ctx.out.write('Dry run (no files deleted)\n');
    const n = r.removed.length + (r.repo?.objectsRemoved ?? 0) + (r.repo?.prunedImages ?? 0) + (r.repo?.prunedStreams ?? 0);
    if (bool(args, 'assert-no-op') && n > 0) throw new TsbootcError(`composefs-gc --assert-no-op: ${n} item(s) would be removed`);
    return 0;
  },
};
