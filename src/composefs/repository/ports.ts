/**
 * Owns the ports through which the composefs repository reaches the things
 * Node lacks: flock(2), the fs-verity ioctls, syncfs(2) (`RepoSyscalls`) and
 * zstd (`ZstdCodec`). src/composefs may not import src/sys, so the real
 * implementations live in src/sys/repo-syscalls.ts and src/sys/zstd.ts and
 * are injected by the caller (the CLI or tests).
 */
import type { VerityAlgorithm } from '../fsverity.js';

export type LockOp = 'shared' | 'exclusive' | 'unlock';

export interface RepoSyscalls {
  /** flock(2) on `fd`, waiting off the main thread until the lock is granted. */
  flock(fd: number, op: LockOp): Promise<void>;
  /** flock(2) with LOCK_NB: false when another holder blocks it. */
  tryFlockSync(fd: number, op: LockOp): boolean;
  /**
   * FS_IOC_ENABLE_VERITY on a read-only fd (4 KiB blocks, no salt).
   * Throws `VerityUnsupportedError` when the filesystem has no fs-verity
   * (EOPNOTSUPP, ENOTTY); other failures throw with the errno named.
   */
  enableVerity(fd: number, alg: VerityAlgorithm): void;
  /**
   * FS_IOC_MEASURE_VERITY: the kernel's digest, or undefined when the file has
   * no fs-verity (ENODATA) or the filesystem lacks it (EOPNOTSUPP, ENOTTY).
   */
  measureVerity(fd: number): Buffer | undefined;
  /** syncfs(2): the crash barrier before a stream becomes visible. */
  syncfs(fd: number): void;
}

/** zstd as composefs-rs uses it: level 3, streaming (no content size), no checksum. */
export interface ZstdCodec {
  compress(data: Uint8Array): Buffer;
  /**
   * Optional: the same frame built piece by piece, so a splitstream holds its
   * compressed bytes rather than the raw chunk stream. Splitting the input
   * must not change the frame (libzstd: pieces fed with ZSTD_e_continue).
   */
  compressor?(): ZstdCompressor;
  /** Decompresses one or more concatenated frames. */
  decompress(frame: Uint8Array): Buffer;
}

/** One zstd frame being compressed (see ZstdCodec.compressor). */
export interface ZstdCompressor {
  /** Feeds bytes (consumed before it returns: the caller may reuse them). */
  write(data: Uint8Array): void;
  /** Ends the frame; returns all its bytes, in order. Frees the context. */
  finish(): Buffer[];
  /** Frees the context without finishing (idempotent). */
  dispose(): void;
}

/** Diagnostics the repository reports; the caller decides whether to log them. */
export type RepoLogEvent =
  | { kind: 'gc-remove'; path: string; dryRun: boolean }
  | { kind: 'gc-prune'; path: string; dryRun: boolean }
  | { kind: 'gc-dangling-ref'; path: string }
  /** A named ref whose target is not a stream (an EROFS image, or a missing stream): kept live, not walked. */
  | { kind: 'gc-unwalked-ref'; stream: string; ref: string }
  | { kind: 'upgrade'; path: string; algorithm: string; verity: boolean };
