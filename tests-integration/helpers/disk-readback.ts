/**
 * Reads a disk image back without the code under test and without mounting:
 * the partition table (`sfdisk --json`), filesystem probes at partition
 * offsets (`blkid -p -O`), the ESP (`mdir`, `mtype`), ext4 directories
 * (`debugfs -R 'ls -l'`), superblock fields (`dumpe2fs -h`), and a file's
 * sha256. Also the cleanup of loop devices and mounts left by a failed test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

const MT = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

export function sh(argv: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface TableShape {
  label: string;
  id: string;
  sectorsize: number;
  firstlba: number;
  lastlba: number;
  partitions: { start: number; size: number; type: string; name: string }[];
}

/** The partition table without device names and partition UUIDs (random per run). */
export function tableShape(target: string): TableShape {
  const pt = JSON.parse(sh(['sfdisk', '--json', target])).partitiontable;
  return {
    label: pt.label,
    id: String(pt.id).toLowerCase(),
    sectorsize: pt.sectorsize,
    firstlba: pt.firstlba,
    lastlba: pt.lastlba,
    partitions: pt.partitions.map((p: Record<string, unknown>) => ({ start: p['start'], size: p['size'], type: String(p['type']).toLowerCase(), name: p['name'] })),
  };
}

/** TYPE, LABEL, UUID, VERSION and BLOCK_SIZE of the filesystem at `offset`. */
export function probeAt(file: string, offset: number): Record<string, string> {
  const r = spawnSync('blkid', ['-p', '-o', 'export', '-O', String(offset), file], { encoding: 'utf8' });
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const [k, ...v] = line.split('=');
    if (k !== undefined && ['TYPE', 'LABEL', 'UUID', 'VERSION', 'BLOCK_SIZE'].includes(k)) out[k] = v.join('=');
  }
  return out;
}

export function espListing(file: string, offset: number): string[] {
  const r = spawnSync('mdir', ['-i', `${file}@@${offset}`, '-b', '-/', '::'], { encoding: 'utf8', env: MT });
  return r.stdout.split('\n').filter((l) => l.startsWith('::/')).map((l) => l.slice(3)).sort();
}

export function espCat(file: string, offset: number, p: string): string {
  return sh(['mtype', '-i', `${file}@@${offset}`, `::/${p}`], MT);
}

export function espBytes(file: string, offset: number, p: string): Buffer {
  return execFileSync('mtype', ['-i', `${file}@@${offset}`, `::/${p}`], { env: MT, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Names (and mode) in an ext4 directory, read with debugfs at the partition offset. */
export function ext4Ls(file: string, offset: number, dir: string): string[] {
  const text = sh(['debugfs', '-R', `ls -l ${dir}`, `${file}?offset=${offset}`]);
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 9)
    .map((f) => `${f[1]} ${f[f.length - 1]}`)
    .filter((s) => !s.endsWith(' .') && !s.endsWith(' ..'))
    .sort();
}

export function ext4Cat(file: string, offset: number, p: string): string {
  return sh(['debugfs', '-R', `cat ${p}`, `${file}?offset=${offset}`]);
}

/** Superblock fields that define the filesystem's structure. */
export function ext4Header(file: string, offset: number): Record<string, string> {
  const text = sh(['dumpe2fs', '-h', `${file}?offset=${offset}`]);
  const keep = ['Filesystem volume name', 'Filesystem UUID', 'Filesystem features', 'Block count', 'Block size', 'Inode count', 'Inode size'];
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    const k = line.slice(0, i);
    if (keep.includes(k)) out[k] = line.slice(i + 1).trim();
  }
  return out;
}

export async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function loopsOf(file: string): string[] {
  return sh(['losetup', '--associated', file])
    .split('\n')
    .map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])
    .filter((d): d is string => d !== undefined);
}

/** Best-effort cleanup: unmount `mounts`, then detach every loop device backed by `files`. */
export function cleanup(mounts: string[], files: string[]): void {
  for (const m of mounts) spawnSync('umount', [m]);
  for (const f of files) {
    for (const loop of spawnSync('losetup', ['--associated', f], { encoding: 'utf8' }).stdout.split('\n').map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])) {
      if (loop === undefined) continue;
      spawnSync('partx', ['-d', loop]);
      spawnSync('losetup', ['--detach', loop]);
    }
  }
}
