/**
 * Owns the typed errors callers of the composefs repository branch on:
 * why a repository could not be opened, a missing image, and a filesystem
 * without fs-verity. Everything else is a TsbootcError/FormatError with context.
 */
import { TsbootcError } from '../../util/errors.js';

export type RepositoryOpenReason =
  | 'metadata-missing'
  | 'old-format'
  | 'metadata-invalid'
  | 'algorithm-mismatch'
  | 'unsupported-version'
  | 'incompatible-features'
  | 'not-a-directory'
  | 'verity-unsupported'
  | 'config-mismatch'
  | 'io';

/** A repository that cannot be opened (or created) as asked; `reason` says why. */
export class RepositoryOpenError extends TsbootcError {
  readonly reason: RepositoryOpenReason;
  readonly path: string;
  constructor(reason: RepositoryOpenReason, path: string, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(`${path}: ${message}`, { code: 'ERR_REPO_OPEN', ...options });
    this.reason = reason;
    this.path = path;
  }
}
Object.defineProperty(RepositoryOpenError.prototype, 'name', { value: 'RepositoryOpenError', enumerable: false });

/** No image (digest or ref) of that name in the repository. */
export class ImageNotFoundError extends TsbootcError {
  readonly imageName: string;
  constructor(name: string) {
    super(`image not found: ${name}`, { code: 'ERR_IMAGE_NOT_FOUND' });
    this.imageName = name;
  }
}
Object.defineProperty(ImageNotFoundError.prototype, 'name', { value: 'ImageNotFoundError', enumerable: false });

/** The filesystem cannot enable or measure fs-verity (EOPNOTSUPP, ENOTTY). */
export class VerityUnsupportedError extends TsbootcError {
  readonly errnoName: string;
  constructor(what: string, errnoName: string) {
    super(`fs-verity is not supported for ${what} (${errnoName})`, { code: 'ERR_PRECONDITION' });
    this.errnoName = errnoName;
  }
}
Object.defineProperty(VerityUnsupportedError.prototype, 'name', { value: 'VerityUnsupportedError', enumerable: false });

/** A write into a repository that must not be written (ro-compat features, or secure repo from an insecure client). */
export class RepositoryReadOnlyError extends TsbootcError {
  constructor(path: string, why: string) {
    super(`${path}: repository is read-only: ${why}`, { code: 'ERR_PRECONDITION' });
  }
}
Object.defineProperty(RepositoryReadOnlyError.prototype, 'name', { value: 'RepositoryReadOnlyError', enumerable: false });
