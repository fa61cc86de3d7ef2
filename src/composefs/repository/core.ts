/**
 * Owns the state every repository area works on (`RepoCore`: the directory,
 * its locked fd, the algorithm, secure/insecure, the injected ports) and the
 * small helpers they share: object ids as hex, object paths, temp names, and
 * the writability gate.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestSize, type VerityAlgorithm } from '../fsverity.js';
import { FormatError, TsbootcError } from '../../util/errors.js';
import type { CrashHook } from '../../util/crash-point.js';
import type { RepoLogEvent, RepoSyscalls, ZstdCodec } from './ports.js';
import { RepositoryReadOnlyError } from './errors.js';
import type { FormatConfig, RepoMetadata } from './metadata.js';

/** An object id: the fs-verity digest as lowercase hex (64 or 128 characters). */
export type ObjectId = string;

/** Reads an EROFS image and returns the object ids its metacopy/redirect xattrs reference (§5.5). */
export type ImageObjectCollector = (image: Buffer, algorithm: VerityAlgorithm) => Iterable<ObjectId>;

export interface RepoCore {
  /** The repository directory as given (absolute or relative to the cwd). */
  readonly path: string;
  /** O_RDONLY fd of the directory; holds the shared flock while open. */
  readonly fd: number;
  readonly algorithm: VerityAlgorithm;
  /** True when meta.json has no fs-verity: object ids are computed in userspace. */
  readonly insecure: boolean;
  /** Why writes are refused (unknown ro-compat features; insecure client on a secure repo). */
  readonly readOnlyReason: string | undefined;
  readonly metadata: RepoMetadata;
  readonly formats: FormatConfig;
  readonly sys: RepoSyscalls;
  readonly zstd: ZstdCodec | undefined;
  readonly collectImageObjects: ImageObjectCollector | undefined;
  readonly log: (e: RepoLogEvent) => void;
  /**
   * `objects/` and the `objects/XX` directories this handle has created or
   * seen, so each is made once per handle, not once per object. GC never
   * removes them; a directory removed behind our back is recreated on ENOENT.
   */
  readonly objectDirs: Set<string>;
  /** Fault injection between the steps of writes and GC (util/crash-point.ts). */
  readonly crash?: CrashHook | undefined;
}

/** Throws unless the repository may be written. */
export function assertWritable(core: RepoCore): void {
  if (core.readOnlyReason !== undefined) throw new RepositoryReadOnlyError(core.path, core.readOnlyReason);
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** 12 random alphanumeric characters, as `generate_tmpname`. */
export function tmpSuffix(): string {
  const b = randomBytes(12);
  let s = '';
  for (const x of b) s += ALNUM[x % ALNUM.length];
  return s;
}

export function hexLength(alg: VerityAlgorithm): number {
  return digestSize(alg) * 2;
}

export function isObjectId(text: string, alg: VerityAlgorithm): boolean {
  return text.length === hexLength(alg) && /^[0-9a-f]+$/.test(text);
}

/** `objects/XX/YYYY…`, relative to the repository. */
export function objectRelPath(id: ObjectId): string {
  return `objects/${id.slice(0, 2)}/${id.slice(2)}`;
}

/**
 * Parses the trailing `XX/YYYY…` of a symlink target (`from_object_pathname`):
 * exactly 2·size+1 characters after the last `../`-style prefix.
 * @throws FormatError naming `what`
 */
export function idFromObjectPathname(target: string, alg: VerityAlgorithm, what: string): ObjectId {
  const n = hexLength(alg) + 1;
  const tail = target.slice(-n);
  const id = tail.slice(0, 2) + tail.slice(3);
  if (target.length < n || tail[2] !== '/' || !isObjectId(id, alg)) {
    throw new FormatError(`${what}: symlink target ${JSON.stringify(target)} does not name an object`);
  }
  return id;
}

/** Parses `sha256:<hex>`/`sha512:<hex>` or bare hex of the repository's algorithm. */
export function parseObjectIdArg(text: string, alg: VerityAlgorithm): ObjectId | undefined {
  const bare = text.startsWith(`${alg}:`) ? text.slice(alg.length + 1) : text;
  return isObjectId(bare, alg) ? bare : undefined;
}

export function idToBytes(id: ObjectId): Buffer {
  return Buffer.from(id, 'hex');
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
}

/**
 * Throws when the repository directory `rel` (objects, objects/XX, images,
 * streams, streams/refs/…) is a symlink: a link planted there would send
 * object writes, or GC's deletions, outside the repository (issue #10).
 * Absent is fine (the caller creates it as a real directory).
 */
export function assertRealDir(core: Pick<RepoCore, 'path'>, rel: string): void {
  const abs = path.join(core.path, rel);
  const st = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (st === undefined || !st.isSymbolicLink()) return;
  let to = '?';
  try {
    to = fs.readlinkSync(abs);
  } catch {
    // keep '?'
  }
  throw new TsbootcError(`refusing to use ${abs}: it is a symlink (to ${to}), not a directory of the repository`, { code: 'ERR_STATE_CORRUPT' });
}
