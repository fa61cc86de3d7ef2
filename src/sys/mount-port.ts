/**
 * Owns the mount port: the mount(2)/umount2(2) pair behind an interface, so
 * modules that mount (the /usr overlay) take it as a value and tests can
 * record the calls instead of mounting. The real port is libc.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, mount, umount } from './libc.js';

export interface MountPort {
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): void;
  umount(target: string, flags: number): void;
}

export { MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT };

/** The real port: the system calls. */
export const libcMounts: MountPort = {
  mount: (source, target, fstype, flags, data) => mount(source, target, fstype, flags, data),
  umount: (target, flags) => umount(target, flags),
};

/** A port that records calls as argv-like lists (tests); `hook` sees each call and may return an error to throw. */
export function recordingMounts(hook?: (call: string[]) => Error | undefined): MountPort & { calls: string[][] } {
  const calls: string[][] = [];
  const note = (c: string[]) => {
    calls.push(c);
    const err = hook?.(c);
    if (err !== undefined) throw err;
  };
  return {
    calls,
    mount: (source, target, fstype, flags, data) => note(['mount', fstype, source, target, String(flags), data ?? '']),
    umount: (target, flags) => note(['umount', target, String(flags)]),
  };
}

/** Escapes a path for an overlayfs option list (`\`, `,` and `:` are separators there). */
export function overlayPathOption(p: string): string {
  return p.replace(/[\\,:]/g, (c) => `\\${c}`);
}

/**
 * Mounts a transient overlay on `target` (real path) with `target` itself as
 * the lower layer: a tmpfs is mounted on the empty dir `scratch`, `upper`
 * (owner and mode of `target`) and `work` are made in it, the overlay is
 * mounted, and the tmpfs is detached (the overlay keeps it alive; it goes
 * away with the overlay or at reboot) and `scratch` removed, even on error.
 */
export async function mountTransientOverlay(port: MountPort, target: string, scratch: string, readOnly: boolean): Promise<void> {
  const st = await fs.stat(target);
  port.mount('tmpfs', scratch, 'tmpfs', 0, 'mode=0700');
  try {
    const upper = path.join(scratch, 'upper');
    const work = path.join(scratch, 'work');
    await fs.mkdir(upper);
    await fs.chmod(upper, st.mode & 0o7777);
    await fs.chown(upper, st.uid, st.gid);
    await fs.mkdir(work);
    const data = `lowerdir=${overlayPathOption(target)},upperdir=${overlayPathOption(upper)},workdir=${overlayPathOption(work)}`;
    port.mount('overlay', target, 'overlay', readOnly ? MS_RDONLY : 0, data);
  } finally {
    port.umount(scratch, MNT_DETACH);
    await fs.rmdir(scratch);
  }
}
