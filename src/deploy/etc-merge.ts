/**
 * Owns the /etc three-way merge plan (pure). Given snapshots of the pristine
 * /etc (the booted image's), the current /etc (live, with local changes) and
 * the new image's /etc, it lists what the administrator added, modified and
 * removed, and which of those cannot be carried into the new /etc because a
 * file became a directory or the reverse. Semantics follow bootc's etc-merge:
 * local changes win, untouched files follow the new image, local deletions stay
 * deleted; ownership, mode and xattrs count as changes, mtimes do not.
 */
import { lookupDir, type EtcDir, type EtcMeta, type EtcNode } from '../sys/etc-tree.js';

export type { EtcDir, EtcMeta, EtcNode };

function sortedChildren(d: EtcDir): Array<[string, EtcNode]> {
  return [...d.children].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function join(base: string, name: string): string {
  return base === '' ? name : `${base}/${name}`;
}

export interface Unmergeable {
  path: string;
  reason: string;
}

export interface EtcDiff {
  /** Paths in current but not in pristine (directories before their contents). */
  added: string[];
  /** Paths in both whose metadata, content, target or type differ. */
  modified: string[];
  /** Paths in pristine but not in current (a removed directory is listed once). */
  removed: string[];
  unmergeable: Unmergeable[];
}

function metaEqual(a: EtcMeta, b: EtcMeta): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.xattrs.length !== b.xattrs.length) return false;
  return a.xattrs.every(([k, v], i) => b.xattrs[i]?.[0] === k && b.xattrs[i]?.[1] === v);
}

function checkMergeable(newRoot: EtcDir, node: EtcNode, path: string, diff: EtcDiff): void {
  const r = lookupDir(newRoot, path);
  if (node.kind === 'dir' && r.kind === 'not-a-dir') {
    diff.unmergeable.push({ path, reason: `Directory '${path}' now defaults to a file in new etc` });
  } else if (node.kind !== 'dir' && r.kind === 'found') {
    diff.unmergeable.push({ path, reason: `File '${path}' now defaults to a directory in new etc` });
  }
}

function collectAll(d: EtcDir, base: string, out: string[]): void {
  for (const [name, child] of sortedChildren(d)) {
    const p = join(base, name);
    out.push(p);
    if (child.kind === 'dir') collectAll(child, p, out);
  }
}

function leafChanged(old: EtcNode, cur: EtcNode): boolean {
  if (old.kind === 'file' && cur.kind === 'file') return old.hash !== cur.hash;
  if (old.kind === 'symlink' && cur.kind === 'symlink') return old.target !== cur.target;
  return true;
}

function modifications(pristine: EtcDir, current: EtcDir, newRoot: EtcDir, base: string, diff: EtcDiff): void {
  for (const [name, cur] of sortedChildren(current)) {
    const p = join(base, name);
    const old = pristine.children.get(name);
    if (cur.kind === 'dir') {
      if (old === undefined) {
        diff.added.push(p);
        checkMergeable(newRoot, cur, p, diff);
        collectAll(cur, p, diff.added);
      } else if (old.kind !== 'dir') {
        diff.modified.push(p);
        checkMergeable(newRoot, cur, p, diff);
      } else {
        if (!metaEqual(old.meta, cur.meta)) diff.modified.push(p);
        const addedBefore = diff.added.length;
        const modifiedBefore = diff.modified.length;
        modifications(old, cur, newRoot, p, diff);
        if (lookupDir(newRoot, p).kind !== 'found') {
          // Gone (or no longer a directory) in the new /etc, but changed here: bring it back.
          if (diff.added.length !== addedBefore) diff.added.splice(addedBefore, 0, p);
          else if (diff.modified.length !== modifiedBefore) diff.modified.splice(modifiedBefore, 0, p);
        }
        if (diff.added.length !== addedBefore || diff.modified.length !== modifiedBefore) checkMergeable(newRoot, cur, p, diff);
      }
    } else if (old === undefined) {
      diff.added.push(p);
      checkMergeable(newRoot, cur, p, diff);
    } else if (old.kind === 'dir' || !metaEqual(old.meta, cur.meta) || leafChanged(old, cur)) {
      diff.modified.push(p);
      checkMergeable(newRoot, cur, p, diff);
    }
  }
}

function deletions(pristine: EtcDir, current: EtcDir, base: string, diff: EtcDiff): void {
  for (const [name, old] of sortedChildren(pristine)) {
    const p = join(base, name);
    const cur = current.children.get(name);
    if (cur === undefined) diff.removed.push(p);
    else if (old.kind === 'dir' && cur.kind === 'dir') deletions(old, cur, p, diff);
    // A type change is already a modification.
  }
}

/** Computes the three-way diff. `next` is the new image's /etc. */
export function computeEtcDiff(pristine: EtcDir, current: EtcDir, next: EtcDir): EtcDiff {
  const diff: EtcDiff = { added: [], modified: [], removed: [], unmergeable: [] };
  modifications(pristine, current, next, '', diff);
  deletions(pristine, current, '', diff);
  return diff;
}

/** `config-diff` output: one line per path, as bootc prints it (without colour off a TTY). */
export function formatEtcDiff(diff: EtcDiff, color = false): string {
  const paint = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[39m` : s);
  const lines = [
    ...diff.added.map((p) => `${paint(32, 'Added')} ${JSON.stringify(p)}`),
    ...diff.modified.map((p) => `${paint(36, 'Modified')} ${JSON.stringify(p)}`),
    ...diff.removed.map((p) => `${paint(31, 'Removed')} ${JSON.stringify(p)}`),
    ...diff.unmergeable.map((u) => `${paint(35, 'Unmergable')} ${u.reason}`),
  ];
  return lines.length ? lines.join('\n') + '\n' : '';
}
