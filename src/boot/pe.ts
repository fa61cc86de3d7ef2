/**
 * Owns the little of PE/COFF that UKIs need: listing sections (`.linux`,
 * `.initrd`, `.cmdline`, `.osrel`) to compute the boot digest, read the
 * embedded command line and the boot label; plus os-release parsing and a
 * minimal PE writer for test fixtures. Section data is `SizeOfRawData`
 * bytes clipped to `VirtualSize` (the payload without file-alignment padding).
 */
import { createHash } from 'node:crypto';
import { FormatError } from '../util/errors.js';

export interface PeSection {
  name: string;
  data: Buffer;
}

export function readPeSections(buf: Buffer): PeSection[] {
  if (buf.length < 0x40 || buf.readUInt16LE(0) !== 0x5a4d) throw new FormatError('not a PE file (no MZ header)');
  const pe = buf.readUInt32LE(0x3c);
  if (pe + 24 > buf.length || buf.readUInt32LE(pe) !== 0x00004550) throw new FormatError('not a PE file (no PE signature)');
  const nsections = buf.readUInt16LE(pe + 6);
  const optSize = buf.readUInt16LE(pe + 20);
  let off = pe + 24 + optSize;
  const out: PeSection[] = [];
  for (let i = 0; i < nsections; i++, off += 40) {
    if (off + 40 > buf.length) throw new FormatError('truncated PE section table');
    const name = buf.subarray(off, off + 8).toString('latin1').replace(/\0+$/, '');
    const vsize = buf.readUInt32LE(off + 8);
    const rawSize = buf.readUInt32LE(off + 16);
    const ptr = buf.readUInt32LE(off + 20);
    const size = vsize > 0 ? Math.min(vsize, rawSize) : rawSize;
    if (ptr + size > buf.length) throw new FormatError(`PE section ${name} extends past the end of the file`);
    out.push({ name, data: buf.subarray(ptr, ptr + size) });
  }
  return out;
}

export function peSection(sections: readonly PeSection[], name: string): Buffer | undefined {
  return sections.find((s) => s.name === name)?.data;
}

/** bootc's boot digest of a UKI: hex sha256(.linux ‖ .initrd). */
export function ukiBootDigest(uki: Buffer): string {
  const s = readPeSections(uki);
  const linux = peSection(s, '.linux');
  if (linux === undefined) throw new FormatError('UKI has no .linux section');
  const h = createHash('sha256').update(linux);
  const initrd = peSection(s, '.initrd');
  if (initrd !== undefined) h.update(initrd);
  return h.digest('hex');
}

/** Type1 boot digest: hex sha256(vmlinuz ‖ initrd). */
export function type1BootDigest(vmlinuz: Uint8Array, initrd: Uint8Array): string {
  return createHash('sha256').update(vmlinuz).update(initrd).digest('hex');
}

/** Parses os-release (`KEY=value`, optional quotes). */
export function parseOsRelease(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let v = line.slice(eq + 1).trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    m.set(line.slice(0, eq), v);
  }
  return m;
}

export interface OsInfo {
  osId: string;
  title: string;
  version: string;
}

/** os_id/title/version of a boot entry from os-release, with bootc's fallbacks (§3.1). */
export function osInfoFrom(osRelease: Map<string, string> | undefined, verity: string): OsInfo {
  const g = (k: string) => osRelease?.get(k);
  return {
    osId: g('ID') ?? 'bootc',
    title: g('PRETTY_NAME') ?? g('NAME') ?? g('ID') ?? verity,
    version: g('VERSION_ID') ?? g('VERSION') ?? verity,
  };
}

/** The UKI boot label: `.osrel` PRETTY_NAME + " " + VERSION_ID (bootc `UKIInfo`). */
export function ukiBootLabel(osRelease: Map<string, string>): string {
  const pretty = osRelease.get('PRETTY_NAME') ?? osRelease.get('NAME') ?? osRelease.get('ID') ?? 'Linux';
  const v = osRelease.get('VERSION_ID');
  return v === undefined ? pretty : `${pretty} ${v}`;
}

/** Builds a minimal PE image with the given sections (test fixtures; not bootable). */
export function buildPe(sections: ReadonlyArray<{ name: string; data: Uint8Array }>): Buffer {
  const peOff = 0x40;
  const tableOff = peOff + 24;
  let dataOff = tableOff + 40 * sections.length;
  const header = Buffer.alloc(dataOff);
  header.writeUInt16LE(0x5a4d, 0);
  header.writeUInt32LE(peOff, 0x3c);
  header.writeUInt32LE(0x00004550, peOff);
  header.writeUInt16LE(0x8664, peOff + 4);
  header.writeUInt16LE(sections.length, peOff + 6);
  header.writeUInt16LE(0, peOff + 20);
  const bodies: Buffer[] = [];
  sections.forEach((s, i) => {
    const o = tableOff + 40 * i;
    header.write(s.name.slice(0, 8), o, 'latin1');
    header.writeUInt32LE(s.data.length, o + 8);
    header.writeUInt32LE(dataOff, o + 12);
    header.writeUInt32LE(s.data.length, o + 16);
    header.writeUInt32LE(dataOff, o + 20);
    bodies.push(Buffer.from(s.data));
    dataOff += s.data.length;
  });
  return Buffer.concat([header, ...bodies]);
}
