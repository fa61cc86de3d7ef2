/**
 * Owns cfsctl's `dump-files` output for selected paths of an image tree:
 * dumpfile lines for a file, or for a directory and everything under it
 * (hardlinks resolved within each requested path, nlinks counted over the
 * whole image), or with `backingPathOnly` the object path of each regular
 * file stored externally (`inline` otherwise). Paths print as given.
 */
import { TsbootcError } from '../util/errors.js';
import { escapeField, printDumpfile } from './dumpfile.js';
import type { Dir, Inode } from './tree.js';

/** Field 0 (path), 2 (mode) and 8 (payload) of a dumpfile line, still escaped. */
function fields(line: string): { path: string; mode: string; payload: string } {
  const f = line.split(' ');
  return { path: f[0] ?? '', mode: f[2] ?? '', payload: f[8] ?? '' };
}

function lookup(root: Dir, given: string): { canonical: string; inode: Inode } {
  const parts = given.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0) throw new TsbootcError(`${given}: not a file name (give a path below /)`);
  let dir: Dir = root;
  let inode: Inode | undefined;
  for (const [i, name] of parts.entries()) {
    inode = dir.get(Buffer.from(name));
    if (inode === undefined || (i < parts.length - 1 && inode.kind !== 'dir')) throw new TsbootcError(`${given} not found`);
    if (inode.kind === 'dir') dir = inode;
  }
  return { canonical: '/' + parts.join('/'), inode: inode! };
}

/**
 * The `dump-files` output for `paths` of the image `root`.
 * @throws TsbootcError naming a path that is missing, or a directory with `backingPathOnly`
 */
export function dumpFiles(root: Dir, paths: readonly string[], backingPathOnly = false): string {
  let lines: string[] | undefined;
  const out: string[] = [];
  for (const given of paths) {
    const { canonical, inode } = lookup(root, given);
    if (backingPathOnly) {
      if (inode.kind === 'dir') throw new TsbootcError(`${given} is a directory`);
      const d = inode.data;
      const hex = d.type === 'reg' && d.digest !== null ? d.digest.toString('hex') : undefined;
      out.push(`${given} ${hex === undefined ? 'inline' : `${hex.slice(0, 2)}/${hex.slice(2)}`}`);
      continue;
    }
    lines ??= printDumpfile(root).toString('latin1').split('\n').slice(0, -1);
    const byPath = new Map(lines.map((l) => [fields(l).path, l]));
    const esc = escapeField(canonical);
    const shown = escapeField(given.replace(/(.)\/+$/, '$1'));
    const start = lines.findIndex((l) => fields(l).path === esc);
    // Hardlinks point at the first path printed for this request, or print in full.
    const printed = new Map<string, string>();
    for (let i = start; i < lines.length; i++) {
      const l = lines[i]!;
      const f = fields(l);
      if (i > start && (inode.kind !== 'dir' || !f.path.startsWith(esc + '/'))) break;
      const display = i === start ? escapeField(given) : shown + f.path.slice(esc.length);
      const target = f.mode.startsWith('@') ? f.payload : f.path;
      const first = printed.get(target);
      if (first !== undefined) out.push(`${display} 0 @120000 - - - - 0.0 ${first} - -`);
      else {
        printed.set(target, display);
        const full = f.mode.startsWith('@') ? byPath.get(target)! : l;
        out.push(display + full.slice(fields(full).path.length));
      }
    }
  }
  return out.map((l) => l + '\n').join('');
}
