/**
 * Owns reading OCI / Docker schema 2 manifests and indexes as they come off
 * the wire (raw bytes in, typed views out, never re-serialized), their
 * sha256 digests, and choosing the host's platform from an index.
 * Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { FormatError } from '../util/errors.js';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Descriptor[] }
  | { kind: 'index'; mediaType: string; manifests: Array<Descriptor & { platform?: Platform }> };

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function descriptor(v: unknown, where: string): Descriptor {
  const o = v as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') throw new FormatError(`${where}: not an object`);
  const { mediaType, digest, size } = o;
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) throw new FormatError(`${where}: unsupported digest ${JSON.stringify(digest)}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new FormatError(`${where}: bad size ${JSON.stringify(size)}`);
  return { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
}

/** Parses raw manifest bytes (OCI or Docker schema 2, image or index). */
export function parseManifest(raw: Uint8Array): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(raw).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new FormatError('manifest is not JSON', { cause: err });
  }
  if (doc === null || typeof doc !== 'object') throw new FormatError('manifest is not a JSON object');
  if (doc['schemaVersion'] !== 2) throw new FormatError(`unsupported manifest schemaVersion ${JSON.stringify(doc['schemaVersion'])}`);
  const mediaType = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : '';
  if (Array.isArray(doc['manifests'])) {
    const manifests = doc['manifests'].map((m, i) => {
      const d = descriptor(m, `manifests[${i}]`);
      const p = (m as { platform?: unknown }).platform as Record<string, unknown> | undefined;
      if (p !== undefined && typeof p['architecture'] === 'string' && typeof p['os'] === 'string') {
        const platform: Platform = { architecture: p['architecture'], os: p['os'] };
        if (typeof p['variant'] === 'string') platform.variant = p['variant'];
        return { ...d, platform };
      }
      return d;
    });
    return { kind: 'index', mediaType: mediaType || MEDIA_TYPES.ociIndex, manifests };
  }
  if (!Array.isArray(doc['layers'])) throw new FormatError('manifest has neither layers nor manifests');
  return {
    kind: 'manifest',
    mediaType: mediaType || MEDIA_TYPES.ociManifest,
    config: descriptor(doc['config'], 'config'),
    layers: doc['layers'].map((l, i) => descriptor(l, `layers[${i}]`)),
  };
}

/** Node's `os.arch()` in GOARCH spelling, as OCI platforms use it. */
export function goArch(nodeArch: string): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
  return map[nodeArch] ?? nodeArch;
}

/**
 * The index entry for `want` (os and architecture must match; a wanted variant
 * must match too, otherwise the first entry of that architecture wins, as
 * containers-image does for a missing variant).
 * @throws FormatError listing the platforms the index offers.
 */
export function selectPlatform(index: Extract<ParsedManifest, { kind: 'index' }>, want: Platform): Descriptor & { platform?: Platform } {
  const candidates = index.manifests.filter((m) => m.platform !== undefined && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const exact = want.variant === undefined ? undefined : candidates.find((m) => m.platform?.variant === want.variant);
  const pick = exact ?? candidates[0];
  if (pick === undefined) {
    const offered = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? '/' + m.platform.variant : ''}` : 'unknown')).join(', ');
    throw new FormatError(`no image for ${want.os}/${want.architecture} in the index (it has: ${offered || 'nothing'})`);
  }
  return pick;
}
