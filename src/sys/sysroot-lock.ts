/**
 * Owns the sysroot lock that serializes mutating tsbootc processes
 * (docs/decisions/0011-sysroot-lock.md): an exclusive flock(2) on
 * `/run/tsbootc/sysroot.lock` under the Root, holding the holder's pid. It is
 * always taken before the composefs repository's own flock and released after
 * it, so the two can never wait on each other in opposite orders. Failing at
 * once names the holder; waiting (finalize at shutdown) blocks off the main
 * thread. The kernel drops the lock when the process dies, even by SIGKILL.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsbootcError } from '../util/errors.js';
import type { Root } from './root.js';
import { realRepoSyscalls } from './repo-syscalls.js';

export const SYSROOT_LOCK = '/run/tsbootc/sysroot.lock';

export class SysrootLockedError extends TsbootcError {
  constructor(readonly pid: string) {
    super(`another tsbootc is running (pid ${pid})`, { code: 'ERR_LOCKED' });
  }
}

export interface SysrootLock {
  release(): void;
}

/** Opens the lock file, creating it and its directories if needed (`made`: the topmost one made). */
function openLockFile(file: string): { fd: number; made: string | undefined } {
  for (;;) {
    const made = fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    try {
      return { fd: fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644), made };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // the dir was just removed by a releasing holder
    }
  }
}

/** True when `fd` is still the file at `file` (a releasing holder unlinks it). */
function isCurrent(fd: number, file: string): boolean {
  const a = fs.fstatSync(fd);
  const b = fs.statSync(file, { throwIfNoEntry: false });
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

/**
 * Takes the lock; `wait: false` throws SysrootLockedError when another
 * process holds it. The file is unlinked on release (no trace is left on the
 * host), so a lock taken on a file that was unlinked meanwhile is retried.
 */
export async function lockSysroot(root: Root, opts: { wait: boolean }): Promise<SysrootLock> {
  const file = root.resolve(SYSROOT_LOCK);
  const sys = realRepoSyscalls();
  let fd: number;
  let made: string | undefined;
  for (;;) {
    ({ fd, made } = openLockFile(file));
    try {
      if (!sys.tryFlockSync(fd, 'exclusive')) {
        if (!opts.wait) throw new SysrootLockedError(fs.readFileSync(fd, 'utf8').trim() || 'unknown');
        await sys.flock(fd, 'exclusive');
      }
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    if (isCurrent(fd, file)) break;
    fs.closeSync(fd);
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  const lockFd = fd;
  return {
    release: () => {
      if (!held) return;
      held = false;
      // Unlink while holding the lock, then drop it: a waiter on the old inode notices and retries.
      fs.rmSync(file, { force: true });
      // The lock dir, and /run too when this process made it (a fake root): leave the tree as it was.
      const top = made ?? path.dirname(file);
      for (let d = path.dirname(file); d.length >= top.length; d = path.dirname(d)) {
        try {
          fs.rmdirSync(d);
        } catch {
          break; // not empty (a new holder's file) or gone: either is fine
        }
      }
      fs.closeSync(lockFd);
    },
  };
}
