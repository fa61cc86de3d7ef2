/**
 * Owns the check that keeps tsbootc's writes inside the trees it manages
 * (issue #10 item 5): below a trusted base directory (a Root's prefix, the
 * sysroot, the ESP), no existing component of a path that is about to be
 * written, created, renamed or removed may be a symlink. A link planted at
 * `state/deploy/<id>/etc -> /` or `boot/EFI/Linux -> /tmp/x` would otherwise
 * redirect the write outside the tree; tsbootc refuses instead, naming the
 * path and the link. The base itself is trusted (`--root /tmp/x` may sit
 * under a symlinked /tmp). Each component is checked with lstat(2), which
 * never follows the link it looks at.
 */
import * as fs from 'node:fs/promises';
import { lstatSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { TsbootcError } from '../util/errors.js';

/** A symlink found where tsbootc writes. */
export class PlantedSymlinkError extends TsbootcError {
  constructor(
    readonly target: string,
    readonly link: string,
    readonly linkTarget: string,
  ) {
    super(`refusing to write ${target}: ${link} is a symlink (to ${linkTarget}), not part of the tree tsbootc manages`, { code: 'ERR_STATE_CORRUPT' });
  }
}

/**
 * Throws PlantedSymlinkError when a component of `rel` (relative to the
 * trusted `base`) is a symlink: every component but the last, and the last
 * too with `final` (a directory tsbootc writes into, or a tree it copies
 * over). Missing components end the walk (they will be created as real
 * directories). Errors name real paths (the Root's prefix included).
 */
export async function assertNoSymlinks(base: string, rel: string, opts: { final?: boolean } = {}): Promise<void> {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  const n = opts.final === true ? parts.length : parts.length - 1;
  let cur = base;
  for (let i = 0; i < n; i++) {
    cur = path.join(cur, parts[i]!);
    let st: import('node:fs').Stats;
    try {
      st = await fs.lstat(cur);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    if (st.isSymbolicLink()) {
      const link = `${base}/${parts.slice(0, i + 1).join('/')}`.replace(/^\/\//, '/');
      throw new PlantedSymlinkError(`${base}/${parts.join('/')}`.replace(/^\/\//, '/'), link, await fs.readlink(cur).catch(() => '?'));
    }
  }
}

/** assertNoSymlinks for synchronous callers (renameat2 exchange). */
export function assertNoSymlinksSync(base: string, rel: string, opts: { final?: boolean } = {}): void {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  const n = opts.final === true ? parts.length : parts.length - 1;
  let cur = base;
  for (let i = 0; i < n; i++) {
    cur = path.join(cur, parts[i]!);
    const st = lstatSync(cur, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isSymbolicLink()) {
      let to = '?';
      try {
        to = readlinkSync(cur);
      } catch {
        // keep '?'
      }
      throw new PlantedSymlinkError(`${base}/${parts.join('/')}`.replace(/^\/\//, '/'), `${base}/${parts.slice(0, i + 1).join('/')}`.replace(/^\/\//, '/'), to);
    }
  }
}
