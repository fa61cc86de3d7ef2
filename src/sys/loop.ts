/**
 * Owns loop devices: attaching an image file (`losetup --find --show
 * --partscan`), making its partition nodes appear without udev, and detaching
 * it again (`withLoopDevice`, cleanup in finally).
 *
 * On hosts without udev, kernel partscan may not create `loopNpK`
 * (environment.md §7); `partx -a` (BLKPG) adds them at once and devtmpfs makes
 * the nodes. After a repartition, `partx -u` brings the kernel's view up to date.
 */
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbootcError, withContext } from '../util/errors.js';
import { partitionPath } from './blockdev.js';
import type { Host } from './host.js';

/** How long to wait for devtmpfs to create a partition node after partx. */
const NODE_WAIT_MS = 2000;
const NODE_POLL_MS = 20;

export async function attachLoop(host: Host, file: string): Promise<string> {
  return withContext(`Attaching ${file} to a loop device`, async () => {
    const r = await host.run.run(['losetup', '--find', '--show', '--partscan', file]);
    const dev = r.stdout.trim();
    if (!/^\/dev\/loop\d+$/.test(dev)) throw new TsbootcError(`losetup printed an unexpected device name: ${JSON.stringify(dev)}`);
    return dev;
  });
}

/** Removes the partition nodes partx added (ignoring "none"), then detaches. */
export async function detachLoop(host: Host, loop: string): Promise<void> {
  await withContext(`Detaching ${loop}`, async () => {
    const r = await host.run.run(['partx', '-d', loop], { allowFailure: true });
    if (r.exitCode !== 0) host.log.debug({ kind: 'step', message: `partx -d ${loop} exited ${r.exitCode} (no partitions to remove): ${r.stderr.trim()}` });
    await host.run.run(['losetup', '--detach', loop]);
  });
}

/** Attaches `file`, runs `fn` with the loop device path, and always detaches. `onAttach` runs first (a journal for crash recovery). */
export async function withLoopDevice<T>(host: Host, file: string, fn: (loop: string) => Promise<T>, onAttach?: (loop: string) => Promise<void>): Promise<T> {
  const loop = await attachLoop(host, file);
  let result: T;
  try {
    await onAttach?.(loop);
    result = await fn(loop);
  } catch (err) {
    try {
      await detachLoop(host, loop);
    } catch (cleanupErr) {
      host.log.warn({ kind: 'warning', message: `could not detach ${loop}: ${String(cleanupErr)}` });
    }
    throw err;
  }
  await detachLoop(host, loop);
  return result;
}

/**
 * Makes `/dev/<disk>pN` exist for every partition number given: nothing when
 * the nodes are there, `partx -a` when the kernel knows none of the disk's
 * partitions, `partx -u` when it knows an outdated set.
 */
export async function ensurePartitionNodes(host: Host, disk: string, partnos: readonly number[]): Promise<void> {
  await withContext(`Creating partition nodes for ${disk}`, async () => {
    const nodes = partnos.map((n) => partitionPath(disk, n));
    if (await allExist(host, nodes)) return;
    const base = path.basename(disk);
    const known = (await host.root.listDir(`/sys/class/block/${base}`)).filter((e) => e.startsWith(base) && e !== base);
    await host.run.run(['partx', known.length === 0 ? '-a' : '-u', disk]);
    for (let waited = 0; !(await allExist(host, nodes)); waited += NODE_POLL_MS) {
      if (waited >= NODE_WAIT_MS) {
        const missing: string[] = [];
        for (const n of nodes) if (!(await host.root.exists(n))) missing.push(n);
        throw new TsbootcError(`partition nodes did not appear after partx: ${missing.join(', ')}`);
      }
      await sleep(NODE_POLL_MS);
    }
  });
}

async function allExist(host: Host, nodes: readonly string[]): Promise<boolean> {
  for (const n of nodes) if (!(await host.root.exists(n))) return false;
  return true;
}

/** Parses `losetup -j FILE` (`/dev/loop0: [65024]:2148087 (/path)` lines) into loop device paths. */
export function parseLosetupAssociations(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])
    .filter((d): d is string => d !== undefined);
}

/** The loop devices `file` is attached to (e.g. mounted with `-o loop`). */
export async function findLoopDevicesFor(host: Host, file: string): Promise<string[]> {
  return withContext(`Looking for loop devices backed by ${file}`, async () => parseLosetupAssociations((await host.run.run(['losetup', '--associated', file])).stdout));
}
