/**
 * Owns the repository side of garbage collection (bootc.md §7 steps 8–11):
 * bootc-owned tags `localhost/bootc-<manifest digest>` are created for every
 * live deployment's image and removed for images no deployment uses (other
 * tags are never touched), then the repository GC runs with the live
 * deployments' EROFS ids as extra roots. The boot side (gc.ts) computes the
 * roots and calls this as its RepoGc.
 */
import { manifestStreamName } from '../composefs/oci/stored.js';
import type { Repository } from '../composefs/repository/index.js';
import { withContext } from '../util/errors.js';
import type { RepoGc, RepoGcResult, RepoGcRoots } from './gc.js';
import { manifestForVerity, type RepoAccess } from './repo-access.js';

export const BOOTC_TAG_PREFIX = 'localhost/bootc-';

export function bootcTag(manifestDigest: string): string {
  return BOOTC_TAG_PREFIX + manifestDigest;
}

export interface TagSync {
  tagged: string[];
  untagged: string[];
}

/** Creates missing bootc tags for `live` manifests (present in the repository) and removes stale ones. */
export async function syncBootcTags(repo: Repository, live: readonly string[], dryRun: boolean): Promise<TagSync> {
  return withContext('Updating the bootc image tags', async () => {
    const tags = await repo.listTags();
    const have = new Set(tags.map((t) => t.tag));
    const out: TagSync = { tagged: [], untagged: [] };
    for (const d of live) {
      const tag = bootcTag(d);
      if (have.has(tag) || (await repo.hasStream(manifestStreamName(d))) === undefined) continue;
      if (!dryRun) await repo.tagImage(d, tag);
      out.tagged.push(tag);
    }
    const liveTags = new Set(live.map(bootcTag));
    for (const t of tags) {
      if (!t.tag.startsWith(BOOTC_TAG_PREFIX) || liveTags.has(t.tag)) continue;
      if (!dryRun) await repo.untag(t.tag);
      out.untagged.push(t.tag);
    }
    return out;
  });
}

/** Tags, untags and collects with an open repository. */
export async function gcRepository(repo: Repository, roots: RepoGcRoots, dryRun: boolean): Promise<RepoGcResult> {
  const live = [...roots.manifestDigests];
  for (const v of roots.untracked ?? []) {
    const d = await withContext(`Finding the image of deployment ${v}`, () => manifestForVerity(repo, v));
    if (d !== undefined && !live.includes(d)) live.push(d);
  }
  await syncBootcTags(repo, live, dryRun);
  const r = await withContext(`Garbage-collecting ${repo.path}`, () => repo.gc({ additionalRoots: roots.verities, dryRun }));
  return { objectsRemoved: r.objectsRemoved, bytesRemoved: r.objectsBytes, prunedImages: r.imagesPruned, prunedStreams: r.streamsPruned };
}

/** A RepoGc using an already open repository (the verb's own handle: a second one would deadlock on the lock). */
export function repoGcWith(repo: Repository): RepoGc {
  return (roots, dryRun) => gcRepository(repo, roots, dryRun);
}

/** A RepoGc that opens the repository for the collection; undefined result when the host has none. */
export function repoGcFrom(access: RepoAccess): RepoGc {
  return async (roots, dryRun) => {
    const repo = await access.open();
    if (repo === undefined) return undefined;
    try {
      return await gcRepository(repo, roots, dryRun);
    } finally {
      repo.close();
    }
  };
}
