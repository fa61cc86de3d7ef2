/**
 * Owns the field-level grammar of the composefs dumpfile (composefs.md §5.6):
 * escapes, unsigned integers (a fast allocation-free path for values below 2^53
 * and the exact bigint path for the rest), the xattr list that ends a line and
 * the chunk count that bounds an external file's size. The line and tree logic lives in dumpfile.ts.
 */
import { printable } from './tree.js';

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

/** The exact value of an unsigned decimal/octal field; throws unless it is digits only and below 2^64. */
export function parseUint(s: string, base: 8 | 10, what: string): bigint {
  const ok = base === 10 ? /^[0-9]+$/.test(s) : /^[0-7]+$/.test(s);
  if (!ok) throw new Error(`invalid integer ${printable(s)} for ${what}`);
  const v = base === 10 ? BigInt(s) : BigInt('0o' + s);
  if (v > 0xffffffffffffffffn) throw new Error(`${what} out of range: ${s}`);
  return v;
}

export function safeNumber(v: bigint, what: string, max: bigint = BigInt(Number.MAX_SAFE_INTEGER)): number {
  if (v > max) throw new Error(`${what} out of range: ${v}`);
  return Number(v);
}

/** What `uintAt` returns for a valid value of 2^53 or more: the caller redoes the field with `parseUint`. */
export const BIG = -1;

/**
 * The value of the unsigned integer in `text[from, to)` (base 8 or 10) without
 * allocating, or BIG when it is 2^53 or more. Throws `parseUint`'s error for a
 * field that is empty or has a non-digit (so errors come in the same order).
 */
export function uintAt(text: string, from: number, to: number, base: number, what: string): number {
  if (from >= to) throw new Error(`invalid integer  for ${what}`);
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d >= base) throw new Error(`invalid integer ${printable(text.slice(from, to))} for ${what}`);
    // Exact while v < 2^53; beyond that only "≥ 2^53" matters.
    v = v * base + d;
  }
  return v > Number.MAX_SAFE_INTEGER ? BIG : v;
}

/**
 * Splits the line text[start, end) into its 11 fields and the xattr rest, as
 * C's space splitting does: field i is text[fs[i], fe[i]), missing fields are
 * empty, field 11 is the rest.
 */
export function splitFields(text: string, start: number, end: number, fs: Int32Array, fe: Int32Array): void {
  let pos = start;
  for (let i = 0; i < 11; i++) {
    if (pos > end) {
      fs[i] = end;
      fe[i] = end;
      continue;
    }
    const sp = text.indexOf(' ', pos);
    fs[i] = pos;
    if (sp < 0 || sp >= end) {
      fe[i] = end;
      pos = end + 1;
    } else {
      fe[i] = sp;
      pos = sp + 1;
    }
  }
  fs[11] = pos <= end ? pos : end;
  fe[11] = end;
}

const EXTERNAL_XATTR_MAX = 32767;

/**
 * Parses the xattrs of a line, text[from, end): `key=value` separated by single
 * spaces, escaped; a repeated key replaces the earlier value. C's size limits apply.
 */
export function parseXattrs(text: string, from: number, end: number, xattrs: Map<string, Buffer>): void {
  if (end - from > 0xffff) throw new Error('too many xattrs');
  let xattrSize = 0;
  let pos = from;
  while (pos <= end) {
    let sp = text.indexOf(' ', pos);
    if (sp < 0 || sp > end) sp = end;
    let eq = pos;
    while (eq < sp && text.charCodeAt(eq) !== 0x3d) eq++;
    if (eq === sp) throw new Error(`missing = in xattr ${printable(text.slice(pos, Math.min(sp, pos + 40)))}`);
    const k = unescapeField(text.slice(pos, eq));
    const v = unescapeField(text.slice(eq + 1, sp));
    pos = sp + 1;
    if (k.length === 0 || k.length > 255 || k.includes('\0')) throw new Error(`invalid xattr key ${printable(k.slice(0, 40))} (must be 1..255 bytes)`);
    if (v.length > 0xffff) throw new Error(`xattr ${printable(k)} value of ${v.length} bytes is too long`);
    const old = xattrs.get(k);
    if (old !== undefined) {
      xattrSize -= 7 + k.length + old.length;
      if (xattrs.size === 1) xattrSize = 0;
      xattrs.delete(k);
    }
    const entry = 7 + k.length + v.length + (xattrs.size === 0 ? 12 : 0);
    if (xattrSize + entry > EXTERNAL_XATTR_MAX) throw new Error(`xattrs too large (over ${EXTERNAL_XATTR_MAX} bytes) at ${printable(k)}`);
    xattrSize += entry;
    xattrs.set(k, Buffer.from(v, 'latin1'));
  }
}

/** Chunk count of an external file of `size` bytes (composefs.md §5.3.6). */
export function chunkCount(size: bigint): bigint {
  if (size === 0n) return 0n;
  let bits = (size - 1n).toString(2).length;
  if (size === 1n) bits = 0;
  const chunkbits = BigInt(Math.min(Math.max(12, bits), 43));
  return (size + (1n << chunkbits) - 1n) >> chunkbits;
}
