/**
 * Owns OCI images as stored in a composefs repository (composefs.md §3.5,
 * §4.1, §4.2; composefs-oci oci_image.rs): the stream names
 * (`oci-manifest-`, `oci-config-`, `oci-layer-`), the named refs that link
 * manifest → config → layers → EROFS images, writing the config and manifest
 * splitstreams around the raw JSON bytes (never re-serialized), opening an
 * image by tag or manifest digest, and tags under `streams/refs/oci/`.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { FormatError, TsbootcError, withContext } from '../../util/errors.js';
import { CONTENT_TYPE, escapeTag, unescapeTag, type ErofsFormatVersion, type ObjectId, type Repository } from '../repository/index.js';
import { MEDIA_DOCKER_CONFIG, MEDIA_OCI_CONFIG } from './layout.js';

export const IMAGE_REF_KEY = 'composefs.image';
export const IMAGE_REF_KEY_V1 = 'composefs.image.v1';
export const BOOT_IMAGE_REF_KEY = 'composefs.image.boot';
export const BOOT_IMAGE_REF_KEY_V1 = 'composefs.image.boot.v1';
export const OCI_REF_PREFIX = 'oci/';

export const manifestStreamName = (digest: string): string => `oci-manifest-${digest}`;
export const configStreamName = (digest: string): string => `oci-config-${digest}`;
export const layerStreamName = (diffId: string): string => `oci-layer-${diffId}`;

/** EROFS image ids keyed by format epoch: `v1` (V0/V1 images) and `v2`. */
export interface ImageIds {
  v1?: ObjectId;
  v2?: ObjectId;
}

/** The config named-ref key of an image of `version` (boot variant with `boot`). */
export function imageRefKey(version: ErofsFormatVersion, boot: boolean): string {
  if (boot) return version === 2 ? BOOT_IMAGE_REF_KEY : BOOT_IMAGE_REF_KEY_V1;
  return version === 2 ? IMAGE_REF_KEY : IMAGE_REF_KEY_V1;
}

/** The slot of `ids` for `version` (V0 and V1 share the epoch-1 slot). */
export function idForVersion(ids: ImageIds, version: ErofsFormatVersion): ObjectId | undefined {
  return version === 2 ? ids.v2 : ids.v1;
}

function checkTagName(name: string): void {
  if (name.length === 0 || name.startsWith('@')) throw new FormatError(`invalid ref name ${JSON.stringify(name)}: empty, or a leading '@' (reserved for digest references)`);
}

export function sha256Digest(data: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export interface StoredImage {
  manifestDigest: string;
  manifestVerity: ObjectId;
  manifestRaw: Buffer;
  configDigest: string;
  configVerity: ObjectId;
  configRaw: Buffer;
  configMediaType: string;
  isContainerImage: boolean;
  /** Layer keys in order (diff_ids for images, layer digests for artifacts). */
  layerKeys: string[];
  /** Layer key → layer splitstream verity. */
  layerRefs: Map<string, ObjectId>;
  imageIds: ImageIds;
  bootImageIds: ImageIds;
  /** Every boot ref of the config (including `.xattrs=` variants), kept on rewrites. */
  bootRefs: Map<string, ObjectId>;
  /** Parsed config (empty object for non-JSON artifact configs). */
  config: Record<string, unknown>;
  manifest: Record<string, unknown>;
}

async function readExternal(repo: Repository, name: string, contentType: bigint): Promise<{ data: Buffer; verity: ObjectId; named: Map<string, ObjectId> }> {
  const ss = await repo.openStream(name, contentType);
  const only = ss.objectRefs[0];
  if (ss.objectRefs.length !== 1 || only === undefined) throw new FormatError(`streams/${name}: expected exactly 1 external object in splitstream, got ${ss.objectRefs.length}`);
  return { data: await repo.readObject(only), verity: ss.id, named: ss.namedRefs };
}

function parseObject(raw: Buffer, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new FormatError(`${what}: not a JSON object`);
}

/**
 * Opens an image by manifest digest (`OciImage::open`): reads the manifest
 * stream, checks its sha256, follows `config:<digest>` to the config stream,
 * and sorts the config's named refs into layers, images and boot images.
 * @throws TsbootcError (ERR_IMAGE_NOT_FOUND) when the manifest stream is absent
 */
export async function openStoredImage(repo: Repository, manifestDigest: string): Promise<StoredImage> {
  return withContext(`Opening OCI image ${manifestDigest}`, async () => {
    const mName = manifestStreamName(manifestDigest);
    if ((await repo.hasStream(mName)) === undefined) throw new TsbootcError(`OCI image not found: ${manifestDigest}`, { code: 'ERR_IMAGE_NOT_FOUND' });
    const m = await readExternal(repo, mName, CONTENT_TYPE.ociManifest);
    const got = sha256Digest(m.data);
    if (got !== manifestDigest) throw new FormatError(`manifest integrity failed: expected ${manifestDigest}, got ${got}`);
    const manifest = parseObject(m.data, `manifest ${manifestDigest}`);
    const cdesc = manifest['config'] as { digest?: unknown; mediaType?: unknown } | undefined;
    if (typeof cdesc?.digest !== 'string') throw new FormatError(`manifest ${manifestDigest}: no config descriptor`);
    const configDigest = cdesc.digest;
    const configVerity = m.named.get(`config:${configDigest}`);
    if (configVerity === undefined) throw new FormatError(`manifest ${manifestDigest}: missing config reference`);
    const c = await readExternal(repo, configStreamName(configDigest), CONTENT_TYPE.ociConfig);
    if (c.verity !== configVerity) throw new FormatError(`streams/${configStreamName(configDigest)} is ${c.verity}, but manifest ${manifestDigest} names ${configVerity}`);
    const configMediaType = typeof cdesc.mediaType === 'string' ? cdesc.mediaType : '';
    const isContainerImage = configMediaType === MEDIA_OCI_CONFIG || configMediaType === MEDIA_DOCKER_CONFIG;
    const layers = Array.isArray(manifest['layers']) ? (manifest['layers'] as { digest?: unknown }[]) : [];
    let config: Record<string, unknown> = {};
    let layerKeys: string[];
    let source: Map<string, ObjectId>;
    if (isContainerImage) {
      config = parseObject(c.data, `config ${configDigest}`);
      const ids = (config['rootfs'] as { diff_ids?: unknown } | undefined)?.diff_ids;
      layerKeys = Array.isArray(ids) ? ids.map(String) : [];
      source = c.named;
    } else {
      layerKeys = layers.map((l) => String(l.digest));
      source = m.named;
    }
    const layerRefs = new Map<string, ObjectId>();
    for (const k of layerKeys) {
      const v = source.get(k);
      if (v === undefined) throw new FormatError(`image ${manifestDigest}: no layer stream reference for ${k}`);
      layerRefs.set(k, v);
    }
    const bootRefs = new Map([...c.named].filter(([k]) => k.startsWith(BOOT_IMAGE_REF_KEY)));
    const opt = (v: ObjectId | undefined): { v1?: ObjectId } => (v === undefined ? {} : { v1: v });
    const opt2 = (v: ObjectId | undefined): { v2?: ObjectId } => (v === undefined ? {} : { v2: v });
    return {
      manifestDigest,
      manifestVerity: m.verity,
      manifestRaw: m.data,
      configDigest,
      configVerity,
      configRaw: c.data,
      configMediaType,
      isContainerImage,
      layerKeys,
      layerRefs,
      imageIds: { ...opt(c.named.get(IMAGE_REF_KEY_V1)), ...opt2(c.named.get(IMAGE_REF_KEY)) },
      bootImageIds: { ...opt(c.named.get(BOOT_IMAGE_REF_KEY_V1)), ...opt2(c.named.get(BOOT_IMAGE_REF_KEY)) },
      bootRefs,
      config,
      manifest,
    };
  });
}

/** The manifest digest a tag points at (`resolve_ref`). */
export async function resolveTag(repo: Repository, name: string): Promise<string> {
  checkTagName(name);
  let target: string;
  try {
    target = await fsp.readlink(path.join(repo.path, 'streams/refs', OCI_REF_PREFIX + escapeTag(name)));
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') throw new TsbootcError(`OCI reference not found: ${name}`, { code: 'ERR_IMAGE_NOT_FOUND' });
    throw err;
  }
  const last = target.split('/').pop() ?? '';
  if (!last.startsWith('oci-manifest-')) throw new FormatError(`tag ${name}: invalid manifest reference ${JSON.stringify(last)}`);
  return last.slice('oci-manifest-'.length);
}

export async function openTaggedImage(repo: Repository, name: string): Promise<StoredImage> {
  return openStoredImage(repo, await resolveTag(repo, name));
}

/** `streams/refs/oci/<enc(name)>` → `oci-manifest-<digest>` (a GC root). */
export async function tagImage(repo: Repository, manifestDigest: string, name: string): Promise<void> {
  checkTagName(name);
  await repo.nameStream(manifestStreamName(manifestDigest), OCI_REF_PREFIX + escapeTag(name));
}

export async function untagImage(repo: Repository, name: string): Promise<void> {
  checkTagName(name);
  await withContext(`Failed to remove tag ${name}`, () => fsp.unlink(path.join(repo.path, 'streams/refs', OCI_REF_PREFIX + escapeTag(name))));
}

/** Every tag with the manifest digest it names, sorted by escaped name (`list_refs`). */
export async function listTags(repo: Repository): Promise<{ name: string; manifestDigest: string }[]> {
  const out: { name: string; manifestDigest: string }[] = [];
  for (const r of await repo.listStreamRefs('oci')) {
    const last = r.target.split('/').pop() ?? '';
    if (!last.startsWith('oci-manifest-')) continue;
    out.push({ name: unescapeTag(r.name.slice(OCI_REF_PREFIX.length)), manifestDigest: last.slice('oci-manifest-'.length) });
  }
  return out;
}

/**
 * Writes `oci-config-<digest>` (`write_config_raw`): layer refs in order,
 * then `composefs.image` (V2), `composefs.image.v1`, then boot refs; the raw
 * config as the one external object. Returns the stream's verity.
 */
export async function writeConfigStream(repo: Repository, raw: Buffer, layers: [string, ObjectId][], images: ImageIds, bootRefs: Map<string, ObjectId>): Promise<ObjectId> {
  const digest = sha256Digest(raw);
  const w = repo.createStream(CONTENT_TYPE.ociConfig);
  for (const [k, v] of layers) w.addNamedStreamRef(k, v);
  if (images.v2 !== undefined) w.addNamedStreamRef(IMAGE_REF_KEY, images.v2);
  if (images.v1 !== undefined) w.addNamedStreamRef(IMAGE_REF_KEY_V1, images.v1);
  for (const [k, v] of bootRefs) w.addNamedStreamRef(k, v);
  await repo.writeExternal(w, raw);
  return repo.writeStream(w, configStreamName(digest));
}

/** Writes `oci-manifest-<digest>`: `config:<digest>` and the layer refs, the raw manifest as the external object. */
export async function writeManifestStream(repo: Repository, raw: Buffer, configDigest: string, configVerity: ObjectId, layers: [string, ObjectId][]): Promise<ObjectId> {
  const w = repo.createStream(CONTENT_TYPE.ociManifest);
  w.addNamedStreamRef(`config:${configDigest}`, configVerity);
  for (const [k, v] of layers) w.addNamedStreamRef(k, v);
  await repo.writeExternal(w, raw);
  return repo.writeStream(w, manifestStreamName(sha256Digest(raw)));
}

/** Resolves a cfsctl image argument: `@sha256:…` or `sha256:…` (manifest digest) or a tag. */
export async function openImageArg(repo: Repository, arg: string): Promise<StoredImage> {
  const digest = arg.startsWith('@') ? arg.slice(1) : /^sha256:[0-9a-f]{64}$/.test(arg) ? arg : undefined;
  if (digest !== undefined) {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new FormatError(`invalid OCI digest after '@': ${JSON.stringify(digest)}`);
    return openStoredImage(repo, digest);
  }
  return openTaggedImage(repo, arg);
}
