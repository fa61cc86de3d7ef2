/**
 * Owns committing a staged set of boot entries: `loader/entries.staged` →
 * `loader/entries` (BLS) and `grub2/user.cfg.staged` → `grub2/user.cfg`.
 * Fast path: renameat2(RENAME_EXCHANGE) of the two directories, then the old
 * set is removed (what bootc does). On filesystems without RENAME_EXCHANGE
 * (FAT: EINVAL) a roll-forward sequence keeps a bootable default at every
 * step and is completed by the next run (docs/decisions/0004-boot-entry-exchange.md):
 *   1. write the commit marker `entries.staged/.tsbootc-commit`;
 *   2. copy each staged `.conf` into `entries/` by atomic replace (write a
 *      temp file, rename over), the new default first;
 *   3. delete entries in `entries/` that are not in the staged set;
 *   4. remove the staged `.conf` files, then `entries.staged` with the marker
 *      (a marker without `.conf` files means only cleanup was left).
 */
import type { Root } from '../sys/root.js';
import { SyscallError } from '../sys/libc.js';
import { StateCorruptError, withContext } from '../util/errors.js';
import { crashPoint, type CrashHook } from '../util/crash-point.js';
import { CONF_EXT, ENTRIES_DIR, ENTRIES_STAGED_DIR, USER_CFG, USER_CFG_STAGED } from './constants.js';

export const COMMIT_MARKER = '.tsbootc-commit';
const NO_EXCHANGE = new Set(['EINVAL', 'ENOSYS', 'EOPNOTSUPP', 'ENOTSUP']);

export interface ExchangeOpts {
  /** Test hook: called after each named step; throwing simulates a crash there. */
  step?: (name: string) => void;
  /** Test hook: replaces renameat2(RENAME_EXCHANGE) (e.g. to fail with EINVAL like FAT). */
  exchange?: (a: string, b: string) => void;
  /** The order staged entries are copied in (first = the new default); default: by name. */
  order?: readonly string[];
  /** Fault injection at the crash points of the exchange (util/crash-point.ts). */
  crash?: CrashHook | undefined;
}

/** Makes `loader/entries` the staged set. `bootDir` is the host path of the dir holding `loader/`. */
export async function commitStagedBls(root: Root, bootDir: string, opts: ExchangeOpts = {}): Promise<'exchanged' | 'rolled-forward'> {
  const live = `${bootDir}/${ENTRIES_DIR}`;
  const staged = `${bootDir}/${ENTRIES_STAGED_DIR}`;
  return withContext(`Committing ${staged}`, async () => {
    if (!(await root.listDir(staged)).some((n) => n.endsWith(CONF_EXT))) throw new StateCorruptError(`${staged} holds no entries; refusing to replace ${live} with nothing`);
    await root.mkdirp(live);
    await root.syncDir(staged);
    try {
      (opts.exchange ?? ((a, b) => root.exchange(a, b)))(staged, live);
    } catch (err) {
      if (!(err instanceof SyscallError && NO_EXCHANGE.has(err.errnoName))) throw err;
      await rollForward(root, bootDir, opts, true);
      return 'rolled-forward';
    }
    opts.step?.('exchanged');
    crashPoint(opts, 'exchange:after-exchange');
    await root.syncDir(`${bootDir}/loader`);
    await root.remove(staged);
    await root.syncDir(`${bootDir}/loader`);
    return 'exchanged';
  });
}

/** True when a FAT roll-forward was interrupted and must be completed. */
export async function hasPendingCommit(root: Root, bootDir: string): Promise<boolean> {
  return root.exists(`${bootDir}/${ENTRIES_STAGED_DIR}/${COMMIT_MARKER}`);
}

/** Completes an interrupted roll-forward (idempotent); no-op when none is pending. */
export async function completePendingCommit(root: Root, bootDir: string, opts: ExchangeOpts = {}): Promise<boolean> {
  if (!(await hasPendingCommit(root, bootDir))) return false;
  await withContext(`Completing the interrupted commit of ${bootDir}/${ENTRIES_STAGED_DIR}`, () => rollForward(root, bootDir, opts, false));
  return true;
}

async function rollForward(root: Root, bootDir: string, opts: ExchangeOpts, fresh: boolean): Promise<void> {
  const live = `${bootDir}/${ENTRIES_DIR}`;
  const staged = `${bootDir}/${ENTRIES_STAGED_DIR}`;
  const marker = `${staged}/${COMMIT_MARKER}`;
  if (fresh) {
    await root.writeAtomic(marker, '');
    opts.step?.('marker');
    crashPoint(opts, 'exchange:fat-after-marker');
  }
  const names = (await root.listDir(staged)).filter((n) => n.endsWith(CONF_EXT) && !n.startsWith('.'));
  if (names.length === 0) {
    // Interrupted during cleanup: everything was copied already; never empty the live set.
    await root.remove(staged);
    return;
  }
  const order = [...(opts.order ?? []).filter((n) => names.includes(n)), ...names.filter((n) => !(opts.order ?? []).includes(n))];
  for (const n of order) {
    await root.writeAtomic(`${live}/${n}`, await root.readBytes(`${staged}/${n}`));
    opts.step?.(`copy ${n}`);
    crashPoint(opts, 'exchange:fat-after-copy');
  }
  for (const n of await root.listDir(live)) {
    if (names.includes(n)) continue;
    await root.remove(`${live}/${n}`);
    opts.step?.(`delete ${n}`);
    crashPoint(opts, 'exchange:fat-after-delete');
  }
  await root.syncDir(live);
  crashPoint(opts, 'exchange:fat-before-cleanup');
  for (const n of names) await root.remove(`${staged}/${n}`);
  await root.remove(staged);
  opts.step?.('cleanup');
}

/** Makes `grub2/user.cfg` the staged one: rename(2) replaces a file atomically, even on FAT. */
export async function commitStagedUserCfg(root: Root, bootDir: string, opts: ExchangeOpts = {}): Promise<void> {
  await withContext(`Committing ${bootDir}/${USER_CFG_STAGED}`, async () => {
    await root.rename(`${bootDir}/${USER_CFG_STAGED}`, `${bootDir}/${USER_CFG}`);
    opts.step?.('renamed');
    await root.syncDir(`${bootDir}/grub2`);
  });
}
