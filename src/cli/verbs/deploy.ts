/**
 * Owns the flags and output of the deployment verbs that change boot state:
 * `rollback`, `delete-deployment`, `internals composefs-gc` and the shared
 * "open the booted host (and migrate it)" step.
 */
import { TsbootcError, UsageError } from '../../util/errors.js';
import { libcMounts } from '../../sys/mount-port.js';
import type { Host } from '../../sys/host.js';
import { openBootState, withBootState, type BootState } from '../../deploy/boot-state.js';
import * as C from '../../deploy/constants.js';
import { migrateLegacyLayout } from '../../deploy/migrate.js';
import { rollback, rollbackNextDefault } from '../../deploy/rollback.js';
import { deleteDeployment } from '../../deploy/delete.js';
import { composefsGc, type RepoGc, type RepoGcResult } from '../../deploy/gc.js';
import { repoGcFrom } from '../../deploy/repo-gc.js';
import type { RepoAccess } from '../../deploy/repo-access.js';
import { checkSoftRebootTarget, prepareSoftReboot, resetSoftReboot, SOFT_REBOOT_MODES, type SoftRebootMode } from '../../deploy/soft-reboot.js';
import { bool, str, type Context, type HandlerTable } from '../context.js';
import type { Args } from '../parse.js';
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

/** Runs `argv` on the running system; on a fake root (--root ≠ /) only says what it would do. */
async function runOrSay(ctx: Context, what: string, argv: string[]): Promise<void> {
  if (!ctx.host.root.isHostRoot) {
    ctx.out.write(`Would ${what} now (${argv.join(' ')}), but ${ctx.host.root.prefix} is not the running system\n`);
    return;
  }
  await ctx.host.run.run(argv);
}

/** `--apply`: reboot the running system; on a fake root (--root ≠ /) only say what would happen. */
export async function maybeReboot(ctx: Context, apply: boolean): Promise<void> {
  if (apply) await runOrSay(ctx, 'reboot', ['systemctl', 'reboot']);
}

/** `--soft-reboot=MODE` as a value, or undefined when absent. */
export function softRebootMode(args: Args): SoftRebootMode | undefined {
  const v = str(args, 'soft-reboot');
  if (v === undefined) return undefined;
  if (!(SOFT_REBOOT_MODES as readonly string[]).includes(v)) throw new UsageError(`--soft-reboot: expected one of ${SOFT_REBOOT_MODES.join(', ')}, got ${v}`);
  return v as SoftRebootMode;
}

export interface ApplyOpts {
  apply: boolean;
  softReboot?: SoftRebootMode | undefined;
}

/**
 * bootc's `apply_upgrade` for the deployment that boots next: with
 * `--soft-reboot`, prepare /run/nextroot and (with --apply) soft-reboot; a
 * deployment that cannot be soft-rebooted into is an error for `required`
 * and, for `auto`, falls back to the regular --apply reboot (decision 0016;
 * bootc returns without rebooting). Without it, `--apply` reboots.
 */
export async function applyDeployment(ctx: Context, st: BootState, access: RepoAccess, deployment: string, opts: ApplyOpts): Promise<void> {
  if (opts.softReboot !== undefined) {
    const r = await prepareSoftReboot(st, { repo: access, mounts: libcMounts }, { deployment, mode: opts.softReboot });
    if (r.kind === 'prepared') {
      ctx.out.write('Soft reboot setup complete\n');
      if (opts.apply) await runOrSay(ctx, 'soft-reboot', ['systemctl', 'soft-reboot']);
      return;
    }
    ctx.out.write(`Deployment ${deployment} cannot be soft-rebooted into (${r.reason})${opts.apply ? '; rebooting instead' : ''}\n`);
  }
  await maybeReboot(ctx, opts.apply);
}

/** bootc's repository GC lines. */
export function writeRepoGc(ctx: Context, r: RepoGcResult): void {
  ctx.out.write(`Objects: ${r.objectsRemoved} removed (${r.bytesRemoved} bytes)\n`);
  if (r.prunedImages + r.prunedStreams > 0) ctx.out.write(`Pruned symlinks: ${r.prunedImages} images, ${r.prunedStreams} streams\n`);
}

export const deployHandlers: HandlerTable = {
  rollback: async (ctx, args) => {
    const softReboot = softRebootMode(args);
    const apply = bool(args, 'apply');
    await withBooted(ctx, async (st) => {
      // `required` is checked before anything changes (the rollback deployment keeps its kernel state).
      const target = softReboot === undefined ? undefined : await rollbackNextDefault(st);
      if (softReboot === 'required') await checkSoftRebootTarget(st, target ?? '', 'required');
      const r = await rollback(st);
      for (const m of r.messages) ctx.out.write(m + '\n');
      await applyDeployment(ctx, st, hostRepoAccess(ctx.host), r.nextDefault, { apply, softReboot: r.nextDefault === st.booted.digest ? undefined : softReboot });
    });
    return 0;
  },
  'internals prep-soft-reboot': async (ctx, args) => {
    const deployment = str(args, 'deployment');
    if (bool(args, 'reset')) {
      const r = await resetSoftReboot(ctx.host.root, libcMounts);
      ctx.out.write(r === 'reset' ? 'Cleared soft reboot queued state\n' : 'No deployment staged for soft rebooting\n');
      return 0;
    }
    if (deployment === undefined) throw new UsageError('prep-soft-reboot: DEPLOYMENT is required unless --reset is given');
    await withBooted(ctx, async (st) => {
      await prepareSoftReboot(st, { repo: hostRepoAccess(ctx.host), mounts: libcMounts }, { deployment, mode: 'required' });
      ctx.out.write('Soft reboot setup complete\n');
      if (bool(args, 'reboot')) await runOrSay(ctx, 'soft-reboot', ['systemctl', 'soft-reboot']);
    });
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
