/**
 * Owns the public surface of the composefs repository: the Repository
 * handle, its ports, typed errors, metadata, splitstream format, GC and fsck
 * result types and renderers.
 */
export { Repository, type RepositoryOptions, type EnsureStatus } from './repository.js';
export type { RepoSyscalls, ZstdCodec, ZstdCompressor, LockOp, RepoLogEvent } from './ports.js';
export { RepositoryOpenError, ImageNotFoundError, VerityUnsupportedError, RepositoryReadOnlyError, type RepositoryOpenReason } from './errors.js';
export { type ObjectId, type ImageObjectCollector, objectRelPath, parseObjectIdArg, isObjectId } from './core.js';
export {
  REPO_METADATA_FILENAME,
  REPO_FORMAT_VERSION,
  FEATURE_V1_EROFS,
  algorithmName,
  parseAlgorithmName,
  newMetadata,
  formatMetadata,
  parseMetadata,
  formatConfigOf,
  type RepoMetadata,
  type FormatConfig,
  type ErofsFormatVersion,
  type FeatureFlags,
} from './metadata.js';
export { SplitStreamWriter, contentTypeOf, CONTENT_TYPE } from './splitstream.js';
export { parseSplitStream, type SplitStream, type SplitStreamChunk } from './splitstream-reader.js';
export { relativeSymlinkTarget, escapeTag, unescapeTag, type RefEntry } from './refs.js';
export type { EnsureObjectResult, StoreMethod } from './objects.js';
export { MEMORY_OBJECT_MAX, type ObjectBuilder, type ObjectWriter } from './object-builder.js';
export type { OpenedImage, ImageRef } from './images.js';
export type { GcOptions, GcResult } from './gc.js';
export { formatFsck, fsckJson, fsckOk, type FsckResult, type FsckError, type FsckErrorKind, type FsckOptions } from './fsck.js';
export type { ResolvedTag } from './tags.js';
