/**
 * Owns the flags and output of the update lifecycle verbs: `switch`,
 * `upgrade`, `composefs-finalize-staged` and `config-diff`, and the
 * composition of their dependencies (skopeo fetcher with progress on stderr
 * and --progress-fd, the host repository). The logic is in src/deploy.
 */
import { TsbootcError, UsageError } from '../../util/errors.js';
import type { Host } from '../../sys/host.js';
import { switchImage } from '../../deploy/switch.js';
import { upgrade } from '../../deploy/upgrade.js';
import { openOfflineState } from '../../deploy/offline.js';
import { configDiff, finalizeStagedDeployment } from '../../deploy/finalize.js';
import { formatEtcDiff } from '../../deploy/etc-merge.js';
import { skopeoFetcher } from '../../deploy/image-fetcher.js';
import type { UpdateDeps } from '../../deploy/stage-image.js';
import { readBootctlVersion } from '../../boot/efi-key.js';
import { bool, str, type Context, type HandlerTable } from '../context.js';
import type { Args } from '../parse.js';
import { fetchProgressOutput } from '../fetch-progress.js';
import { hostRepoAccess } from '../host-repo.js';
import { applyDeployment, maybeReboot, openBooted, softRebootMode } from './deploy.js';
import type { BootState } from '../../deploy/boot-state.js';

/** The deps of the verbs that stage; bootctl's version is read here, once, at the verb's start. */
export async function updateDeps(host: Host, args: Args): Promise<UpdateDeps> {
  const quiet = bool(args, 'quiet');
  const progress = fetchProgressOutput({ quiet, progressFd: progressFdArg(args) }, { write: (s) => process.stderr.write(s), isTTY: process.stderr.isTTY === true });
  return { repo: hostRepoAccess(host), fetcher: skopeoFetcher(host, { quiet, progress }), bootctl: { version: await readBootctlVersion(host.run) } };
}

/** `--progress-fd` as given: yargs turns a non-number into NaN, which must be refused, not ignored. */
function progressFdArg(args: Args): number | undefined {
  const v = args['progress-fd'];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError('--progress-fd: expected a file descriptor number');
  return v;
}

/** `--soft-reboot` makes no sense for an offline tree: nothing runs from it. */
function refuseOfflineSoftReboot(st: BootState, args: Args): void {
  if (st.offline === true && str(args, 'soft-reboot') !== undefined) throw new TsbootcError('--soft-reboot has no meaning for an offline tree (it is not the running system)');
}

function say(ctx: Context, lines: readonly string[]): void {
  for (const l of lines) ctx.out.write(l + '\n');
}

export const updateHandlers: HandlerTable = {
  switch: async (ctx, args) => {
    const apply = { apply: bool(args, 'apply'), softReboot: softRebootMode(args) };
    const deps = await updateDeps(ctx.host, args);
    const st = (await openOfflineState(ctx.host)) ?? (await openBooted(ctx));
    try {
      refuseOfflineSoftReboot(st, args);
      const r = await switchImage(st, deps, {
        target: str(args, 'target') ?? '',
        transport: str(args, 'transport') ?? 'registry',
        enforceSigpolicy: bool(args, 'enforce-container-sigpolicy'),
      });
      say(ctx, r.messages);
      const next = r.kind === 'unchanged' ? r.staged : r.kind === 'staged' ? r.verity : undefined;
      if (next !== undefined && st.offline === true) await maybeReboot(ctx, apply.apply);
      else if (next !== undefined) await applyDeployment(ctx, st, deps.repo, next, apply);
    } finally {
      await st.release();
    }
    return 0;
  },
  upgrade: async (ctx, args) => {
    const apply = { apply: bool(args, 'apply'), softReboot: softRebootMode(args) };
    const deps = await updateDeps(ctx.host, args);
    const st = (await openOfflineState(ctx.host)) ?? (await openBooted(ctx));
    try {
      refuseOfflineSoftReboot(st, args);
      const r = await upgrade(st, deps, {
        check: bool(args, 'check'),
        downloadOnly: bool(args, 'download-only'),
        fromDownloaded: bool(args, 'from-downloaded'),
        tag: str(args, 'tag'),
      });
      say(ctx, r.messages);
      const applies = r.outcome === 'staged' || r.outcome === 'unlocked' || r.outcome === 'not-locked' || r.outcome === 'already-staged';
      if (applies && st.offline === true) await maybeReboot(ctx, apply.apply);
      else if (applies && r.verity !== undefined) await applyDeployment(ctx, st, deps.repo, r.verity, apply);
    } finally {
      await st.release();
    }
    return 0;
  },
  'composefs-finalize-staged': async (ctx) => {
    const st = await openBooted(ctx);
    try {
      const r = await finalizeStagedDeployment(st, hostRepoAccess(ctx.host));
      if (r.result === 'nothing-staged') say(ctx, ['No staged deployment found']);
      else if (r.result === 'download-only') say(ctx, [`Staged deployment ${r.verity} is download-only; not finalizing`]);
      else {
        for (const p of r.gc?.removed ?? []) ctx.out.write(`Removed ${p}\n`);
        say(ctx, [`Finalized deployment ${r.verity}`]);
      }
    } finally {
      await st.release();
    }
    return 0;
  },
  'config-diff': async (ctx) => {
    const st = await openBooted(ctx);
    try {
      ctx.out.write(formatEtcDiff(await configDiff(st, hostRepoAccess(ctx.host)), ctx.out.isTTY));
    } finally {
      await st.release();
    }
    return 0;
  },
};
