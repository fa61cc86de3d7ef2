/**
 * Owns where status gets a deployment's OCI manifest and config from. The
 * composefs repository (`streams/oci-manifest-<digest>` → config) is another
 * module's business; status only sees `ImageMetadataSource`, so tests use a
 * fake and the repository reader is plugged in by the composition root.
 * Also owns turning manifest+config into the `ImageStatus` of host-v1.
 */
import type { ImageReference, ImageStatus } from './host-spec.js';

export interface ImageMetadata {
  manifest: Record<string, unknown>;
  config: Record<string, unknown>;
}

export interface ImageMetadataSource {
  /** Manifest and config of an image by manifest digest; undefined when the repository lacks it. */
  load(manifestDigest: string): Promise<ImageMetadata | undefined>;
  /**
   * The manifest digest of a tagged image whose EROFS is `verity`: the
   * fallback for deployments whose origin predates `[image] manifest_digest`
   * (bootc < 1.16). Undefined when none (or the source cannot tell).
   */
  findByVerity?(verity: string): Promise<string | undefined>;
}

/** A source that knows no image (until the repository reader is wired in). */
export const noImageMetadata: ImageMetadataSource = { load: async () => undefined };

/** A source backed by a map (tests, fixtures). */
export function mapImageMetadata(map: ReadonlyMap<string, ImageMetadata>): ImageMetadataSource {
  return { load: async (d) => map.get(d) };
}

const VERSION_ANNOTATION = 'org.opencontainers.image.version';

export function imageStatusFrom(image: ImageReference, meta: ImageMetadata, imageDigest: string): ImageStatus {
  const ann = meta.manifest['annotations'] as Record<string, unknown> | undefined;
  const version = typeof ann?.[VERSION_ANNOTATION] === 'string' ? (ann[VERSION_ANNOTATION] as string) : null;
  const created = meta.config['created'];
  const arch = meta.config['architecture'];
  return {
    image,
    version,
    timestamp: typeof created === 'string' ? normalizeTimestamp(created) : null,
    imageDigest,
    architecture: typeof arch === 'string' ? arch : '',
  };
}

/**
 * RFC 3339 in UTC with `Z`, fractional seconds only when non-zero, in groups
 * of 3/6/9 digits (chrono's `SecondsFormat::AutoSi`). Unparseable ⇒ null.
 */
export function normalizeTimestamp(s: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/.exec(s);
  if (m === null) return null;
  const [, y, mo, d, h, mi, se, frac = '', z, sign, oh, om] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  if (z === undefined && sign !== undefined) ms -= (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  if (Number.isNaN(ms)) return null;
  const base = new Date(ms).toISOString().slice(0, 19);
  const nanos = Number(frac.padEnd(9, '0'));
  if (nanos === 0) return `${base}Z`;
  const digits = nanos % 1_000_000 === 0 ? 3 : nanos % 1_000 === 0 ? 6 : 9;
  return `${base}.${frac.padEnd(9, '0').slice(0, digits)}Z`;
}
