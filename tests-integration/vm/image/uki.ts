/**
 * Owns the test images' optional UKI: systemd-boot's EFI stub with .osrel,
 * .cmdline, .uname, .linux and .initrd sections added by objcopy
 * (binutils), each placed after the stub's last section at a 4 KiB-aligned
 * address. The result is deterministic for the same inputs (the PE timestamp is fixed).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { exec, execText } from './exec.js';

export const LINUX_EFI_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const ALIGN = 0x1000;

export interface UkiOptions {
  /** Scratch directory for the section files. */
  workDir: string;
  out: string;
  vmlinuz: string;
  initramfs: string;
  osRelease: string;
  cmdline: string;
  uname: string;
  /** PE TimeDateStamp (SOURCE_DATE_EPOCH). */
  timestamp: number;
  stub?: string;
}

interface Section {
  name: string;
  vma: number;
  size: number;
}

/** Sections of a PE file as `objdump -h -w` prints them. */
export function parseObjdumpSections(text: string): Section[] {
  const out: Section[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && m[3] !== undefined) out.push({ name: m[1], size: parseInt(m[2], 16), vma: parseInt(m[3], 16) });
  }
  return out;
}

const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** Writes the UKI to opts.out. */
export async function buildUki(opts: UkiOptions): Promise<void> {
  const stub = opts.stub ?? LINUX_EFI_STUB;
  const sections = parseObjdumpSections(await execText(['objdump', '-h', '-w', stub]));
  if (sections.length === 0) throw new Error(`objdump found no sections in ${stub}`);
  let vma = alignUp(Math.max(...sections.map((s) => s.vma + s.size)));
  const files: Array<[string, string]> = [
    ['.osrel', writeSection(opts.workDir, 'osrel', opts.osRelease)],
    ['.cmdline', writeSection(opts.workDir, 'cmdline', opts.cmdline)],
    ['.uname', writeSection(opts.workDir, 'uname', opts.uname)],
    ['.linux', opts.vmlinuz],
    ['.initrd', opts.initramfs],
  ];
  const args: string[] = [];
  for (const [name, file] of files) {
    args.push('--add-section', `${name}=${file}`, '--change-section-vma', `${name}=0x${vma.toString(16)}`);
    vma = alignUp(vma + readFileSync(file).length);
  }
  await exec(['objcopy', ...args, stub, opts.out]);
  setPeTimestamp(opts.out, opts.timestamp);
}

/**
 * Overwrites the COFF header's TimeDateStamp: objcopy from binutils 2.40 stamps PE
 * output with the current time and ignores SOURCE_DATE_EPOCH.
 */
export function setPeTimestamp(file: string, timestamp: number): void {
  const buf = readFileSync(file);
  const pe = buf.readUInt32LE(0x3c);
  if (buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error(`${file} is not a PE image`);
  buf.writeUInt32LE(timestamp >>> 0, pe + 8);
  const checksumOffset = pe + 24 + 64;
  buf.writeUInt32LE(0, checksumOffset);
  buf.writeUInt32LE(peChecksum(buf, checksumOffset), checksumOffset);
  writeFileSync(file, buf);
}

/** The PE optional header CheckSum (the imagehlp algorithm): 16-bit one's-complement-style sum plus the file length. */
export function peChecksum(buf: Buffer, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) {
    if (i === checksumOffset || i === checksumOffset + 2) continue;
    sum += i + 1 < buf.length ? buf.readUInt16LE(i) : (buf[i] ?? 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum + buf.length) >>> 0;
}

function writeSection(dir: string, name: string, text: string): string {
  const p = path.join(dir, `uki-${name}`);
  writeFileSync(p, text);
  return p;
}
