/**
 * Owns `upgrade` (bootc.md §6.1): the target is the staged deployment's image
 * if one is staged (a pending switch takes precedence), else the booted one's,
 * with `--tag` replacing its tag. An image whose boot id equals an existing
 * deployment is "No changes in: <img>". `--check` compares manifests and
 * prints the layer diff, and never stages anything (bootc may, when the image
 * is already pulled; tsbootc does not). `--download-only` stages with
 * finalization locked; `--from-downloaded` unlocks such a deployment.
 */
import { diffManifests, formatManifestDiff, type ManifestLike } from '../image/manifest-diff.js';
import { displayImageRef, withTag, type ImageRef } from '../image/ref.js';
import { openStoredImage } from '../composefs/oci/stored.js';
import { TsbootcError, withContext } from '../util/errors.js';
import type { BootState } from './boot-state.js';
import { formatStagedMarker, readOrigin, readStagedMarker } from './deployments.js';
import { armFinalizeUnit, existingDeployments, pulledBootId, stageImage, type UpdateDeps } from './stage-image.js';
import { currentImageRef } from './switch.js';
import { manifestForVerity } from './repo-access.js';
import { finalizeOffline, offlineMessage } from './offline.js';
import * as C from './constants.js';

export interface UpgradeOpts {
  check: boolean;
  downloadOnly: boolean;
  fromDownloaded: boolean;
  tag?: string | undefined;
}

export type UpgradeOutcome = 'staged' | 'no-changes' | 'checked' | 'unlocked' | 'not-locked' | 'already-staged';

export interface UpgradeResult {
  outcome: UpgradeOutcome;
  messages: string[];
  /** The staged deployment, when there is one afterwards. */
  verity?: string;
}

/** `--from-downloaded`: clear `finalization_locked` of the staged deployment. */
async function unlockDownloaded(st: BootState): Promise<UpgradeResult> {
  const marker = await readStagedMarker(st.host.root);
  if (marker === undefined) throw new TsbootcError('No staged deployment found; --from-downloaded needs a deployment staged with --download-only');
  if (!marker.finalizationLocked) return { outcome: 'not-locked', messages: ['Staged deployment is present and not in download only mode.'], verity: marker.deplId };
  await armFinalizeUnit(st);
  await st.host.root.writeAtomic(C.STAGED_MARKER, formatStagedMarker({ deplId: marker.deplId, finalizationLocked: false }));
  return { outcome: 'unlocked', messages: [`Staged deployment ${marker.deplId} will be finalized at shutdown`], verity: marker.deplId };
}

/** bootc's line; the command named is tsbootc's. */
export const ALREADY_STAGED_MESSAGE = 'Update already staged. To apply update run `tsbootc update --apply`';

/**
 * The staged deployment when it already is `manifestDigest` (bootc's "Update
 * already staged"; bootc compares the staged manifest digest with the remote
 * config digest, so it never matches there, decision 0016).
 */
async function alreadyStaged(st: BootState, manifestDigest: string): Promise<string | undefined> {
  const marker = await readStagedMarker(st.host.root);
  if (marker === undefined || marker.deplId === st.booted.digest) return undefined;
  const origin = await readOrigin(st.sysroot, marker.deplId).catch(() => undefined);
  return origin?.manifestDigest === manifestDigest ? marker.deplId : undefined;
}

async function bootedManifest(st: BootState, deps: UpdateDeps): Promise<ManifestLike> {
  const origin = await readOrigin(st.sysroot, st.booted.digest);
  const repo = await deps.repo.open();
  if (repo === undefined) return {};
  try {
    const digest = origin?.manifestDigest ?? (await manifestForVerity(repo, st.booted.digest));
    if (digest === undefined) return {};
    return (await openStoredImage(repo, digest).catch(() => undefined))?.manifest ?? {};
  } finally {
    repo.close();
  }
}

export async function upgrade(st: BootState, deps: UpdateDeps, opts: UpgradeOpts): Promise<UpgradeResult> {
  return withContext('Upgrading', async () => {
    if (opts.fromDownloaded) return unlockDownloaded(st);
    if (st.offline === true && opts.downloadOnly) throw new TsbootcError('--download-only has no meaning for an offline tree (it is finalized at once)');
    const cur = await currentImageRef(st);
    if (cur.ref === undefined) throw new TsbootcError('No image source specified (the booted deployment has no image reference)');
    const ref: ImageRef = opts.tag !== undefined ? withTag(cur.ref, opts.tag) : cur.ref;
    const display = displayImageRef(ref);
    const m = await withContext(`Fetching ${display}`, () => deps.fetcher.manifest(ref));
    const staged = await alreadyStaged(st, m.manifestDigest);
    if (staged !== undefined) return { outcome: 'already-staged', messages: [ALREADY_STAGED_MESSAGE], verity: staged };
    const repo = opts.check ? await deps.repo.open() : await deps.repo.openOrCreate();
    try {
      const known = repo === undefined ? undefined : await pulledBootId(repo, m.manifestDigest);
      if (known !== undefined && (await existingDeployments(st)).has(known)) return { outcome: 'no-changes', messages: [`No changes in: ${display}`] };
      if (opts.check) {
        const manifest = JSON.parse(m.rawManifest.toString('utf8')) as ManifestLike;
        const diff = diffManifests(await bootedManifest(st, deps), manifest);
        return { outcome: 'checked', messages: [`Update available for: ${display}`, `  Digest: ${m.manifestDigest}`, ...formatManifestDiff(diff).trimEnd().split('\n')] };
      }
      const r = await stageImage(st, repo!, deps, { ref, isSwitch: false, downloadOnly: opts.downloadOnly });
      if (r.kind === 'no-changes') return { outcome: 'no-changes', messages: [`No changes in: ${display}`] };
      if (st.offline === true) {
        await finalizeOffline(st, deps.repo);
        return { outcome: 'staged', messages: [offlineMessage(st, display)], verity: r.verity };
      }
      const note = opts.downloadOnly ? ' (download only: run `upgrade --from-downloaded` to apply it)' : '';
      return { outcome: 'staged', messages: [`Queued for next boot: ${display}${note}`], verity: r.verity };
    } finally {
      repo?.close();
    }
  });
}
