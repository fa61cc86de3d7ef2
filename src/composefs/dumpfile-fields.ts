/**
 * Owns the field-level grammar of the composefs dumpfile (composefs.md §5.6):
 * escapes, unsigned integers (a fast allocation-free path for values below 2^53
 * and the exact bigint path for the rest) and the chunk count that bounds an
 * external file's size. The line and tree logic lives in dumpfile.ts.
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

/** Chunk count of an external file of `size` bytes (composefs.md §5.3.6). */
export function chunkCount(size: bigint): bigint {
  if (size === 0n) return 0n;
  let bits = (size - 1n).toString(2).length;
  if (size === 1n) bits = 0;
  const chunkbits = BigInt(Math.min(Math.max(12, bits), 43));
  return (size + (1n << chunkbits) - 1n) >> chunkbits;
}
