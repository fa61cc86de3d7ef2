/**
 * Owns the scratch state of an install and its recovery after a kill
 * (decision 0017). Every install works in `<parent>/.tsbootc-install-<pid>-<rand>/`
 * (parent: beside the disk image, --work-dir, or the OS temp dir) holding an
 * `owner` file (pid and process start time) and a `loops` journal (one
 * `<loop device> <backing file>` line per loop device it attached, written
 * before the device is used). A SIGKILLed install leaves the directory, the
 * root mounted below it and the loop device attached; the next install with
 * the same parent finds directories whose owner is gone and, before doing
 * anything else, unmounts what is mounted below them (deepest first),
 * detaches the journaled loop devices that still have the same backing file,
 * and removes them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readMountinfo } from '../sys/blockdev.js';
import type { Host } from '../sys/host.js';
import { umount } from '../sys/libc.js';
import { detachLoop } from '../sys/loop.js';
import { formatIdentity, isAlive, parseIdentity, selfIdentity } from '../sys/process-identity.js';
import { formatErrorChain, withContext } from '../util/errors.js';

export const SCRATCH_PREFIX = '.tsbootc-install-';
const OWNER = 'owner';
const LOOPS = 'loops';

export interface Scratch {
  dir: string;
  /** Journals a loop device before it is used, so a killed run's device can be detached. */
  recordLoop(loop: string, file: string): Promise<void>;
}

export interface StaleCleanup {
  dir: string;
  pid: number | undefined;
  unmounted: string[];
  detached: string[];
}

/** The backing file of a loop device (`losetup --list -n -O BACK-FILE`), undefined when it is not attached. */
async function backingFile(host: Host, loop: string): Promise<string | undefined> {
  const r = await host.run.run(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE', loop], { allowFailure: true });
  const f = r.stdout.trim().replace(/ \(deleted\)$/, '');
  return r.exitCode === 0 && f !== '' ? f : undefined;
}

/** Unmounts, detaches and removes one stale scratch directory. */
async function cleanOne(host: Host, dir: string, pid: number | undefined): Promise<StaleCleanup> {
  const out: StaleCleanup = { dir, pid, unmounted: [], detached: [] };
  const mounts = (await readMountinfo(host.root)).map((m) => m.mountPoint).filter((m) => m.startsWith(dir + '/'));
  for (const m of [...new Set(mounts)].sort().reverse()) {
    try {
      umount(m);
    } catch {
      umount(m, 2); // MNT_DETACH: nothing of ours may stay busy, but the tree must go
    }
    out.unmounted.push(m);
  }
  const journal = (await fs.readFile(path.join(dir, LOOPS), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  for (const line of journal.reverse()) {
    const sp = line.indexOf(' ');
    const loop = line.slice(0, sp);
    const file = line.slice(sp + 1);
    if (!/^\/dev\/loop\d+$/.test(loop)) continue;
    const back = await backingFile(host, loop);
    if (back === undefined || path.resolve(back) !== path.resolve(file)) continue; // detached already, or reused for something else
    await detachLoop(host, loop);
    out.detached.push(loop);
  }
  await fs.rm(dir, { recursive: true, force: true });
  return out;
}

/** Cleans every scratch directory under `parent` whose owner is no longer running. */
export async function cleanStaleScratch(host: Host, parent: string): Promise<StaleCleanup[]> {
  const done: StaleCleanup[] = [];
  let names: string[];
  try {
    names = await fs.readdir(parent);
  } catch {
    return done;
  }
  for (const name of names.filter((n) => n.startsWith(SCRATCH_PREFIX)).sort()) {
    const dir = path.join(parent, name);
    const owner = await fs.readFile(path.join(dir, OWNER), 'utf8').catch(() => undefined);
    const id = owner === undefined ? undefined : parseIdentity(owner);
    if (id !== undefined && (await isAlive(host.root, id))) continue;
    if (id === undefined) {
      // No owner file: a run killed between mkdtemp and writing it, or not ours. Only a pid in the name can tell.
      const pid = /^\.tsbootc-install-(\d+)-/.exec(name)?.[1];
      if (pid === undefined || (await isAlive(host.root, { pid: Number(pid), startTime: undefined }))) continue;
    }
    try {
      const c = await withContext(`Cleaning up the scratch state of a killed install in ${dir}`, () => cleanOne(host, dir, id?.pid));
      host.log.info({ kind: 'message', message: `removed the scratch state of a killed install (pid ${c.pid ?? '?'}): ${dir}${c.unmounted.length > 0 ? `, unmounted ${c.unmounted.join(', ')}` : ''}${c.detached.length > 0 ? `, detached ${c.detached.join(', ')}` : ''}` });
      done.push(c);
    } catch (err) {
      host.log.warn({ kind: 'warning', message: `could not clean up ${dir}: ${formatErrorChain(err)}` });
    }
  }
  return done;
}

/** Cleans stale scratch state under `parent`, then runs `fn` in a new scratch directory, removed afterwards. */
export async function withScratch<T>(host: Host, parent: string, fn: (s: Scratch) => Promise<T>): Promise<T> {
  await fs.mkdir(parent, { recursive: true });
  await cleanStaleScratch(host, parent);
  const me = await selfIdentity(host.root);
  const dir = path.join(parent, `${SCRATCH_PREFIX}${me.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(dir, { mode: 0o700 });
  await fs.writeFile(path.join(dir, OWNER), formatIdentity(me));
  const scratch: Scratch = {
    dir,
    recordLoop: async (loop, file) => {
      const h = await fs.open(path.join(dir, LOOPS), 'a');
      try {
        await h.write(`${loop} ${path.resolve(file)}\n`);
        await h.sync();
      } finally {
        await h.close();
      }
    },
  };
  try {
    return await fn(scratch);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
