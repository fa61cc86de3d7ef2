/**
 * Owns `switch` (bootc.md §6.2): target = {transport, name, signature
 * policy}; the same spec as the current one (the staged deployment's if any,
 * else the booted one's) is "Image specification is unchanged."; an image
 * already in the repository whose boot id equals an existing deployment is
 * refused before fetching, and again after pulling (`stageImage`).
 * `--retain` is ignored, as in bootc.
 */
import { displayImageRef, imageRefForSwitch, parseOriginImageRef, sameImageRef, type ImageRef } from '../image/ref.js';
import { withContext } from '../util/errors.js';
import type { BootState } from './boot-state.js';
import { readOrigin, readStagedMarker } from './deployments.js';
import { finalizeOffline, offlineMessage } from './offline.js';
import { collisionError, existingDeployments, pulledBootId, stageImage, type StageImageResult, type UpdateDeps } from './stage-image.js';

export interface SwitchOpts {
  target: string;
  transport: string;
  enforceSigpolicy: boolean;
}

export type SwitchResult = { kind: 'unchanged'; staged: string | undefined; messages: string[] } | (StageImageResult & { messages: string[] });

/** The image the host will boot next as far as the spec goes: staged if any, else booted. */
export async function currentImageRef(st: BootState): Promise<{ ref: ImageRef | undefined; staged: string | undefined }> {
  const marker = await readStagedMarker(st.host.root);
  const id = marker?.deplId ?? st.booted.digest;
  const origin = (await readOrigin(st.sysroot, id).catch(() => undefined)) ?? (await readOrigin(st.sysroot, st.booted.digest));
  const ref = origin?.imageReference === undefined ? undefined : parseOriginImageRef(origin.imageReference);
  return { ref, staged: marker?.deplId };
}

export async function switchImage(st: BootState, deps: UpdateDeps, opts: SwitchOpts): Promise<SwitchResult> {
  const ref = imageRefForSwitch(opts.target, opts.transport, opts.enforceSigpolicy);
  const display = displayImageRef(ref);
  return withContext('Switching', async () => {
    const cur = await currentImageRef(st);
    if (cur.ref !== undefined && sameImageRef(cur.ref, ref)) return { kind: 'unchanged', staged: cur.staged, messages: ['Image specification is unchanged.'] };
    const repo = await deps.repo.openOrCreate();
    try {
      const m = await withContext(`Fetching ${display}`, () => deps.fetcher.manifest(ref));
      const known = await pulledBootId(repo, m.manifestDigest);
      const slot = known === undefined ? undefined : (await existingDeployments(st)).get(known);
      if (slot !== undefined) throw collisionError(slot);
      const r = await stageImage(st, repo, deps, { ref, isSwitch: true, downloadOnly: false });
      if (r.kind === 'staged' && st.offline === true) {
        await finalizeOffline(st, deps.repo);
        return { ...r, messages: [offlineMessage(st, display)] };
      }
      return { ...r, messages: r.kind === 'staged' ? [`Queued for next boot: ${display}`] : [`No changes in: ${display}`] };
    } finally {
      repo.close();
    }
  });
}
