/**
 * Owns what tsbootc learns about block devices and disk images from
 * util-linux: the device tree (`lsblk --json -b`), filesystem and partition
 * probes (`blkid -p -o export`, which also reads inside an image at an
 * offset), on-disk signatures (`wipefs --json`), and the partition table
 * (`sfdisk --json`), and what holds a device (the mount table
 * `/proc/self/mountinfo` and `/proc/swaps`, read through the Root). Parsers
 * are pure and tested on captured output.
 *
 * Without udev (environment.md §7) lsblk knows the tree, sizes and mount
 * points but reports null for FSTYPE, LABEL, UUID and the PART* columns; use
 * blkid for those.
 */
import { FormatError, withContext } from '../util/errors.js';
import type { Host } from './host.js';
import type { Root } from './root.js';

export const LSBLK_COLUMNS = 'NAME,PATH,MAJ:MIN,SIZE,TYPE,FSTYPE,LABEL,UUID,PTTYPE,PTUUID,PARTTYPE,PARTLABEL,PARTUUID,MOUNTPOINTS';

export interface BlockDevice {
  name: string;
  path: string;
  majMin: string;
  size: number;
  type: string;
  fstype: string | undefined;
  label: string | undefined;
  uuid: string | undefined;
  pttype: string | undefined;
  partlabel: string | undefined;
  parttype: string | undefined;
  partuuid: string | undefined;
  mountpoints: string[];
  children: BlockDevice[];
}

const opt = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function toDevice(raw: unknown, where: string): BlockDevice {
  if (typeof raw !== 'object' || raw === null) throw new FormatError(`lsblk: ${where}: expected an object`);
  const r = raw as Record<string, unknown>;
  const name = r['name'];
  const size = typeof r['size'] === 'string' ? Number(r['size']) : r['size'];
  if (typeof name !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size)) {
    throw new FormatError(`lsblk: ${where}: missing name or byte size (run with -b)`);
  }
  const mps = Array.isArray(r['mountpoints']) ? r['mountpoints'] : r['mountpoint'] !== undefined ? [r['mountpoint']] : [];
  const children = Array.isArray(r['children']) ? r['children'] : [];
  return {
    name,
    path: opt(r['path']) ?? `/dev/${name}`,
    majMin: opt(r['maj:min']) ?? '',
    size,
    type: opt(r['type']) ?? '',
    fstype: opt(r['fstype']),
    label: opt(r['label']),
    uuid: opt(r['uuid']),
    pttype: opt(r['pttype']),
    partlabel: opt(r['partlabel']),
    parttype: opt(r['parttype']),
    partuuid: opt(r['partuuid']),
    mountpoints: mps.filter((m): m is string => typeof m === 'string'),
    children: children.map((c, i) => toDevice(c, `${name}.children[${i}]`)),
  };
}

/** Parses `lsblk --json -b -o LSBLK_COLUMNS` output. */
export function parseLsblk(json: string): BlockDevice[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new FormatError('lsblk: output is not JSON', { cause: err });
  }
  const list = (doc as { blockdevices?: unknown } | null)?.blockdevices;
  if (!Array.isArray(list)) throw new FormatError('lsblk: no "blockdevices" array');
  return list.map((d, i) => toDevice(d, `blockdevices[${i}]`));
}

/** The device and all its descendants, depth first. */
export function flattenDevices(d: BlockDevice): BlockDevice[] {
  return [d, ...d.children.flatMap(flattenDevices)];
}

export async function listBlockDevice(host: Host, device: string): Promise<BlockDevice> {
  return withContext(`Listing block device ${device}`, async () => {
    const r = await host.run.run(['lsblk', '--json', '-b', '-o', LSBLK_COLUMNS, device]);
    const [d] = parseLsblk(r.stdout);
    if (d === undefined) throw new FormatError(`lsblk printed no device for ${device}`);
    return d;
  });
}

/** Parses `blkid -o export` / `blkid -p -o export`: KEY=value lines (one device). */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * Low-level probe of a device or image file (`blkid -p`), optionally at a byte
 * offset; {} when nothing is recognised (blkid exits 2).
 */
export async function probeBlkid(host: Host, target: string, offsetBytes?: number): Promise<Record<string, string>> {
  const argv = ['blkid', '-p', '-o', 'export'];
  if (offsetBytes !== undefined) argv.push('-O', String(offsetBytes));
  argv.push(target);
  return withContext(`Probing ${target}${offsetBytes !== undefined ? ` at offset ${offsetBytes}` : ''}`, async () => {
    const r = await host.run.run(argv, { allowFailure: true });
    if (r.exitCode === 2) return {};
    if (r.exitCode !== 0) throw new FormatError(`blkid exited ${r.exitCode}: ${r.stderr.trim()}`);
    return parseBlkidExport(r.stdout);
  });
}

export interface Signature {
  offset: number;
  type: string;
}

/** Parses `wipefs --json` (no signatures: empty output or an empty list). */
export function parseWipefs(json: string): Signature[] {
  if (json.trim() === '') return [];
  const sigs = (JSON.parse(json) as { signatures?: unknown }).signatures;
  if (!Array.isArray(sigs)) throw new FormatError('wipefs: no "signatures" array');
  return sigs.map((s: Record<string, unknown>) => ({ offset: Number(s['offset']), type: String(s['type']) }));
}

/** The signatures (partition tables, filesystems, RAID) wipefs finds, without erasing anything. */
export async function listSignatures(host: Host, target: string): Promise<Signature[]> {
  return withContext(`Looking for signatures on ${target}`, async () => parseWipefs((await host.run.run(['wipefs', '--no-act', '--json', target])).stdout));
}

export interface PartitionEntry {
  /** 1-based partition number. */
  number: number;
  node: string;
  startBytes: number;
  sizeBytes: number;
  type: string;
  uuid: string;
  name: string;
}

export interface PartitionTable {
  label: string;
  id: string;
  sectorSize: number;
  partitions: PartitionEntry[];
}

/** Parses `sfdisk --json DEV`. Type GUIDs and UUIDs are lower-cased. */
export function parsePartitionTable(json: string): PartitionTable {
  const pt = (JSON.parse(json) as { partitiontable?: Record<string, unknown> }).partitiontable;
  if (pt === undefined) throw new FormatError('sfdisk: no "partitiontable"');
  const sectorSize = typeof pt['sectorsize'] === 'number' ? pt['sectorsize'] : 512;
  const parts = Array.isArray(pt['partitions']) ? (pt['partitions'] as Record<string, unknown>[]) : [];
  return {
    label: String(pt['label']),
    id: String(pt['id'] ?? '').toLowerCase(),
    sectorSize,
    partitions: parts.map((p) => {
      const node = String(p['node']);
      const m = /(\d+)$/.exec(node);
      return {
        number: Number(m?.[1] ?? NaN),
        node,
        startBytes: Number(p['start']) * sectorSize,
        sizeBytes: Number(p['size']) * sectorSize,
        type: String(p['type'] ?? '').toLowerCase(),
        uuid: String(p['uuid'] ?? '').toLowerCase(),
        name: String(p['name'] ?? ''),
      };
    }),
  };
}

export async function readPartitionTable(host: Host, target: string): Promise<PartitionTable> {
  return withContext(`Reading the partition table of ${target}`, async () => parsePartitionTable((await host.run.run(['sfdisk', '--json', target])).stdout));
}

/** The kernel name of partition `n` of a disk: sda → sda1, loop0/nvme0n1 → loop0p1. */
export function partitionPath(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

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
