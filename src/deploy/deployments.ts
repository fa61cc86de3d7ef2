/**
 * Owns reading one deployment's state (`state/deploy/<id>/`): its origin,
 * the legacy `.imginfo`, the transient staged marker, and turning them into
 * the host-v1 `BootEntry` (bootc `boot_entry_from_composefs_deployment`).
 */
import type { Root } from '../sys/root.js';
import { formatErrorChain, FormatError, withContext } from '../util/errors.js';
import { parseOriginImageRef, toSpecImageRef } from '../image/ref.js';
import type { BootEntry, Bootloader, ImageReference } from './host-spec.js';
import { imageStatusFrom, type ImageMetadataSource } from './image-metadata.js';
import { parseImgInfo, parseOrigin, type Origin } from './origin.js';
import * as C from './constants.js';

/** Reads and parses a deployment's origin; undefined when the file does not exist. */
export async function readOrigin(sysroot: Root, verity: string): Promise<Origin | undefined> {
  const rel = C.originPathOf(verity);
  return withContext(`Reading origin ${rel}`, async () => {
    const text = await sysroot.tryReadText(rel);
    return text === undefined ? undefined : parseOrigin(text);
  });
}

export interface StagedMarker {
  deplId: string;
  finalizationLocked: boolean;
}

export function parseStagedMarker(text: string): StagedMarker {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new FormatError('invalid JSON', { cause: err });
  }
  const o = v as { depl_id?: unknown; finalization_locked?: unknown } | null;
  if (o === null || typeof o !== 'object' || typeof o.depl_id !== 'string') throw new FormatError('expected {"depl_id": "<id>", "finalization_locked": bool}');
  return { deplId: o.depl_id, finalizationLocked: o.finalization_locked === true };
}

/** bootc's `StagedDeployment` JSON (canonical: keys sorted, compact). */
export function formatStagedMarker(m: StagedMarker): string {
  return JSON.stringify({ depl_id: m.deplId, finalization_locked: m.finalizationLocked });
}

export async function readStagedMarker(root: Root): Promise<StagedMarker | undefined> {
  return withContext(`Reading ${C.STAGED_MARKER}`, async () => {
    const text = await root.tryReadText(C.STAGED_MARKER);
    return text === undefined ? undefined : parseStagedMarker(text);
  });
}

export interface DeploymentInfo {
  verity: string;
  origin: Origin;
  imageRef: ImageReference | null;
  entry: BootEntry;
}

export interface EntryContext {
  bootloader: Bootloader;
  missingVerityAllowed: boolean;
  images: ImageMetadataSource;
  warn: (msg: string) => void;
}

/** Builds the BootEntry of a deployment; metadata problems become warnings and `image: null`. */
export async function deploymentEntry(sysroot: Root, verity: string, origin: Origin, ctx: EntryContext): Promise<DeploymentInfo> {
  let imageRef: ImageReference | null = null;
  let image: BootEntry['image'] = null;
  if (origin.imageReference !== undefined) {
    try {
      imageRef = toSpecImageRef(parseOriginImageRef(origin.imageReference));
    } catch (err) {
      ctx.warn(`Deployment ${verity}: ${C.originPathOf(verity)}: ${formatErrorChain(err)}`);
    }
  }
  if (imageRef !== null) {
    try {
      const rel = C.imginfoPathOf(verity);
      const text = origin.manifestDigest === undefined ? await sysroot.tryReadText(rel) : undefined;
      // No manifest digest and no .imginfo: scan the repository's tags (pre-1.16 origins).
      const digest = origin.manifestDigest ?? (text === undefined ? await ctx.images.findByVerity?.(verity) : undefined);
      if (digest !== undefined) {
        const meta = await ctx.images.load(digest);
        if (meta === undefined) ctx.warn(`Deployment ${verity}: image ${digest} not found in the composefs repository; image details unavailable`);
        else image = imageStatusFrom(imageRef, meta, digest);
      } else {
        if (text === undefined) ctx.warn(`Deployment ${verity}: no [image] manifest_digest, no ${rel} and no tagged image with this id; image details unavailable`);
        else {
          const info = await withContext(`Reading ${rel}`, async () => parseImgInfo(text));
          image = imageStatusFrom(imageRef, info, info.imageDigest);
        }
      }
    } catch (err) {
      ctx.warn(`Deployment ${verity}: ${formatErrorChain(err)}`);
    }
  }
  return {
    verity,
    origin,
    imageRef,
    entry: {
      image,
      cachedUpdate: null,
      incompatible: false,
      pinned: false,
      softRebootCapable: false,
      downloadOnly: false,
      store: null,
      ostree: null,
      composefs: {
        verity,
        bootType: origin.bootType === 'uki' ? 'Uki' : 'Bls',
        bootloader: ctx.bootloader,
        bootDigest: origin.bootDigest ?? null,
        missingVerityAllowed: ctx.missingVerityAllowed,
      },
    },
  };
}

/** Deployment ids that have a state dir. */
export async function listStateDirs(sysroot: Root): Promise<string[]> {
  return (await sysroot.listDir(C.STATE_DEPLOY_DIR)).filter((n) => !n.startsWith('.'));
}
