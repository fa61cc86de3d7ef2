/**
 * Owns meta.json (composefs.md §1.5): the repository's base format version,
 * fs-verity algorithm, ext4-style feature tiers and EROFS format config, with
 * the exact bytes composefs-rs writes (serde_json pretty, 2-space indent,
 * trailing newline) and its open-time compatibility rules.
 */
import type { VerityAlgorithm } from '../fsverity.js';
import { RepositoryOpenError } from './errors.js';

export const REPO_METADATA_FILENAME = 'meta.json';
/** `REPO_FORMAT_VERSION` in repository.rs: refuse anything newer. */
export const REPO_FORMAT_VERSION = 1;
/** The one ro-compat flag composefs-rs knows: the repository generates V1 (C-compatible) EROFS. */
export const FEATURE_V1_EROFS = 'v1_erofs';
const KNOWN_COMPAT: readonly string[] = [];
const KNOWN_RO_COMPAT: readonly string[] = [FEATURE_V1_EROFS];
const KNOWN_INCOMPAT: readonly string[] = [];

export type ErofsFormatVersion = 0 | 1 | 2;

export interface FormatConfig {
  default: ErofsFormatVersion;
  /** Extra versions written alongside the default (a sorted set; omitted from JSON when empty). */
  extra: ErofsFormatVersion[];
}

export interface FeatureFlags {
  compatible: string[];
  readOnlyCompatible: string[];
  incompatible: string[];
}

export interface RepoMetadata {
  version: number;
  algorithm: VerityAlgorithm;
  features: FeatureFlags;
  /** As stored; absent in repositories written before the field existed (serde default {default: 2}). */
  erofsFormats: FormatConfig;
}

/** `fsverity-<alg>-12`, the `Algorithm` Display form. */
export function algorithmName(alg: VerityAlgorithm): string {
  return `fsverity-${alg}-12`;
}

/** Parses `fsverity-sha256-12` / `fsverity-sha512-12` (also the bare `sha256`/`sha512`); undefined otherwise. */
export function parseAlgorithmName(text: string): VerityAlgorithm | undefined {
  const m = /^(?:fsverity-)?(sha256|sha512)(?:-12)?$/.exec(text);
  return m ? (m[1] as VerityAlgorithm) : undefined;
}

/** `RepoMetadata::new_with_formats`: the v1_erofs flag is set whenever the default format is V1. */
export function newMetadata(algorithm: VerityAlgorithm, formats: FormatConfig = { default: 1, extra: [] }): RepoMetadata {
  return {
    version: REPO_FORMAT_VERSION,
    algorithm,
    features: { compatible: [], readOnlyCompatible: formats.default === 1 ? [FEATURE_V1_EROFS] : [], incompatible: [] },
    erofsFormats: { default: formats.default, extra: [...new Set(formats.extra)].sort() },
  };
}

/** The bytes composefs-rs writes for `meta` (serde_json::to_vec_pretty + "\n"). */
export function formatMetadata(meta: RepoMetadata): string {
  const erofs: Record<string, unknown> = { default: meta.erofsFormats.default };
  if (meta.erofsFormats.extra.length > 0) erofs['extra'] = meta.erofsFormats.extra;
  const doc = {
    version: meta.version,
    algorithm: algorithmName(meta.algorithm),
    features: {
      compatible: meta.features.compatible,
      'read-only-compatible': meta.features.readOnlyCompatible,
      incompatible: meta.features.incompatible,
    },
    erofs_formats: erofs,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

function stringList(v: unknown, what: string, path: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new RepositoryOpenError('metadata-invalid', path, `failed to parse meta.json: ${what} is not a list of strings`);
  }
  return v as string[];
}

function formatVersion(v: unknown, path: string, key: string): ErofsFormatVersion {
  if (v === undefined) throw new RepositoryOpenError('metadata-invalid', path, `failed to parse meta.json: ${key} is missing`);
  if (v !== 0 && v !== 1 && v !== 2) throw new RepositoryOpenError('metadata-invalid', path, `failed to parse meta.json: unknown EROFS format version ${JSON.stringify(v)} in ${key}`);
  return v;
}

/**
 * Parses meta.json text. `path` names the repository in errors.
 * @throws RepositoryOpenError `metadata-invalid`
 */
export function parseMetadata(text: string, path: string): RepoMetadata {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RepositoryOpenError('metadata-invalid', path, 'failed to parse meta.json', { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new RepositoryOpenError('metadata-invalid', path, 'failed to parse meta.json: not an object');
  const o = doc as Record<string, unknown>;
  if (typeof o['version'] !== 'number' || !Number.isInteger(o['version']) || o['version'] < 0) {
    throw new RepositoryOpenError('metadata-invalid', path, 'failed to parse meta.json: missing or invalid "version"');
  }
  const algText = o['algorithm'];
  const algorithm = typeof algText === 'string' && algText.startsWith('fsverity-') ? parseAlgorithmName(algText) : undefined;
  if (algorithm === undefined) {
    throw new RepositoryOpenError('metadata-invalid', path, `failed to parse meta.json: unsupported algorithm ${JSON.stringify(algText)} (fsverity-sha256-12 or fsverity-sha512-12)`);
  }
  const f = (o['features'] ?? {}) as Record<string, unknown>;
  if (typeof f !== 'object' || f === null) throw new RepositoryOpenError('metadata-invalid', path, 'failed to parse meta.json: "features" is not an object');
  const features: FeatureFlags = {
    compatible: stringList(f['compatible'], 'features.compatible', path),
    readOnlyCompatible: stringList(f['read-only-compatible'], 'features.read-only-compatible', path),
    incompatible: stringList(f['incompatible'], 'features.incompatible', path),
  };
  let erofsFormats: FormatConfig = { default: 2, extra: [] };
  const ef = o['erofs_formats'];
  if (ef !== undefined) {
    if (typeof ef !== 'object' || ef === null) throw new RepositoryOpenError('metadata-invalid', path, 'failed to parse meta.json: "erofs_formats" is not an object');
    const e = ef as Record<string, unknown>;
    const extra = e['extra'] === undefined ? [] : Array.isArray(e['extra']) ? e['extra'].map((x) => formatVersion(x, path, 'erofs_formats.extra')) : [formatVersion(e['extra'], path, 'erofs_formats.extra')];
    erofsFormats = { default: formatVersion(e['default'], path, 'erofs_formats.default'), extra: [...new Set(extra)].sort() };
  }
  return { version: o['version'], algorithm, features, erofsFormats };
}

/**
 * The EROFS formats this repository writes (`RepoMetadata::format_config`):
 * an explicit config wins; the serde default {default: 2} means V1 when the
 * v1_erofs flag is present and V2 otherwise (legacy repositories).
 */
export function formatConfigOf(meta: RepoMetadata): FormatConfig {
  const e = meta.erofsFormats;
  const isLegacyDefault = e.default === 2 && e.extra.length === 0;
  if (!isLegacyDefault) return e;
  if (meta.features.readOnlyCompatible.includes(FEATURE_V1_EROFS)) return { default: 1, extra: [] };
  return { default: 2, extra: [] };
}

export interface CompatibilityCheck {
  /** Unknown ro-compat features: non-empty means the repository may be read but not written. */
  unknownReadOnly: string[];
}

/**
 * `check_compatible`: newer base versions and unknown incompatible features
 * are refused; unknown ro-compat features make the repository read-only;
 * unknown compatible features are ignored. `expected` is the algorithm the
 * caller asked for, if any.
 * @throws RepositoryOpenError `unsupported-version` | `algorithm-mismatch` | `incompatible-features`
 */
export function checkCompatible(meta: RepoMetadata, path: string, expected?: VerityAlgorithm): CompatibilityCheck {
  if (meta.version > REPO_FORMAT_VERSION) {
    throw new RepositoryOpenError('unsupported-version', path, `unsupported repository format version ${meta.version} (this tool supports up to ${REPO_FORMAT_VERSION})`);
  }
  if (expected !== undefined && expected !== meta.algorithm) {
    throw new RepositoryOpenError('algorithm-mismatch', path, `repository algorithm ${algorithmName(meta.algorithm)} does not match expected ${algorithmName(expected)}`);
  }
  const incompat = meta.features.incompatible.filter((f) => !KNOWN_INCOMPAT.includes(f));
  if (incompat.length > 0) {
    throw new RepositoryOpenError('incompatible-features', path, `repository requires unknown incompatible features: ${incompat.map((f) => JSON.stringify(f)).join(', ')}`, {
      hint: 'a newer composefs tool created this repository; use that tool',
    });
  }
  void KNOWN_COMPAT;
  return { unknownReadOnly: meta.features.readOnlyCompatible.filter((f) => !KNOWN_RO_COMPAT.includes(f)) };
}

/** Structural equality as composefs-rs compares configs on re-init (`existing == meta`). */
export function sameMetadata(a: RepoMetadata, b: RepoMetadata): boolean {
  return formatMetadata(a) === formatMetadata(b);
}
