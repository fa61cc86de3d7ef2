/**
 * Owns reading the mount table: `/proc/self/mountinfo` (through the Root) parsed
 * into entries, and `/proc/swaps` for swap devices. Used to refuse installing
 * onto a device that is in use.
 */
import type { Root } from './root.js';

export interface MountEntry {
  /** `major:minor` of the filesystem's device (0:N for virtual filesystems). */
  majMin: string;
  mountPoint: string;
  fstype: string;
  source: string;
}

/** Undoes the octal escapes the kernel puts in mountinfo fields (`\040` = space). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [pre, post] = line.split(' - ');
    if (pre === undefined || post === undefined) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    if (f.length < 5 || g.length < 2) continue;
    out.push({ majMin: f[2] ?? '', mountPoint: unescape(f[4] ?? ''), fstype: g[0] ?? '', source: unescape(g[1] ?? '') });
  }
  return out;
}

export async function readMountinfo(root: Root): Promise<MountEntry[]> {
  return parseMountinfo((await root.tryReadText('/proc/self/mountinfo')) ?? '');
}

/** Device paths listed in `/proc/swaps` (header line skipped). */
export function parseSwaps(text: string): string[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((s) => s.length > 0);
}

export async function readSwaps(root: Root): Promise<string[]> {
  return parseSwaps((await root.tryReadText('/proc/swaps')) ?? '');
}
