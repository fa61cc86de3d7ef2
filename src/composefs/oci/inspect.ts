/**
 * Owns cfsctl's read-only looks into stored OCI images beyond the tree:
 * `oci layer --dumpfile` (composefs-oci `layer_dumpfile`: one dumpfile line
 * per tar entry of a stored layer, in tar order, as the entry itself says —
 * every nlink 1, hardlinks as `@120000` lines naming their target, whiteouts
 * as they are) and the `oci pull --expected-digest` search
 * (`find_matching_boot_image`: which xattr filtering mode and EROFS format
 * version, with the boot transform, reproduce a given boot image id;
 * already-linked boot images are checked first, and a recomputed match is
 * written to the repository as an image, not linked into the config).
 */
import { TsbootcError } from '../../util/errors.js';
import { escapeOptional, formatDumpLine } from '../dumpfile-print.js';
import { writeErofs } from '../erofs/writer.js';
import { fsverityHex } from '../fsverity.js';
import { CONTENT_TYPE, type Repository } from '../repository/index.js';
import { transformForBoot, transformForOci, type XattrFiltering } from './merge.js';
import { layerStreamName, type ImageIds } from './stored.js';
import { buildStoredTree, readStoredLayer } from './stored-tree.js';
import type { TarEntry } from './tar.js';

/** One tar entry as composefs-rs prints it (`TarEntry`'s Display). */
export function tarEntryLine(e: TarEntry): string {
  const p = escapeOptional('/' + e.path.join('/'));
  if (e.item.kind === 'hardlink') return `${p} 0 @120000 - - - - 0.0 ${escapeOptional('/' + e.item.target.join('/'))} - -`;
  return formatDumpLine(p, e.stat, e.item.kind === 'leaf' ? e.item.data : undefined, 1);
}

/** The dumpfile of stored layer `oci-layer-<diffId>`. */
export async function storedLayerDumpfile(repo: Repository, diffId: string): Promise<string> {
  const ss = await repo.openStream(layerStreamName(diffId), CONTENT_TYPE.ociLayer);
  const lines: string[] = [];
  await readStoredLayer(repo, ss, `layer ${diffId}`, (e) => lines.push(tarEntryLine(e) + '\n'));
  return lines.join('');
}

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
