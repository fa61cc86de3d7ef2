/**
 * Owns the ESP's mount lifetime (bootc.md §2): an ESP already mounted at
 * /boot, /efi or /boot/efi is reused as is; otherwise the partition found
 * next to the physical root is mounted on a private dir under
 * `<root>/run/tsbootc/` and unmounted, and the dir removed, when the scope
 * ends, also on error. Nothing mounted by tsbootc outlives the verb.
 */
import { randomBytes } from 'node:crypto';
import type { Host } from '../sys/host.js';
import { formatErrorChain, TsbootcError, withContext } from '../util/errors.js';
import { findColocatedEsp, mountAt, mountedEsp, type MountInfo } from './detect.js';
import { readMounts, RUN_TSBOOTC } from './usr-overlay.js';
import * as C from './constants.js';

export interface EspScope {
  /** Host path of the ESP; mounts it on first use. */
  path(): Promise<string>;
  /** Unmounts and removes what `path()` mounted (no-op for a reused mount). Idempotent. */
  release(): Promise<void>;
}

export function espScope(host: Host, mounts: readonly MountInfo[]): EspScope {
  let located: Promise<string> | undefined;
  let mountedHere: string | undefined;
  const locate = async (): Promise<string> => {
    const existing = mountedEsp(mounts);
    if (existing !== undefined) return existing;
    const sysroot = mountAt(mounts, C.SYSROOT) ?? mountAt(mounts, '/');
    if (sysroot === undefined) throw new TsbootcError('Cannot find the ESP: neither /sysroot nor / in mountinfo');
    const dev = await findColocatedEsp(host.run, sysroot.source);
    const dir = `${RUN_TSBOOTC}/esp.${randomBytes(6).toString('hex')}`;
    await host.root.mkdirp(dir, 0o700);
    try {
      await withContext(`Mounting the ESP ${dev} on ${host.root.resolve(dir)}`, () => host.run.run(['mount', '-t', 'vfat', '-o', C.ESP_MOUNT_OPTIONS, dev, host.root.resolve(dir)]));
    } catch (err) {
      await host.root.rmdir(dir);
      throw err;
    }
    mountedHere = dir;
    return dir;
  };
  return {
    path: () => (located ??= locate()),
    release: async () => {
      if (located !== undefined) await located.catch(() => undefined);
      const dir = mountedHere;
      if (dir === undefined) return;
      mountedHere = undefined;
      await withContext(`Unmounting the ESP from ${host.root.resolve(dir)}`, async () => {
        await host.run.run(['umount', host.root.resolve(dir)]);
        await host.root.rmdir(dir);
      });
    },
  };
}

/** Runs `fn` with the ESP's host path; a mount made for it is undone afterwards, whatever `fn` does. */
export async function withEsp<T>(host: Host, fn: (esp: string) => Promise<T>, mounts?: readonly MountInfo[]): Promise<T> {
  const scope = espScope(host, mounts ?? (await readMounts(host.root)));
  let result: T;
  try {
    result = await fn(await scope.path());
  } catch (err) {
    try {
      await scope.release();
    } catch (cleanup) {
      throw new TsbootcError(`${formatErrorChain(err)} (and cleaning up failed: ${formatErrorChain(cleanup)})`, { cause: err });
    }
    throw err;
  }
  await scope.release();
  return result;
}
