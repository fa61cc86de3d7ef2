/**
 * Owns the `oci pull --expected-digest` search (composefs-oci
 * `find_matching_boot_image`): which xattr filtering mode and EROFS format
 * version, applied with the boot transform, reproduce a given boot image id.
 * Already-linked boot images are checked first; a recomputed match is
 * written to the repository as an image (not linked into the config).
 */
import { TsbootcError } from '../../util/errors.js';
import { writeErofs } from '../erofs/writer.js';
import { fsverityHex } from '../fsverity.js';
import type { Repository } from '../repository/index.js';
import { transformForBoot, transformForOci, type XattrFiltering } from './merge.js';
import type { ImageIds } from './stored.js';
import { buildStoredTree } from './stored-tree.js';

export const BOOT_MODES: readonly XattrFiltering[] = ['allowlist-only', 'keep-user-xattrs'];
export const BOOT_VERSIONS: readonly (1 | 2)[] = [1, 2];

export type BootImageMatch = { found: true; mode: XattrFiltering; version: 1 | 2; id: string } | { found: false; tried: number };

/** Checks that `hex` is a full object id of the repository's algorithm. */
export function parseExpectedDigest(repo: Repository, hex: string): string {
  const len = repo.algorithm === 'sha256' ? 64 : 128;
  if (!new RegExp(`^[0-9a-f]{${len}}$`).test(hex)) throw new TsbootcError(`Parsing --expected-digest: ${JSON.stringify(hex)} is not a ${repo.algorithm} object id (${len} hex digits)`);
  return hex;
}

/**
 * Searches mode × version for `expected`; `linked` are the boot ids the pull
 * linked for `linkedMode` (checked without rebuilding the tree).
 */
export async function findMatchingBootImage(repo: Repository, configDigest: string, expected: string, linked: ImageIds, linkedMode: XattrFiltering): Promise<BootImageMatch> {
  let tried = 0;
  for (const mode of BOOT_MODES) {
    const cached = mode === linkedMode ? linked : {};
    const todo: (1 | 2)[] = [];
    for (const v of BOOT_VERSIONS) {
      const id = v === 1 ? cached.v1 : cached.v2;
      if (id === undefined) todo.push(v);
      else if (id === expected) return { found: true, mode, version: v, id };
      else tried++;
    }
    if (todo.length === 0) continue;
    const tree = await buildStoredTree(repo, configDigest);
    transformForOci(tree, { xattrs: mode });
    await transformForBoot(tree, { readObject: (id) => repo.readObject(id.toString('hex')) });
    for (const v of todo) {
      const image = writeErofs(tree, { version: v });
      tried++;
      if (fsverityHex(image, repo.algorithm) === expected) {
        await repo.writeImage(image);
        return { found: true, mode, version: v, id: expected };
      }
    }
  }
  return { found: false, tried };
}
