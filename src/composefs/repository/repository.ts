/**
 * Owns the composefs repository handle (composefs-rs `Repository`):
 * creating, opening, ensuring and upgrading a repository directory, the
 * shared flock held while it is open (exclusive during GC), secure vs
 * insecure mode, and the public verbs, which delegate to the area modules.
 *
 *   <repo>/ meta.json
 *           objects/XX/YYYY…            objects.ts
 *           images/<hex>, images/refs/  images.ts
 *           streams/<id>, streams/refs/ streams.ts, splitstream.ts
 *   GC: gc.ts (exclusive lock), integrity: fsck.ts, symlinks: refs.ts
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { VerityAlgorithm } from '../fsverity.js';
import { errnoCode, tmpSuffix, type ImageObjectCollector, type ObjectId, type RepoCore } from './core.js';
import { RepositoryOpenError, VerityUnsupportedError } from './errors.js';
import { checkCompatible, formatConfigOf, formatMetadata, newMetadata, parseMetadata, REPO_METADATA_FILENAME, sameMetadata, type ErofsFormatVersion, type FormatConfig, type RepoMetadata } from './metadata.js';
import { RepoVerbs } from './verbs.js';
import { collectObjects } from '../erofs/reader.js';
import type { RepoLogEvent, RepoSyscalls, ZstdCodec } from './ports.js';
import type { CrashHook } from '../../util/crash-point.js';

export type EnsureStatus = 'opened' | 'created' | 'upgraded';

export interface RepositoryOptions {
  sys: RepoSyscalls;
  /** Needed for splitstreams (src/sys/zstd.ts provides libzstd). */
  zstd?: ZstdCodec;
  /** Walks images in GC/fsck/image-objects; default: the EROFS reader's collectObjects (V0/V1/V2). */
  collectImageObjects?: ImageObjectCollector;
  log?: (e: RepoLogEvent) => void;
  /** init: the algorithm to create (default sha512, as cfsctl); open: the one expected, if any. */
  algorithm?: VerityAlgorithm;
  /** init: create without fs-verity. open: a client that does not do fs-verity, so it never writes into a secure repository. */
  insecure?: boolean;
  /** init: the EROFS format (default V1); open: override for this handle. */
  erofsVersion?: ErofsFormatVersion;
  /** Refuse an insecure repository. */
  requireVerity?: boolean;
  /** Fault injection (util/crash-point.ts). */
  crash?: CrashHook | undefined;
}

function openDirFd(p: string): number {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTDIR') throw new RepositoryOpenError('not-a-directory', p, 'not a directory');
    if (code === 'ENOENT') throw new RepositoryOpenError('metadata-missing', p, 'repository directory does not exist; create it with `init`', { cause: err });
    throw new RepositoryOpenError('io', p, 'cannot open the repository directory', { cause: err });
  }
  return fd;
}

/** Writes meta.json atomically (temp in the repo root, fs-verity unless insecure, then link). Returns false if it already exists. */
async function writeMetadataFile(repoPath: string, meta: RepoMetadata, sys: RepoSyscalls, verity: boolean): Promise<boolean> {
  const tmp = path.join(repoPath, `.tmp-meta-${tmpSuffix()}`);
  try {
    const fh = await fsp.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(formatMetadata(meta));
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (verity) {
      const fd = fs.openSync(tmp, 'r');
      try {
        sys.enableVerity(fd, meta.algorithm);
      } finally {
        fs.closeSync(fd);
      }
    }
    try {
      await fsp.link(tmp, path.join(repoPath, REPO_METADATA_FILENAME));
      return true;
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return false;
      throw err;
    }
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** `infer_metadata`: the algorithm from the first object name's length, and whether that object has fs-verity. */
async function inferMetadata(repoPath: string, sys: RepoSyscalls): Promise<{ algorithm: VerityAlgorithm; verity: boolean }> {
  const objects = path.join(repoPath, 'objects');
  for (const sub of (await fsp.readdir(objects)).sort()) {
    if (sub.length !== 2) continue;
    const names = await fsp.readdir(path.join(objects, sub)).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const algorithm = name.length === 62 ? 'sha256' : name.length === 126 ? 'sha512' : undefined;
      if (algorithm === undefined) continue;
      const fd = fs.openSync(path.join(objects, sub, name), 'r');
      try {
        return { algorithm, verity: sys.measureVerity(fd) !== undefined };
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  throw new RepositoryOpenError('old-format', repoPath, 'no objects found in repository — cannot infer metadata');
}

export class Repository extends RepoVerbs {
  private constructor(core: RepoCore) {
    super(core);
  }

  /**
   * Opens an existing repository and takes the shared lock (waiting while GC runs).
   * @throws RepositoryOpenError (`metadata-missing`, `old-format`, `metadata-invalid`, `algorithm-mismatch`, `unsupported-version`, `incompatible-features`, …)
   */
  static async open(repoPath: string, opts: RepositoryOptions): Promise<Repository> {
    const fd = openDirFd(repoPath);
    try {
      await opts.sys.flock(fd, 'shared');
      let text: string;
      try {
        text = await fsp.readFile(path.join(repoPath, REPO_METADATA_FILENAME), 'utf8');
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw new RepositoryOpenError('io', repoPath, 'cannot read meta.json', { cause: err });
        if (fs.existsSync(path.join(repoPath, 'objects'))) {
          throw new RepositoryOpenError('old-format', repoPath, 'meta.json not found; this appears to be an old-format repository — open it with upgrade (cfsctl: default; `init` migrates it)');
        }
        throw new RepositoryOpenError('metadata-missing', repoPath, 'meta.json not found; this repository must be initialized with `init`');
      }
      const metadata = parseMetadata(text, repoPath);
      const compat = checkCompatible(metadata, repoPath, opts.algorithm);
      const metaFd = fs.openSync(path.join(repoPath, REPO_METADATA_FILENAME), 'r');
      let secure: boolean;
      try {
        secure = opts.sys.measureVerity(metaFd) !== undefined;
      } finally {
        fs.closeSync(metaFd);
      }
      if (opts.requireVerity === true && !secure) {
        throw new RepositoryOpenError('verity-unsupported', repoPath, 'fs-verity is required but this repository is insecure (meta.json has no fs-verity)');
      }
      let readOnlyReason: string | undefined;
      if (compat.unknownReadOnly.length > 0) readOnlyReason = `unknown read-only-compatible features: ${compat.unknownReadOnly.join(', ')}`;
      else if (secure && opts.insecure === true) readOnlyReason = 'it requires fs-verity on every object and this client is --insecure';
      const formats: FormatConfig = opts.erofsVersion !== undefined ? { default: opts.erofsVersion, extra: [] } : formatConfigOf(metadata);
      return new Repository({
        path: repoPath,
        fd,
        algorithm: metadata.algorithm,
        insecure: !secure,
        readOnlyReason,
        metadata,
        formats,
        sys: opts.sys,
        zstd: opts.zstd,
        collectImageObjects: opts.collectImageObjects ?? ((image) => collectObjects(image)),
        log: opts.log ?? (() => undefined),
        objectDirs: new Set(),
        crash: opts.crash,
      });
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /**
   * Creates a repository (mode 0700) with meta.json, or opens it if it exists
   * with the same configuration. `created` is false in that case.
   * @throws RepositoryOpenError `verity-unsupported` (secure on a filesystem without fs-verity: use insecure), `config-mismatch`
   */
  static async init(repoPath: string, opts: RepositoryOptions): Promise<{ repo: Repository; created: boolean }> {
    {
      const meta = newMetadata(opts.algorithm ?? 'sha512', { default: opts.erofsVersion ?? 1, extra: [] });
      await fsp.mkdir(path.dirname(path.resolve(repoPath)), { recursive: true });
      let madeDir = true;
      await fsp.mkdir(repoPath, { mode: 0o700 }).catch((err: unknown) => {
        if (errnoCode(err) !== 'EEXIST') throw err;
        madeDir = false;
      });
      const existing = await fsp.readFile(path.join(repoPath, REPO_METADATA_FILENAME), 'utf8').catch(() => undefined);
      let created = false;
      if (existing === undefined) {
        try {
          created = await writeMetadataFile(repoPath, meta, opts.sys, opts.insecure !== true);
        } catch (err) {
          if (madeDir) await fsp.rmdir(repoPath).catch(() => undefined);
          if (err instanceof VerityUnsupportedError) {
            throw new RepositoryOpenError('verity-unsupported', repoPath, `cannot create a secure repository: the filesystem does not support fs-verity (${err.errnoName}); use --insecure to create a repository without fs-verity`, {
              hint: 'pass --insecure (object ids are then computed in userspace and nothing is verity-protected)',
            });
          }
          throw err;
        }
      }
      if (!created) {
        const found = parseMetadata(existing ?? (await fsp.readFile(path.join(repoPath, REPO_METADATA_FILENAME), 'utf8')), repoPath);
        if (!sameMetadata(found, meta)) {
          throw new RepositoryOpenError(
            'config-mismatch',
            repoPath,
            `repository already initialized with different configuration (algorithm: fsverity-${found.algorithm}-12, erofs_version: V${formatConfigOf(found).default}); cannot re-initialize with (algorithm: fsverity-${meta.algorithm}-12, erofs_version: V${meta.erofsFormats.default})`,
          );
        }
      }
      const { erofsVersion: _ignored, ...openOpts } = opts;
      void _ignored;
      return { repo: await Repository.open(repoPath, openOpts), created };
    }
  }

  /**
   * `open_upgrade`: opens, and if the repository predates meta.json, writes one
   * inferred from the objects (algorithm from the name length, fs-verity probed
   * on one object, EROFS V2 as legacy repositories used) and opens that.
   */
  static async openUpgrade(repoPath: string, opts: RepositoryOptions): Promise<{ repo: Repository; upgraded: boolean }> {
    try {
      return { repo: await Repository.open(repoPath, opts), upgraded: false };
    } catch (err) {
      if (!(err instanceof RepositoryOpenError) || err.reason !== 'old-format') throw err;
    }
    const inferred = await inferMetadata(repoPath, opts.sys);
    if (opts.algorithm !== undefined && opts.algorithm !== inferred.algorithm) {
      throw new RepositoryOpenError('algorithm-mismatch', repoPath, `inferred algorithm fsverity-${inferred.algorithm}-12 does not match expected fsverity-${opts.algorithm}-12`);
    }
    await writeMetadataFile(repoPath, newMetadata(inferred.algorithm, { default: 2, extra: [] }), opts.sys, inferred.verity);
    opts.log?.({ kind: 'upgrade', path: repoPath, algorithm: inferred.algorithm, verity: inferred.verity });
    return { repo: await Repository.open(repoPath, opts), upgraded: true };
  }

  /** `ensure_path`: open, create, or upgrade, whichever applies. */
  static async ensure(repoPath: string, opts: RepositoryOptions): Promise<{ repo: Repository; status: EnsureStatus }> {
    await fsp.mkdir(repoPath, { mode: 0o700, recursive: true });
    try {
      return { repo: await Repository.open(repoPath, opts), status: 'opened' };
    } catch (err) {
      if (!(err instanceof RepositoryOpenError)) throw err;
      if (err.reason === 'metadata-missing') return { repo: (await Repository.init(repoPath, opts)).repo, status: 'created' };
      if (err.reason === 'old-format') return { repo: (await Repository.openUpgrade(repoPath, opts)).repo, status: 'upgraded' };
      throw err;
    }
  }

  /** Releases the lock and the directory fd. */
  close(): void {
    fs.closeSync(this.core.fd);
  }

  get path(): string {
    return this.core.path;
  }
  get algorithm(): VerityAlgorithm {
    return this.core.algorithm;
  }
  get insecure(): boolean {
    return this.core.insecure;
  }
  get readOnlyReason(): string | undefined {
    return this.core.readOnlyReason;
  }
  get metadata(): RepoMetadata {
    return this.core.metadata;
  }
  get formatConfig(): FormatConfig {
    return this.core.formats;
  }
  /** The EROFS version new images get. */
  get erofsVersion(): ErofsFormatVersion {
    return this.core.formats.default;
  }
}

export type { ObjectId };
