/**
 * Owns the real `RepoSyscalls` for the composefs repository: flock(2),
 * the fs-verity ioctls and syncfs(2) over libc.ts (koffi), with the errno
 * mapping the repository expects (no fs-verity → VerityUnsupportedError or
 * "not measured").
 */
import { LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, SyscallError, flock, flockSync, fsverityEnable, fsverityMeasure, syncfs } from './libc.js';
import { VerityUnsupportedError, type LockOp, type RepoSyscalls } from '../composefs/repository/index.js';
import type { VerityAlgorithm } from '../composefs/index.js';

const OPS: Record<LockOp, number> = { shared: LOCK_SH, exclusive: LOCK_EX, unlock: LOCK_UN };
/** Errors meaning "this filesystem (or kernel) has no fs-verity". */
const NO_VERITY = new Set(['EOPNOTSUPP', 'ENOTSUP', 'ENOTTY', 'EINVAL']);

export function realRepoSyscalls(): RepoSyscalls {
  return {
    flock: (fd, op) => flock(fd, OPS[op], `repository fd ${fd}`),
    tryFlockSync: (fd, op) => {
      try {
        flockSync(fd, OPS[op] | LOCK_NB, `repository fd ${fd}`);
        return true;
      } catch (err) {
        if (err instanceof SyscallError && (err.errnoName === 'EWOULDBLOCK' || err.errnoName === 'EAGAIN')) return false;
        throw err;
      }
    },
    enableVerity: (fd: number, alg: VerityAlgorithm) => {
      try {
        fsverityEnable(fd, alg);
      } catch (err) {
        if (err instanceof SyscallError && NO_VERITY.has(err.errnoName)) throw new VerityUnsupportedError(`fd ${fd}`, err.errnoName);
        throw err;
      }
    },
    measureVerity: (fd: number) => {
      try {
        return fsverityMeasure(fd).digest;
      } catch (err) {
        if (err instanceof SyscallError && (err.errnoName === 'ENODATA' || NO_VERITY.has(err.errnoName))) return undefined;
        throw err;
      }
    },
    syncfs: (fd: number) => syncfs(fd, `repository fd ${fd}`),
  };
}
