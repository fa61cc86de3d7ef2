/**
 * Owns the composefs dumpfile text format (composefs.md §5.6): the parser accepts
 * both the C (`composefs-info dump`, mkcomposefs input) and the composefs-rs
 * dialects, strict or not, with C mkcomposefs's limits and hardlink fix-ups; the
 * printer writes the composefs-rs dialect. Errors name the line and the reason.
 */
import { FormatError } from '../util/errors.js';
import { Dir, Leaf, TYPE_BITS, makeStat, printable, walk, linkCounts, type Inode, type LeafData, type LeafType, type Stat } from './tree.js';

export interface ParseOptions {
  /** C's CFS_PARSE_STRICT: final newline required, symlink size = target length, rdev 0 on non-devices. */
  strict?: boolean;
}

const PATH_MAX = 4096;
const INLINE_CONTENT_MAX = 5000;
const EXTERNAL_XATTR_MAX = 32767;
const MAX_CHUNKS = 1024;

const TYPE_BY_BITS: ReadonlyMap<number, LeafType | 'dir'> = new Map([
  [0o040000, 'dir'],
  [0o100000, 'reg'],
  [0o120000, 'symlink'],
  [0o020000, 'chr'],
  [0o060000, 'blk'],
  [0o010000, 'fifo'],
  [0o140000, 'sock'],
]);

const HEX = /^[0-9a-fA-F]*$/;

/** Undoes the dumpfile escapes of a field (a byte string) into a byte string. */
export function unescapeField(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = s[++i];
    if (e === undefined) throw new Error('no character after escape');
    if (e === '\\') out += '\\';
    else if (e === 'n') out += '\n';
    else if (e === 'r') out += '\r';
    else if (e === 't') out += '\t';
    else if (e === 'x') {
      const h = s.slice(i + 1, i + 3);
      if (h.length < 2) throw new Error('no hex characters after hex escape');
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error('invalid hex characters after hex escape');
      out += String.fromCharCode(parseInt(h, 16));
      i += 2;
    } else throw new Error(`unsupported escape type ${printable(e)}`);
  }
  return out;
}

function optional(s: string): string | null {
  return s === '-' ? null : unescapeField(s);
}

function parseUint(s: string, base: 8 | 10, what: string): bigint {
  const ok = base === 10 ? /^[0-9]+$/.test(s) : /^[0-7]+$/.test(s);
  if (!ok) throw new Error(`invalid integer ${printable(s)} for ${what}`);
  const v = base === 10 ? BigInt(s) : BigInt('0o' + s);
  if (v > 0xffffffffffffffffn) throw new Error(`${what} out of range: ${s}`);
  return v;
}

function safeNumber(v: bigint, what: string, max: bigint = BigInt(Number.MAX_SAFE_INTEGER)): number {
  if (v > max) throw new Error(`${what} out of range: ${v}`);
  return Number(v);
}

/** Chunk count of an external file of `size` bytes (composefs.md §5.3.6). */
export function chunkCount(size: bigint): bigint {
  if (size === 0n) return 0n;
  let bits = (size - 1n).toString(2).length;
  if (size === 1n) bits = 0;
  const chunkbits = BigInt(Math.min(Math.max(12, bits), 43));
  return (size + (1n << chunkbits) - 1n) >> chunkbits;
}

interface Fixup {
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

/** Parses a dumpfile (bytes or a byte string) into a validated tree. */
export function parseDumpfile(input: Uint8Array | string, opts: ParseOptions = {}): Dir {
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
  const strict = opts.strict === true;
  let root: Dir | undefined;
  const fixups: Fixup[] = [];
  const placeholders = new Map<Leaf, Fixup>();
  let start = 0;
  let lineNo = 0;
  let missingNewline = 0;
  while (start < text.length) {
    lineNo++;
    let end = text.indexOf('\n', start);
    const unterminated = end < 0;
    if (unterminated) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    try {
      root = parseLine(line, root, fixups, placeholders, strict, lineNo);
      if (unterminated && strict) missingNewline = lineNo;
    } catch (err) {
      if (err instanceof FormatError) throw err;
      throw new FormatError(`line ${lineNo}: ${(err as Error).message}`);
    }
  }
  if (root === undefined) throw new FormatError('no root directory line (/) in dumpfile');
  const r = root;
  const resolve = (f: Fixup): Leaf => {
    if (f.resolved) return f.resolved;
    const fail = (msg: string): never => {
      throw new FormatError(`line ${f.line}: ${msg}`);
    };
    if (f.resolving) fail(`hardlink cycle through ${printable(f.target ?? '')}`);
    if (f.target === null) fail('no target path for the hardlink');
    const target = lookupC(r, f.target!);
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
  if (missingNewline > 0) throw new FormatError(`line ${missingNewline}: missing trailing newline`);
  return r;
}

function parseLine(line: string, root: Dir | undefined, fixups: Fixup[], placeholders: Map<Leaf, Fixup>, strict: boolean, lineNo: number): Dir {
  if (line.includes('\0')) throw new Error(`invalid embedded NUL character at position ${line.indexOf('\0')}`);
  const f: string[] = [];
  let pos = 0;
  for (let i = 0; i < 11; i++) {
    const sp = line.indexOf(' ', pos);
    if (sp < 0) {
      f.push(line.slice(pos));
      pos = line.length + 1;
    } else {
      f.push(line.slice(pos, sp));
      pos = sp + 1;
    }
  }
  const rest = pos <= line.length ? line.slice(pos) : '';
  const path = unescapeField(f[0]!);
  if (path === '') throw new Error('invalid empty path');
  let modeField = f[2]!;
  const isHardlink = modeField.startsWith('@');
  if (isHardlink) modeField = modeField.slice(1);
  const mode = Number(parseUint(modeField, 8, 'mode') & 0xffffffffn);
  const type = TYPE_BY_BITS.get(mode & 0o170000);
  if (type === undefined) throw new Error(`invalid mode ${mode.toString(8)} (no file type)`);

  let parent: Dir | undefined;
  let key = '';
  if (path === '/') {
    if (type !== 'dir' || isHardlink) throw new Error('root must be a directory');
    if (root !== undefined) throw new Error("can't have multiple roots");
  } else {
    if (root === undefined) throw new Error('root node not present');
    const parts = path.split('/').filter((c) => c !== '');
    const last = path.endsWith('/') ? '' : parts.pop();
    if (last === undefined || last === '') throw new Error(`invalid empty name in path ${printable(path)}`);
    let cur: Inode = root;
    for (const c of parts) {
      const next: Inode | undefined = cur.kind === 'dir' ? cur.getKey(c) : undefined;
      if (next === undefined || placeholders.has(next as Leaf)) throw new Error(`parent directory missing for ${printable(path)}`);
      cur = next;
    }
    if (cur.kind !== 'dir') throw new Error(`parent must be a directory for ${printable(path)}`);
    if (last === '.' || last === '..') throw new Error(`invalid . or .. in path: ${printable(path)}`);
    if (last.length > 255) throw new Error(`name too long in path ${printable(path)}`);
    if (cur.getKey(last) !== undefined) throw new Error(`path ${printable(path)} already exists`);
    parent = cur;
    key = last;
  }

  if (isHardlink) {
    if (type === 'dir') throw new Error('directories can not be hardlinked');
    const placeholder = new Leaf(makeStat(), { type: 'fifo' });
    const fx: Fixup = { placeholder, parent: parent!, key, target: optional(f[8]!), line: lineNo };
    fixups.push(fx);
    placeholders.set(placeholder, fx);
    parent!.entries.set(key, placeholder);
    return root!;
  }

  const size = parseUint(f[1]!, 10, 'size');
  const nlink = parseUint(f[3]!, 10, 'nlink');
  const uid = parseUint(f[4]!, 10, 'uid');
  const gid = parseUint(f[5]!, 10, 'gid');
  const rdev = parseUint(f[6]!, 10, 'rdev');
  const mt = f[7]!;
  const dot = mt.indexOf('.');
  if (dot < 0) throw new Error(`invalid mtime ${printable(mt)}`);
  const mtimeSec = safeNumber(parseUint(mt.slice(0, dot), 10, 'mtime'), 'mtime');
  const mtimeNsec = safeNumber(parseUint(mt.slice(dot + 1), 10, 'mtime nsec'), 'mtime nsec', 0xffffffffn);
  const payload = optional(f[8]!);
  const content = optional(f[9]!);
  if (content !== null && BigInt(content.length) !== size) throw new Error(`invalid content size ${content.length}, must match size ${size}`);
  const digest = optional(f[10]!);

  const stat: Stat = {
    mode: mode & 0o7777,
    uid: safeNumber(uid & 0xffffffffn, 'uid'),
    gid: safeNumber(gid & 0xffffffffn, 'gid'),
    mtimeSec,
    mtimeNsec,
    xattrs: new Map(),
  };
  if (type !== 'chr' && type !== 'blk' && strict && rdev !== 0n) throw new Error('non-zero devnum on non-device');

  let data: LeafData | undefined;
  if (type === 'symlink') {
    if (payload === null || payload === '') throw new Error('invalid symlink: empty target');
    if (payload.length >= PATH_MAX) throw new Error(`invalid symlink: target of ${payload.length} bytes is too long`);
    if (strict) {
      if (size !== BigInt(payload.length)) throw new Error(`invalid symlink size ${size}, must match target length ${payload.length}`);
      if (content !== null && content.length > 0) throw new Error('symlink cannot have content');
    }
    data = { type: 'symlink', target: Buffer.from(payload, 'latin1') };
  } else {
    if (payload !== null && payload.length >= PATH_MAX) throw new Error(`invalid payload: ${payload.length} bytes is too long`);
    if (content !== null && content.length > INLINE_CONTENT_MAX) {
      throw new Error(`inline content size ${content.length} exceeds maximum ${INLINE_CONTENT_MAX}`);
    }
    if (type === 'reg') {
      let d: Buffer | null = null;
      if (digest !== null) {
        if ((digest.length !== 64 && digest.length !== 128) || !HEX.test(digest)) throw new Error(`invalid digest ${printable(digest)}`);
        d = Buffer.from(digest, 'hex');
      }
      const c = content !== null && content.length > 0 ? Buffer.from(content, 'latin1') : null;
      if (c === null && size > 0n && chunkCount(size) > BigInt(MAX_CHUNKS)) throw new Error(`file size ${size} is too big (more than ${MAX_CHUNKS} chunks)`);
      data = { type: 'reg', size, content: c, payload: payload !== null ? Buffer.from(payload, 'latin1') : null, digest: d };
    } else if (type === 'chr' || type === 'blk') {
      data = { type, rdev: safeNumber(rdev, 'rdev') };
    } else if (type === 'fifo' || type === 'sock') {
      data = { type };
    }
  }

  if (rest.length > 0xffff) throw new Error('too many xattrs');
  let xattrSize = 0;
  if (rest.length > 0) {
    for (const x of rest.split(' ')) {
      const eq = x.indexOf('=');
      if (eq < 0) throw new Error(`missing = in xattr ${printable(x.slice(0, 40))}`);
      const k = unescapeField(x.slice(0, eq));
      const v = unescapeField(x.slice(eq + 1));
      if (k.length === 0 || k.length > 255 || k.includes('\0')) throw new Error(`invalid xattr key ${printable(k.slice(0, 40))} (must be 1..255 bytes)`);
      if (v.length > 0xffff) throw new Error(`xattr ${printable(k)} value of ${v.length} bytes is too long`);
      const old = stat.xattrs.get(k);
      if (old !== undefined) {
        xattrSize -= 7 + k.length + old.length;
        if (stat.xattrs.size === 1) xattrSize = 0;
        stat.xattrs.delete(k);
      }
      const entry = 7 + k.length + v.length + (stat.xattrs.size === 0 ? 12 : 0);
      if (xattrSize + entry > EXTERNAL_XATTR_MAX) throw new Error(`xattrs too large (over ${EXTERNAL_XATTR_MAX} bytes) at ${printable(k)}`);
      xattrSize += entry;
      stat.xattrs.set(k, Buffer.from(v, 'latin1'));
    }
  }

  let inode: Inode;
  if (type === 'dir') inode = new Dir(stat);
  else {
    const leaf = new Leaf(stat, data!);
    leaf.nlink = safeNumber(nlink & 0xffffffffn, 'nlink');
    if (parent !== undefined) leaf.home = { dir: parent, key };
    inode = leaf;
  }
  if (parent === undefined) return inode as Dir;
  parent.entries.set(key, inode);
  return root!;
}

// ---------------------------------------------------------------- printer

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

function escapeOptional(s: string | null): string {
  if (s === null || s === '') return '-';
  if (s === '-') return '\\x2d';
  return escapeField(s);
}

function latin1(b: Buffer | null): string | null {
  return b === null ? null : b.toString('latin1');
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
    const s = inode.stat;
    let size = 0n;
    let nlink: number;
    let rdev = 0;
    let payload: string | null = null;
    let content: string | null = null;
    let digest = '-';
    let bits: number;
    if (inode.kind === 'dir') {
      bits = 0o040000;
      nlink = 2;
      for (const c of inode.entries.values()) if (c.kind === 'dir') nlink++;
    } else {
      firstPath.set(inode, path);
      nlink = inode.nlink ?? counts.get(inode) ?? 1;
      const d = inode.data;
      bits = TYPE_BITS[d.type];
      if (d.type === 'reg') {
        size = d.size;
        payload = latin1(d.payload);
        content = latin1(d.content);
        if (d.digest !== null) digest = d.digest.toString('hex');
      } else if (d.type === 'symlink') {
        size = BigInt(d.target.length);
        payload = d.target.toString('latin1');
      } else if (d.type === 'chr' || d.type === 'blk') rdev = d.rdev;
    }
    let line = `${p} ${size} ${(bits | s.mode).toString(8)} ${nlink} ${s.uid} ${s.gid} ${rdev} ${s.mtimeSec}.${s.mtimeNsec} ${escapeOptional(payload)} ${escapeOptional(content)} ${digest}`;
    const keys = [...s.xattrs.keys()].sort();
    for (const k of keys) line += ` ${escapeField(k, true)}=${escapeField(s.xattrs.get(k)!.toString('latin1'), true)}`;
    lines.push(line);
  });
  lines.push('');
  return Buffer.from(lines.join('\n'), 'latin1');
}
