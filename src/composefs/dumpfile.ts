/**
 * Owns parsing the composefs dumpfile text format (composefs.md §5.6): both the C
 * (`composefs-info dump`, mkcomposefs input) and the composefs-rs dialects, strict
 * or not, with C mkcomposefs's limits and hardlink fix-ups. Errors name the line
 * and the reason. Field grammar: dumpfile-fields.ts; printer: dumpfile-print.ts.
 *
 * Speed: a real image has ~100k lines, so the parser works on field offsets into
 * one latin1 string of the input, decodes numbers without allocating, slices
 * unescaped payloads and contents out of a private copy of the input bytes (the
 * tree's Buffers share that copy), and remembers the last parent directory.
 */
import { FormatError } from '../util/errors.js';
import { Dir, Leaf, makeStat, printable, type Inode, type LeafData, type Stat } from './tree.js';
import { BIG, chunkCount, parseUint, parseXattrs, safeNumber, splitFields, uintAt, unescapeField } from './dumpfile-fields.js';
import { resolveFixups, type Fixup } from './dumpfile-links.js';

export { chunkCount, unescapeField } from './dumpfile-fields.js';
export { escapeField, printDumpfile } from './dumpfile-print.js';

export interface ParseOptions {
  /** C's CFS_PARSE_STRICT: final newline required, symlink size = target length, rdev 0 on non-devices. */
  strict?: boolean;
}

const PATH_MAX = 4096;
const INLINE_CONTENT_MAX = 5000;
const TWO32 = 0x100000000;
const HEX = /^[0-9a-fA-F]*$/;
const DASH = 0x2d;

/** Parses a dumpfile (bytes or a byte string) into a validated tree. */
export function parseDumpfile(input: Uint8Array | string, opts: ParseOptions = {}): Dir {
  const p = new Parser(input, opts.strict === true);
  return p.run();
}

class Parser {
  readonly text: string;
  /** A private copy of the input bytes: payloads and contents are views into it. */
  readonly bytes: Buffer;
  root: Dir | undefined = undefined;
  readonly fixups: Fixup[] = [];
  readonly placeholders = new Map<Leaf, Fixup>();
  /** Field i of the current line is text[fs[i], fe[i]); field 11 is the xattr rest. */
  readonly fs = new Int32Array(12);
  readonly fe = new Int32Array(12);
  /** The first backslash at or after `bsFrom` (or text.length). */
  bsFrom = 0;
  bsAt = -1;
  firstNul: number;
  /** The parent path (as written, unescaped) of the last entry and its directory. */
  lastParent = '';
  lastParentDir: Dir | undefined = undefined;
  /** The final name of the current line's path (set by `parentOf`). */
  key = '';

  constructor(
    input: Uint8Array | string,
    readonly strict: boolean,
  ) {
    if (typeof input === 'string') {
      this.text = input;
      this.bytes = Buffer.from(input, 'latin1');
    } else {
      this.bytes = Buffer.from(input);
      this.text = this.bytes.toString('latin1');
    }
    this.bsAt = this.text.indexOf('\\');
    this.firstNul = this.text.indexOf('\0');
    if (this.firstNul < 0) this.firstNul = this.text.length;
  }

  run(): Dir {
    const text = this.text;
    let start = 0;
    let lineNo = 0;
    let missingNewline = 0;
    try {
      while (start < text.length) {
        lineNo++;
        let end = text.indexOf('\n', start);
        const unterminated = end < 0;
        if (unterminated) end = text.length;
        this.line(start, end, lineNo);
        if (unterminated && this.strict) missingNewline = lineNo;
        start = end + 1;
      }
    } catch (err) {
      if (err instanceof FormatError) throw err;
      throw new FormatError(`line ${lineNo}: ${(err as Error).message}`);
    }
    if (this.root === undefined) throw new FormatError('no root directory line (/) in dumpfile');
    resolveFixups(this.root, this.fixups, this.placeholders);
    if (missingNewline > 0) throw new FormatError(`line ${missingNewline}: missing trailing newline`);
    return this.root;
  }

  /** True if text[from, to) holds a backslash. Amortised O(1): lines and fields are visited in order. */
  escaped(from: number, to: number): boolean {
    if (from < this.bsFrom || (this.bsAt < from && this.bsAt >= 0)) {
      this.bsFrom = from;
      this.bsAt = this.text.indexOf('\\', from);
    }
    return this.bsAt >= 0 && this.bsAt < to;
  }

  /** Field i as an unescaped byte string. */
  str(i: number): string {
    const s = this.text.slice(this.fs[i]!, this.fe[i]!);
    return this.escaped(this.fs[i]!, this.fe[i]!) ? unescapeField(s) : s;
  }

  /** C's optional field: `-` is absent (null); otherwise its unescaped bytes. */
  bytesOf(i: number): Buffer | null {
    const a = this.fs[i]!;
    const b = this.fe[i]!;
    if (b === a + 1 && this.text.charCodeAt(a) === DASH) return null;
    if (!this.escaped(a, b)) return this.bytes.subarray(a, b);
    return Buffer.from(unescapeField(this.text.slice(a, b)), 'latin1');
  }

  isDash(i: number): boolean {
    return this.fe[i]! === this.fs[i]! + 1 && this.text.charCodeAt(this.fs[i]!) === DASH;
  }

  /** An integer field below 2^53, or BIG. */
  uint(i: number, base: number, what: string): number {
    return uintAt(this.text, this.fs[i]!, this.fe[i]!, base, what);
  }

  line(start: number, end: number, lineNo: number): void {
    if (this.firstNul < end) throw new Error(`invalid embedded NUL character at position ${this.firstNul - start}`);
    splitFields(this.text, start, end, this.fs, this.fe);
    const text = this.text;
    // The path, as a string `ps` and range [pa, pb) in it.
    let ps = text;
    let pa = this.fs[0]!;
    let pb = this.fe[0]!;
    if (this.escaped(pa, pb)) {
      ps = unescapeField(text.slice(pa, pb));
      pa = 0;
      pb = ps.length;
    }
    if (pa === pb) throw new Error('invalid empty path');
    let ma = this.fs[2]!;
    const isHardlink = ma < this.fe[2]! && text.charCodeAt(ma) === 0x40;
    if (isHardlink) ma++;
    let mode = uintAt(text, ma, this.fe[2]!, 8, 'mode');
    mode = mode === BIG ? Number(parseUint(text.slice(ma, this.fe[2]!), 8, 'mode') & 0xffffffffn) : mode % TWO32;
    const fmt = mode & 0o170000;
    const isDir = fmt === 0o040000;
    if (!isDir && fmt !== 0o100000 && fmt !== 0o120000 && fmt !== 0o020000 && fmt !== 0o060000 && fmt !== 0o010000 && fmt !== 0o140000) {
      throw new Error(`invalid mode ${mode.toString(8)} (no file type)`);
    }

    let parent: Dir | undefined;
    let key = '';
    if (pb - pa === 1 && ps.charCodeAt(pa) === 0x2f) {
      if (!isDir || isHardlink) throw new Error('root must be a directory');
      if (this.root !== undefined) throw new Error("can't have multiple roots");
    } else {
      parent = this.parentOf(ps, pa, pb);
      key = this.key;
    }

    if (isHardlink) {
      if (isDir) throw new Error('directories can not be hardlinked');
      const placeholder = new Leaf(makeStat(), { type: 'fifo' });
      const fx: Fixup = { placeholder, parent: parent!, key, target: this.isDash(8) ? null : this.str(8), line: lineNo };
      this.fixups.push(fx);
      this.placeholders.set(placeholder, fx);
      parent!.entries.set(key, placeholder);
      return;
    }

    const size = this.uint(1, 10, 'size');
    const sizeBig = size === BIG ? parseUint(text.slice(this.fs[1]!, this.fe[1]!), 10, 'size') : undefined;
    const nlink = this.masked(3, 'nlink');
    const uid = this.masked(4, 'uid');
    const gid = this.masked(5, 'gid');
    let rdev = this.uint(6, 10, 'rdev');
    const rdevBig = rdev === BIG ? parseUint(text.slice(this.fs[6]!, this.fe[6]!), 10, 'rdev') : 0n;
    const ta = this.fs[7]!;
    const tb = this.fe[7]!;
    let dot = ta;
    while (dot < tb && text.charCodeAt(dot) !== 0x2e) dot++;
    if (dot === tb) throw new Error(`invalid mtime ${printable(text.slice(ta, tb))}`);
    let mtimeSec = uintAt(text, ta, dot, 10, 'mtime');
    if (mtimeSec === BIG) mtimeSec = safeNumber(parseUint(text.slice(ta, dot), 10, 'mtime'), 'mtime');
    let mtimeNsec = uintAt(text, dot + 1, tb, 10, 'mtime nsec');
    if (mtimeNsec === BIG || mtimeNsec > 0xffffffff) {
      mtimeNsec = safeNumber(parseUint(text.slice(dot + 1, tb), 10, 'mtime nsec'), 'mtime nsec', 0xffffffffn);
    }
    const payload = this.bytesOf(8);
    const content = this.bytesOf(9);
    if (content !== null && content.length !== size) {
      throw new Error(`invalid content size ${content.length}, must match size ${sizeBig ?? size}`);
    }
    const digest = this.isDash(10) ? null : this.str(10);

    const stat: Stat = { mode: mode & 0o7777, uid, gid, mtimeSec, mtimeNsec, xattrs: new Map() };
    const isDev = fmt === 0o020000 || fmt === 0o060000;
    if (!isDev && this.strict && rdev !== 0) throw new Error('non-zero devnum on non-device');

    let data: LeafData | undefined;
    if (fmt === 0o120000) {
      if (payload === null || payload.length === 0) throw new Error('invalid symlink: empty target');
      if (payload.length >= PATH_MAX) throw new Error(`invalid symlink: target of ${payload.length} bytes is too long`);
      if (this.strict) {
        if (size !== payload.length) throw new Error(`invalid symlink size ${sizeBig ?? size}, must match target length ${payload.length}`);
        if (content !== null && content.length > 0) throw new Error('symlink cannot have content');
      }
      data = { type: 'symlink', target: payload };
    } else {
      if (payload !== null && payload.length >= PATH_MAX) throw new Error(`invalid payload: ${payload.length} bytes is too long`);
      if (content !== null && content.length > INLINE_CONTENT_MAX) {
        throw new Error(`inline content size ${content.length} exceeds maximum ${INLINE_CONTENT_MAX}`);
      }
      if (fmt === 0o100000) {
        let d: Buffer | null = null;
        if (digest !== null) {
          if ((digest.length !== 64 && digest.length !== 128) || !HEX.test(digest)) throw new Error(`invalid digest ${printable(digest)}`);
          d = Buffer.from(digest, 'hex');
        }
        const c = content !== null && content.length > 0 ? content : null;
        // Below 2^53 bytes a file never has more than 1024 chunks (2^43-byte chunks at most).
        if (c === null && sizeBig !== undefined && chunkCount(sizeBig) > 1024n) throw new Error(`file size ${sizeBig} is too big (more than 1024 chunks)`);
        data = { type: 'reg', size: sizeBig ?? BigInt(size), content: c, payload, digest: d };
      } else if (isDev) {
        if (rdev === BIG) rdev = safeNumber(rdevBig, 'rdev');
        data = { type: fmt === 0o020000 ? 'chr' : 'blk', rdev };
      } else if (fmt !== 0o040000) {
        data = { type: fmt === 0o010000 ? 'fifo' : 'sock' };
      }
    }

    if (this.fe[11]! > this.fs[11]!) parseXattrs(text, this.fs[11]!, this.fe[11]!, stat.xattrs);

    let inode: Inode;
    if (isDir) inode = new Dir(stat);
    else {
      const leaf = new Leaf(stat, data!);
      leaf.nlink = nlink;
      if (parent !== undefined) leaf.home = { dir: parent, key };
      inode = leaf;
    }
    if (parent === undefined) this.root = inode as Dir;
    else parent.entries.set(key, inode);
  }

  /** A u64 field truncated to u32 (C stores nlink, uid and gid as u32). */
  masked(i: number, what: string): number {
    const v = this.uint(i, 10, what);
    if (v !== BIG) return v % TWO32;
    return Number(parseUint(this.text.slice(this.fs[i]!, this.fe[i]!), 10, what) & 0xffffffffn);
  }

  /**
   * The parent directory of the path ps[a, b) (C's lookup: components split on
   * runs of '/'); sets `key` to the final name. The last parent found is
   * remembered: entries are only ever added while parsing, so the same parent
   * path always leads to the same directory.
   */
  parentOf(ps: string, a: number, b: number): Dir {
    const root = this.root;
    if (root === undefined) throw new Error('root node not present');
    if (ps.charCodeAt(b - 1) === 0x2f) throw new Error(`invalid empty name in path ${printable(ps.slice(a, b))}`);
    let slash = b - 1;
    while (slash >= a && ps.charCodeAt(slash) !== 0x2f) slash--;
    const last = ps.slice(slash + 1, b);
    let cur: Inode;
    const pl = slash < a ? 0 : slash - a;
    if (this.lastParentDir !== undefined && pl === this.lastParent.length && ps.startsWith(this.lastParent, a)) cur = this.lastParentDir;
    else {
      cur = root;
      let c0 = a;
      while (c0 < a + pl) {
        let c1 = c0;
        while (c1 < a + pl && ps.charCodeAt(c1) !== 0x2f) c1++;
        if (c1 > c0) {
          const next: Inode | undefined = cur.kind === 'dir' ? cur.getKey(ps.slice(c0, c1)) : undefined;
          if (next === undefined || this.placeholders.has(next as Leaf)) throw new Error(`parent directory missing for ${printable(ps.slice(a, b))}`);
          cur = next;
        }
        c0 = c1 + 1;
      }
      if (cur.kind !== 'dir') throw new Error(`parent must be a directory for ${printable(ps.slice(a, b))}`);
      this.lastParent = ps.slice(a, a + pl);
      this.lastParentDir = cur;
    }
    const dir = cur as Dir;
    if (last === '.' || last === '..') throw new Error(`invalid . or .. in path: ${printable(ps.slice(a, b))}`);
    if (last.length > 255) throw new Error(`name too long in path ${printable(ps.slice(a, b))}`);
    if (dir.entries.has(last)) throw new Error(`path ${printable(ps.slice(a, b))} already exists`);
    this.key = last;
    return dir;
  }
}
