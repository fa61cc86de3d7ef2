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

/** Takes the lock; `wait: false` throws SysrootLockedError when another process holds it. */
export async function lockSysroot(root: Root, opts: { wait: boolean }): Promise<SysrootLock> {
  const file = root.resolve(SYSROOT_LOCK);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  try {
    const sys = realRepoSyscalls();
    if (!sys.tryFlockSync(fd, 'exclusive')) {
      if (!opts.wait) throw new SysrootLockedError(fs.readFileSync(file, 'utf8').trim() || 'unknown');
      await sys.flock(fd, 'exclusive');
    }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let held = true;
  return {
    release: () => {
      if (!held) return;
      held = false;
      fs.closeSync(fd); // closing the last fd drops the flock; the file stays (unlinking would race a waiter)
    },
  };
}
