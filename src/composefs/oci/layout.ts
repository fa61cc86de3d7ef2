/**
 * Owns reading OCI image layouts (composefs.md §4.3 step 1): a layout directory
 * (`oci:DIR[:TAG]`) or a tar of one (`oci-archive:FILE[:TAG]`, indexed in one
 * streaming pass, then read by byte range), resolving index.json by the
 * `org.opencontainers.image.ref.name` annotation and the platform, and handing out
 * blobs verified against their descriptors (sha256 and size). Manifest and config
 * bytes are returned exactly as stored, because they are stored verbatim later.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { arch } from 'node:os';
import * as path from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { FormatError, oneLine } from '../../util/errors.js';

export const MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MEDIA_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/**
 * Largest manifest or image index (also index.json and a dir: manifest.json) read
 * into memory: containers/image's iolimits.MaxManifestBodySize, as registries enforce.
 */
export const MANIFEST_MAX = 4 * 1024 * 1024;
/** Largest image config read into memory: containers/image's iolimits.MaxConfigBodySize. */
export const CONFIG_MAX = 4 * 1024 * 1024;

/**
 * Reads a whole small file, refusing one larger than `max` before reading it
 * (and one that grows past it while read).
 * @throws FormatError naming `what` and both sizes
 */
export async function readFileAtMost(file: string, max: number, what: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size > max) throw new FormatError(`${what} is ${size} bytes, more than the ${max}-byte limit`);
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > max) throw new FormatError(`${what} is more than the ${max}-byte limit`);
    }
    return Buffer.from(buf.subarray(0, n));
  } finally {
    await fh.close();
  }
}

export interface OciPlatform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string> | undefined;
  platform?: OciPlatform | undefined;
  artifactType?: string | undefined;
}

/** Where blobs come from; `open` is unverified (use verifiedBlob). */
export interface OciStore {
  /** "oci:DIR" or "oci-archive:FILE", for messages. */
  readonly name: string;
  readIndex(): Promise<Buffer>;
  open(digest: string): AsyncIterable<Buffer>;
}

export interface ResolvedImage {
  manifestDigest: string;
  manifestMediaType: string;
  /** The manifest exactly as stored. */
  manifestRaw: Buffer;
  configDigest: string;
  configMediaType: string;
  /** The config exactly as stored. */
  configRaw: Buffer;
  layers: OciDescriptor[];
  /** rootfs.diff_ids for image configs; the layer digests for artifacts (§4.3). */
  diffIds: string[];
  isContainerImage: boolean;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function blobPath(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new FormatError(`unsupported or malformed blob digest ${JSON.stringify(digest)} (only sha256 is supported)`);
  return `blobs/sha256/${digest.slice(7)}`;
}

/** An OCI layout directory. */
export function openOciLayout(dir: string): OciStore {
  return {
    name: `oci:${dir}`,
    readIndex: () => readFileAtMost(path.join(dir, 'index.json'), MANIFEST_MAX, 'index.json'),
    open: (digest) => createReadStream(path.join(dir, blobPath(digest)), { highWaterMark: 1 << 20 }),
  };
}

/**
 * A tar of an OCI layout. One pass over the archive records where each member's
 * bytes are (nothing is kept but offsets); blobs are then read by byte range.
 */
export async function openOciArchive(file: string): Promise<OciStore> {
  const members = new Map<string, { offset: number; size: number }>();
  const ex = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const name = h.name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
      if (h.type === 'file' || h.type === 'contiguous-file') members.set(name, { offset: (h as unknown as { byteOffset: number }).byteOffset, size: h.size });
      stream.on('end', () => next());
      stream.resume();
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      if (!ex.write(chunk as Buffer)) await Promise.race([new Promise<void>((r) => ex.once('drain', () => r())), done]);
    }
    (ex as unknown as { end(): void }).end();
    await done;
  } catch (err) {
    throw new FormatError(`reading OCI archive ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const member = (name: string): { offset: number; size: number } => {
    const m = members.get(name);
    if (m === undefined) throw new FormatError(`OCI archive ${file} has no ${name}`);
    return m;
  };
  async function* range(name: string): AsyncIterable<Buffer> {
    const m = member(name);
    if (m.size === 0) return;
    yield* createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }
  return {
    name: `oci-archive:${file}`,
    readIndex: async () => {
      const m = member('index.json');
      if (m.size > MANIFEST_MAX) throw new FormatError(`index.json is ${m.size} bytes, more than the ${MANIFEST_MAX}-byte limit`);
      return Buffer.concat(await collect(range('index.json'), MANIFEST_MAX, 'index.json'));
    },
    open: (digest) => range(blobPath(digest)),
  };
}

async function collect(it: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of it) {
    n += c.length;
    if (n > max) throw new FormatError(`${what} is more than the ${max}-byte limit`);
    parts.push(c);
  }
  return parts;
}

/**
 * The blob's bytes, checked against the descriptor: the stream fails (after the
 * last chunk, or as soon as it grows past `size`) on a size or sha256 mismatch.
 */
export async function* verifiedBlob(store: OciStore, desc: OciDescriptor): AsyncIterable<Buffer> {
  const h = createHash('sha256');
  let n = 0;
  const what = `blob ${desc.digest} in ${store.name}`;
  blobPath(desc.digest);
  const it = store.open(desc.digest)[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<Buffer>;
    try {
      r = await it.next();
    } catch (err) {
      throw new FormatError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (r.done === true) break;
    const chunk = r.value;
    n += chunk.length;
    if (n > desc.size) {
      await it.return?.();
      throw new FormatError(`${what}: larger than the ${desc.size} bytes its descriptor says`);
    }
    h.update(chunk);
    yield chunk;
  }
  if (n !== desc.size) throw new FormatError(`${what}: ${n} bytes, but its descriptor says ${desc.size}`);
  const got = 'sha256:' + h.digest('hex');
  if (got !== desc.digest) throw new FormatError(`${what}: content digest is ${got}, not the digest its descriptor names`);
}

/** A whole small blob (a manifest, index or config: `kind`), verified; refused unread when its descriptor says it is larger than `max`. */
export async function readVerifiedBlob(store: OciStore, desc: OciDescriptor, kind = 'manifest', max = MANIFEST_MAX): Promise<Buffer> {
  if (!(desc.size >= 0 && desc.size <= max)) throw new FormatError(`${kind} ${desc.digest} in ${store.name}: its descriptor says ${desc.size} bytes, more than the ${max}-byte limit for a ${kind}`);
  return Buffer.concat(await collect(verifiedBlob(store, desc), max, `${kind} ${desc.digest}`));
}

function parseJson(raw: Buffer, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (err) {
    throw new FormatError(`${what}: invalid JSON: ${oneLine(err instanceof Error ? err.message : String(err))}`, { cause: err });
  }
  throw new FormatError(`${what}: not a JSON object`);
}

function descriptor(v: unknown, what: string): OciDescriptor {
  const d = v as Partial<OciDescriptor> | null;
  if (d === null || typeof d !== 'object' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new FormatError(`${what}: malformed descriptor ${JSON.stringify(v)?.slice(0, 200)}`);
  }
  return { ...d, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '' } as OciDescriptor;
}

function descriptors(v: unknown, what: string): OciDescriptor[] {
  if (!Array.isArray(v)) throw new FormatError(`${what}: expected an array of descriptors`);
  return v.map((d, i) => descriptor(d, `${what}[${i}]`));
}

/** Go's GOARCH for Node's os.arch(). */
export function nativePlatform(): OciPlatform {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: map[arch()] ?? arch() };
}

function pickPlatform(list: OciDescriptor[], want: OciPlatform, what: string): OciDescriptor {
  const hit = list.find((d) => d.platform?.os === want.os && d.platform.architecture === want.architecture && (want.variant === undefined || d.platform.variant === want.variant));
  if (hit === undefined) {
    const have = list.map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}` : '?')).join(', ');
    throw new FormatError(`${what}: no manifest for ${want.os}/${want.architecture} (has ${have || 'none'})`);
  }
  return hit;
}

const isIndex = (mt: string): boolean => mt === MEDIA_OCI_INDEX || mt === MEDIA_DOCKER_LIST;

/**
 * Resolves `tag` (or the only image when no tag is given) to a manifest and
 * config, reading and verifying both.
 * @throws FormatError naming the store, tag or digest at fault
 */
export async function resolveOciImage(store: OciStore, tag?: string, platform: OciPlatform = nativePlatform()): Promise<ResolvedImage> {
  let indexRaw: Buffer;
  try {
    indexRaw = await store.readIndex();
  } catch (err) {
    throw new FormatError(`${store.name}: reading index.json: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const index = parseJson(indexRaw, `${store.name}/index.json`);
  const all = descriptors(index['manifests'], `${store.name}/index.json manifests`);
  let cands = tag === undefined ? all : all.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (cands.length === 0) {
    const tags = all.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((t) => t !== undefined);
    throw new FormatError(`${store.name}: no image tagged ${JSON.stringify(tag)} (tags: ${tags.join(', ') || 'none'})`);
  }
  let desc: OciDescriptor;
  if (cands.length === 1) desc = cands[0]!;
  else if (tag === undefined && cands.every((d) => d.platform === undefined)) throw new FormatError(`${store.name}: ${cands.length} images and no tag given`);
  else desc = pickPlatform(cands, platform, store.name);
  for (let depth = 0; isIndex(desc.mediaType); depth++) {
    if (depth > 4) throw new FormatError(`${store.name}: image indexes nested too deeply`);
    const raw = await readVerifiedBlob(store, desc, 'index');
    cands = descriptors(parseJson(raw, `index ${desc.digest}`)['manifests'], `index ${desc.digest} manifests`);
    desc = pickPlatform(cands, platform, `index ${desc.digest}`);
  }
  const manifestRaw = await readVerifiedBlob(store, desc);
  const what = `manifest ${desc.digest}`;
  const manifest = parseJson(manifestRaw, what);
  const mt = typeof manifest['mediaType'] === 'string' ? manifest['mediaType'] : desc.mediaType;
  if (mt !== MEDIA_OCI_MANIFEST && mt !== MEDIA_DOCKER_MANIFEST) throw new FormatError(`${what}: unsupported manifest media type ${JSON.stringify(mt)}`);
  const config = descriptor(manifest['config'], `${what} config`);
  const layers = descriptors(manifest['layers'], `${what} layers`);
  const configRaw = await readVerifiedBlob(store, config, 'config', CONFIG_MAX);
  const isContainerImage = config.mediaType === MEDIA_OCI_CONFIG || config.mediaType === MEDIA_DOCKER_CONFIG;
  let diffIds = layers.map((l) => l.digest);
  if (isContainerImage) {
    const rootfs = parseJson(configRaw, `config ${config.digest}`)['rootfs'] as { diff_ids?: unknown } | undefined;
    const ids = rootfs?.diff_ids;
    if (!Array.isArray(ids) || !ids.every((x): x is string => typeof x === 'string' && DIGEST_RE.test(x))) throw new FormatError(`config ${config.digest}: rootfs.diff_ids missing or malformed`);
    if (ids.length !== layers.length) throw new FormatError(`config ${config.digest}: ${ids.length} diff_ids for ${layers.length} layers in ${what}`);
    diffIds = ids;
  }
  return { manifestDigest: desc.digest, manifestMediaType: mt, manifestRaw, configDigest: config.digest, configMediaType: config.mediaType, configRaw, layers, diffIds, isContainerImage };
}
