/**
 * Owns turning an image already pulled into the repository (bootable) into
 * a NewDeployment for install: the boot EROFS id, the boot payload read from
 * the image (UKI or /usr/lib/modules kernel), the Type1 options (given kargs,
 * `composefs=<id>`, the image's kargs.d) and its /etc extracted next to the
 * state dirs, ready for installDeployment (stage.ts) to rename into place.
 */
import * as path from 'node:path';
import { rustArch } from '../boot/kargs-d.js';
import { idForVersion, openStoredImage } from '../composefs/oci/stored.js';
import type { Repository } from '../composefs/repository/index.js';
import type { Root } from '../sys/root.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { extractImageEtc } from './etc-sync.js';
import { bootPayloadFromImage, openImageById, readImageKargs } from './image-content.js';
import type { NewDeployment } from './stage.js';

export interface ImageDeploymentOpts {
  /** `[origin] container-image-reference` (image/ref.ts formatOriginImageRef). */
  imageReference: string;
  /** Kernel arguments before `composefs=` and kargs.d (root=, rw, …). */
  kargs: readonly string[];
  /** `composefs=?<id>`: fs-verity optional. */
  missingVerityAllowed?: boolean;
  /** A fresh directory relative to `sysroot` (same filesystem as state/deploy) for the extracted /etc. */
  workDir: string;
  /** Restore owners (running as root). */
  owners: boolean;
  arch?: string;
}

export async function deploymentFromRepository(repo: Repository, sysroot: Root, manifestDigest: string, opts: ImageDeploymentOpts): Promise<NewDeployment> {
  return withContext(`Preparing the deployment of ${manifestDigest}`, async () => {
    const stored = await openStoredImage(repo, manifestDigest);
    const verity = idForVersion(stored.bootImageIds, repo.erofsVersion);
    if (verity === undefined) throw new TsbootcError(`image ${manifestDigest} has no boot EROFS in the repository (pull it with bootable)`);
    const image = await openImageById(repo, idForVersion(stored.imageIds, repo.erofsVersion) ?? verity);
    const etcRel = path.posix.join(opts.workDir, 'new-etc');
    await extractImageEtc(image, sysroot.resolve(etcRel), opts.owners);
    const kargsD = await readImageKargs(image, opts.arch ?? rustArch(process.arch));
    const args = [...opts.kargs, `composefs=${opts.missingVerityAllowed === true ? '?' : ''}${verity}`];
    for (const k of kargsD) if (!args.includes(k)) args.push(k);
    const payload = await bootPayloadFromImage(image, args.join(' '));
    return { verity, imageReference: opts.imageReference, manifestDigest, payload, etcSource: { root: sysroot, path: etcRel, move: true } };
  });
}
