/**
 * Owns the deploy side's access to the host's composefs repository
 * (`/sysroot/composefs`): the RepoAccess port the composition root (cli)
 * implements with the real syscalls and libzstd, and the two consumers that
 * only read it: the repository-backed ImageMetadataSource of `status`
 * (manifest + config from `streams/oci-manifest-<digest>` and its config
 * stream; a missing stream is "unknown", never a failure — bootc #2422).
 */
import type { Decompressor } from '../composefs/index.js';
import { idForVersion, manifestStreamName, openStoredImage } from '../composefs/oci/stored.js';
import type { Repository } from '../composefs/repository/index.js';
import type { ImageMetadataSource } from './image-metadata.js';

export interface RepoAccess {
  /** Host path of the repository (for messages). */
  readonly path: string;
  /** Opens the repository; undefined when the host has none. */
  open(): Promise<Repository | undefined>;
  /** Opens the repository, creating it (secure if the filesystem has fs-verity) when missing. */
  openOrCreate(): Promise<Repository>;
  /** Decompressor for tar+zstd layers. */
  zstd?: Decompressor | undefined;
}

/** A RepoAccess for hosts without a repository. */
export const noRepository: RepoAccess = {
  path: '/sysroot/composefs',
  open: async () => undefined,
  openOrCreate: async () => {
    throw new Error('no composefs repository');
  },
};

/**
 * bootc's tag scan (gc.rs) for a deployment without `[image] manifest_digest`
 * (pre-1.16 origins): the first tagged manifest whose boot EROFS (or plain
 * EROFS) id is `verity`. Unreadable images are skipped.
 */
export async function manifestForVerity(repo: Repository, verity: string): Promise<string | undefined> {
  for (const t of await repo.listTags()) {
    const img = await openStoredImage(repo, t.manifestDigest).catch(() => undefined);
    if (img === undefined) continue;
    if (idForVersion(img.bootImageIds, repo.erofsVersion) === verity || idForVersion(img.imageIds, repo.erofsVersion) === verity) return t.manifestDigest;
  }
  return undefined;
}

/**
 * Status's image metadata from the repository. The repository is opened once,
 * on first use; `close()` releases it.
 */
export function repositoryImageMetadata(access: RepoAccess): ImageMetadataSource & { close(): void } {
  let opened: Promise<Repository | undefined> | undefined;
  return {
    async load(manifestDigest) {
      const repo = await (opened ??= access.open());
      if (repo === undefined) return undefined;
      if ((await repo.hasStream(manifestStreamName(manifestDigest))) === undefined) return undefined;
      const img = await openStoredImage(repo, manifestDigest);
      return { manifest: img.manifest, config: img.config };
    },
    async findByVerity(verity) {
      const repo = await (opened ??= access.open());
      return repo === undefined ? undefined : manifestForVerity(repo, verity);
    },
    close() {
      void opened?.then((r) => r?.close(), () => undefined);
    },
  };
}
