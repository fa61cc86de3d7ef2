/**
 * Owns running the /etc three-way merge on real trees (bootc.md §6.3 step 5,
 * §6.5): pristine = the booted image's /etc (extracted from its EROFS into a
 * work dir), current = the live /etc, new = the new deployment's /etc. The
 * dry run before staging refuses unmergeable changes ("Merge conflicts found
 * in etc") so nothing is staged; finalize applies the merge into the staged
 * state dir. Also `config-diff`.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { snapshotEtc, applyEtcMerge, type EtcDir } from '../sys/etc-tree.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { computeEtcDiff, type EtcDiff } from './etc-merge.js';
import { copyImageTree, type ImageContent } from './image-content.js';
import { Root } from '../sys/root.js';

export interface EtcTrees {
  pristine: EtcDir;
  current: EtcDir;
  next: EtcDir;
  diff: EtcDiff;
}

export class EtcConflictError extends TsbootcError {
  constructor(readonly diff: EtcDiff) {
    super(`Merge conflicts found in etc: ${diff.unmergeable.map((u) => u.reason).join('; ')}`);
  }
}

/**
 * Copies the /etc of an image to the real path `dest` (which must not exist)
 * like `cp -a` (owners when `owners`, i.e. running as root); an image without
 * /etc yields an empty directory.
 */
export async function extractImageEtc(image: ImageContent, dest: string, owners: boolean): Promise<void> {
  const r = await copyImageTree(image, '/etc', new Root(path.dirname(dest)), path.basename(dest), { owners });
  if (!r.found) await fs.mkdir(dest, { recursive: true });
}

/** Extracts the booted image's /etc into `workDir/pristine-etc` (real path) and returns that path. */
export async function extractPristineEtc(booted: ImageContent, workDir: string, owners: boolean): Promise<string> {
  const dest = path.join(workDir, 'pristine-etc');
  await fs.rm(dest, { recursive: true, force: true });
  await extractImageEtc(booted, dest, owners);
  return dest;
}

/** Snapshots the three trees (real paths) and computes the merge. */
export async function etcTrees(pristineDir: string, currentDir: string, newDir: string): Promise<EtcTrees> {
  return withContext('Computing the /etc merge', async () => {
    const pristine = await snapshotEtc(pristineDir);
    const current = await snapshotEtc(currentDir);
    const next = await snapshotEtc(newDir);
    return { pristine, current, next, diff: computeEtcDiff(pristine, current, next) };
  });
}

/** The dry run: throws EtcConflictError when local changes cannot be carried into `newDir`. */
export async function checkEtcMerge(pristineDir: string, currentDir: string, newDir: string): Promise<EtcDiff> {
  const t = await etcTrees(pristineDir, currentDir, newDir);
  if (t.diff.unmergeable.length > 0) throw new EtcConflictError(t.diff);
  return t.diff;
}

/** Applies the local changes of `currentDir` (vs pristine) to `newDir`; `.updated` is removed. */
export async function mergeEtcInto(pristineDir: string, currentDir: string, newDir: string, onStep?: () => void): Promise<EtcDiff> {
  const t = await etcTrees(pristineDir, currentDir, newDir);
  if (t.diff.unmergeable.length > 0) throw new EtcConflictError(t.diff);
  await withContext(`Merging /etc into ${newDir}`, () => applyEtcMerge(currentDir, t.current, newDir, t.next, t.diff, undefined, onStep));
  await fs.rm(path.join(newDir, '.updated'), { force: true });
  return t.diff;
}
