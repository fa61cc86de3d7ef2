/**
 * Owns the composefs dumpfile printer (composefs.md §5.6): the composefs-rs
 * dialect (DFS pre-order, hardlinks as `@` lines, sorted xattrs) and the field
 * escaping it uses. The parser lives in dumpfile.ts.
 */
import { TYPE_BITS, walk, linkCounts, type Leaf, type Dir, type LeafData, type Stat } from './tree.js';

/** Escapes bytes (a byte string) the way composefs-rs does; `eq` also escapes '='. */
export function escapeField(s: string, eq = false): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 0x5c) rep = '\\\\';
    else if (c === 0x0a) rep = '\\n';
    else if (c === 0x0d) rep = '\\r';
    else if (c === 0x09) rep = '\\t';
    else if (c < 0x21 || c > 0x7e || (eq && c === 0x3d)) rep = '\\x' + (c < 16 ? '0' : '') + c.toString(16);
    if (rep !== undefined) {
      out += s.slice(from, i) + rep;
      from = i + 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

export function escapeOptional(s: string | null): string {
  if (s === null || s === '') return '-';
  if (s === '-') return '\\x2d';
  return escapeField(s);
}

function latin1(b: Buffer | null): string | null {
  return b === null ? null : b.toString('latin1');
}

/**
 * One dumpfile line for an inode that is not a hardlink repeat: a directory
 * when `data` is undefined, else the leaf's type-specific fields. `p` is the
 * already escaped path.
 */
export function formatDumpLine(p: string, s: Stat, data: LeafData | undefined, nlink: number | bigint): string {
  let size = 0n;
  let rdev = 0;
  let payload: string | null = null;
  let content: string | null = null;
  let digest = '-';
  let bits = 0o040000;
  if (data !== undefined) {
    bits = TYPE_BITS[data.type];
    if (data.type === 'reg') {
      size = data.size;
      payload = latin1(data.payload);
      content = latin1(data.content);
      if (data.digest !== null) digest = data.digest.toString('hex');
    } else if (data.type === 'symlink') {
      size = BigInt(data.target.length);
      payload = data.target.toString('latin1');
    } else if (data.type === 'chr' || data.type === 'blk') rdev = data.rdev;
  }
  let line = `${p} ${size} ${(bits | s.mode).toString(8)} ${nlink} ${s.uid} ${s.gid} ${rdev} ${s.mtimeSec}.${s.mtimeNsec} ${escapeOptional(payload)} ${escapeOptional(content)} ${digest}`;
  for (const k of [...s.xattrs.keys()].sort()) line += ` ${escapeField(k, true)}=${escapeField(s.xattrs.get(k)!.toString('latin1'), true)}`;
  return line;
}

/** Prints a tree as a composefs-rs dialect dumpfile (DFS pre-order, hardlinks as `@` lines). */
export function printDumpfile(root: Dir): Buffer {
  const counts = linkCounts(root);
  const firstPath = new Map<Leaf, string>();
  const lines: string[] = [];
  walk(root, (path, inode, _parent, first) => {
    const p = escapeOptional(path);
    if (inode.kind === 'leaf' && !first) {
      lines.push(`${p} 0 @120000 - - - - 0.0 ${escapeOptional(firstPath.get(inode)!)} - -`);
      return;
    }
    let nlink: number;
    if (inode.kind === 'dir') {
      nlink = 2;
      for (const c of inode.entries.values()) if (c.kind === 'dir') nlink++;
    } else {
      firstPath.set(inode, path);
      nlink = inode.nlink ?? counts.get(inode) ?? 1;
    }
    const line = formatDumpLine(p, inode.stat, inode.kind === 'dir' ? undefined : inode.data, nlink);
    lines.push(line);
  });
  lines.push('');
  return Buffer.from(lines.join('\n'), 'latin1');
}
