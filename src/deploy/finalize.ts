/**
 * Owns `composefs-finalize-staged` (bootc.md §6.5), run at shutdown by
 * tsbootc-finalize-staged.service: nothing staged or download-only ⇒ nothing
 * to do; else the live /etc changes (vs the booted image's pristine /etc, read
 * from its EROFS) are merged into the staged state dir's /etc, then the staged
 * entries are committed (exchange), then boot binaries no entry references are
 * collected (no repository pruning). Also `config-diff`: the local /etc
 * changes against the booted image.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ExchangeOpts } from '../boot/exchange.js';
import { StateCorruptError, TsbootcError, withContext } from '../util/errors.js';
import { listEntries, liveEtcPath, type BootState } from './boot-state.js';
import { readStagedMarker } from './deployments.js';
import { computeEtcDiff, type EtcDiff } from './etc-merge.js';
import { etcTrees, extractPristineEtc, mergeEtcInto } from './etc-sync.js';
import { composefsGc, type GcResult } from './gc.js';
import { openImageById } from './image-content.js';
import { removeWorkRoot } from './stage-image.js';
import type { RepoAccess } from './repo-access.js';
import { finalizeStaged, type FinalizeResult } from './stage.js';
import { crashPoint } from '../util/crash-point.js';
import * as C from './constants.js';

export interface FinalizeOutcome {
  result: FinalizeResult;
  verity?: string;
  etc?: EtcDiff;
  gc?: GcResult;
}

/** Runs `fn` with the booted image's /etc extracted into a work dir on the sysroot. */
async function withPristineEtc<T>(st: BootState, access: RepoAccess, fn: (pristine: string) => Promise<T>): Promise<T> {
  const repo = await access.open();
  if (repo === undefined) throw new TsbootcError(`No composefs repository at ${access.path}: cannot read the booted image's /etc`);
  await st.sysroot.mkdirp(C.WORK_DIR);
  const work = await fs.mkdtemp(path.join(st.sysroot.resolve(C.WORK_DIR), 'etc-'));
  try {
    const booted = await openImageById(repo, st.booted.digest);
    return await fn(await extractPristineEtc(booted, work, st.host.isRoot));
  } finally {
    repo.close();
    await fs.rm(work, { recursive: true, force: true });
    await removeWorkRoot(st);
  }
}

export async function finalizeStagedDeployment(st: BootState, access: RepoAccess, opts: ExchangeOpts = {}): Promise<FinalizeOutcome> {
  return withContext('Finalizing the staged deployment', async () => {
    const marker = await readStagedMarker(st.host.root);
    if (marker === undefined) return { result: 'nothing-staged' };
    if (marker.finalizationLocked) return { result: 'download-only', verity: marker.deplId };
    const entries = await listEntries(st, { strict: true });
    if (!entries.staged.some((e) => e.target.verity === marker.deplId)) {
      // Committed by an earlier run that did not finish (the /etc merge comes before the commit).
      if (!entries.live.some((e) => e.target.verity === marker.deplId)) throw new StateCorruptError(`The staged deployment ${marker.deplId} has no boot entry`);
      return { result: 'finalized', verity: marker.deplId, gc: await composefsGc(st, { dryRun: false, pruneRepo: false }) };
    }
    // The merge writes below the staged /etc: never through a link planted at state/deploy/<id>/etc or above.
    await st.sysroot.guard(`${C.stateDirOf(marker.deplId)}/etc`, true);
    const newEtc = st.sysroot.resolve(`${C.stateDirOf(marker.deplId)}/etc`);
    const etc = await withPristineEtc(st, access, (pristine) => mergeEtcInto(pristine, st.host.root.resolve(liveEtcPath(st)), newEtc, () => crashPoint(st.host, 'finalize:after-etc-merge-step')));
    crashPoint(st.host, 'finalize:after-etc-merge');
    const result = await finalizeStaged(st, opts);
    crashPoint(st.host, 'finalize:after-commit');
    const gc = await composefsGc(st, { dryRun: false, pruneRepo: false });
    return { result, verity: marker.deplId, etc, gc };
  });
}

/** `config-diff`: what was added, modified and removed in the live /etc since the booted image. */
export async function configDiff(st: BootState, access: RepoAccess): Promise<EtcDiff> {
  return withContext('Computing the /etc changes', () =>
    withPristineEtc(st, access, async (pristine) => {
      const t = await etcTrees(pristine, st.host.root.resolve(liveEtcPath(st)), pristine);
      return computeEtcDiff(t.pristine, t.current, t.pristine);
    }),
  );
}
