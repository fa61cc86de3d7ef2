/**
 * Owns the dumpfile's hardlink fix-ups (composefs.md §5.6): `@` lines become
 * placeholders while parsing and are resolved here, after the last line, to the
 * real leaf they name (following chains, rejecting cycles, self-links, missing
 * targets and directories), as C mkcomposefs does.
 */
import { FormatError } from '../util/errors.js';
import { printable, type Dir, type Inode, type Leaf } from './tree.js';

export interface Fixup {
  placeholder: Leaf;
  parent: Dir;
  key: string;
  target: string | null;
  line: number;
  resolved?: Leaf;
  resolving?: boolean;
}

/** C's lookup: components split on runs of '/'; the named intermediate entries must be directories. */
function lookupC(root: Dir, path: string): Inode | undefined {
  let cur: Inode = root;
  for (const c of path.split('/')) {
    if (c === '') continue;
    if (cur.kind !== 'dir') return undefined;
    const next: Inode | undefined = cur.getKey(c);
    if (next === undefined) return undefined;
    cur = next;
  }
  return cur;
}

/** Replaces every placeholder with the leaf its `@` line names (last line first, as C does). */
export function resolveFixups(root: Dir, fixups: readonly Fixup[], placeholders: ReadonlyMap<Leaf, Fixup>): void {
  const resolve = (f: Fixup): Leaf => {
    if (f.resolved) return f.resolved;
    const fail = (msg: string): never => {
      throw new FormatError(`line ${f.line}: ${msg}`);
    };
    if (f.resolving) fail(`hardlink cycle through ${printable(f.target ?? '')}`);
    if (f.target === null) fail('no target path for the hardlink');
    const target = lookupC(root, f.target!);
    if (target === undefined) fail(`no target at ${printable(f.target!)} for hardlink`);
    if (target === f.placeholder) fail(`self-referential hardlink ${printable(f.target!)}`);
    if (target!.kind === 'dir') fail(`hardlink to a directory: ${printable(f.target!)}`);
    const leaf = target as Leaf;
    const other = placeholders.get(leaf);
    f.resolving = true;
    f.resolved = other ? resolve(other) : leaf;
    f.resolving = false;
    return f.resolved;
  };
  for (let i = fixups.length - 1; i >= 0; i--) resolve(fixups[i]!);
  for (const f of fixups) f.parent.entries.set(f.key, f.resolved!);
}
