/**
 * Owns access to an EFI System Partition without mounting it: the ESP is a
 * partition device or a byte range of a disk image (`IMG@@OFFSET`), formatted
 * with mkfs.fat and read and written with mtools (mmd, mcopy, mtype, mdir).
 * This host's kernel cannot mount vfat (environment.md §6); mtools works on
 * devices and image files alike, as root or not.
 */
import { withContext } from '../util/errors.js';
import type { Host } from '../sys/host.js';
import { CommandFailedError, type RunOptions } from '../sys/runner.js';

/** Where the ESP is: a partition device, or an image file and the partition's byte offset. */
export type EspTarget = { device: string } | { file: string; offset: number; sizeBytes: number };

export const ESP_LABEL = 'EFI-SYSTEM';

/** mtools refuses partitions whose geometry it cannot check; skip that, as bootc's mkfs tools do not care. */
const MTOOLS_OPTS: RunOptions = { env: { MTOOLS_SKIP_CHECK: '1' } };

export function describeEsp(t: EspTarget): string {
  return 'device' in t ? t.device : `${t.file} at offset ${t.offset}`;
}

/** The `-i` argument of mtools commands. */
export function mtoolsImage(t: EspTarget): string {
  return 'device' in t ? t.device : `${t.file}@@${t.offset}`;
}

/** `ABCD1234` → `ABCD-1234`, the UUID blkid reports for a FAT volume id. */
export function formatVolumeId(volumeId: string): string {
  const v = volumeId.toUpperCase();
  return `${v.slice(0, 4)}-${v.slice(4)}`;
}

/**
 * `mkfs.fat -n EFI-SYSTEM -i VOLID`, on the device, or into the image at the
 * partition's offset (in 512-byte sectors) with its size (in KiB blocks).
 */
export function espMkfsArgv(t: EspTarget, volumeId: string): string[] {
  const argv = ['mkfs.fat', '-n', ESP_LABEL, '-i', volumeId.toUpperCase()];
  if ('device' in t) return [...argv, t.device];
  return [...argv, '--offset', String(t.offset / 512), t.file, String(Math.floor(t.sizeBytes / 1024))];
}

export async function formatEsp(host: Host, t: EspTarget, volumeId: string): Promise<void> {
  await withContext(`Formatting the ESP on ${describeEsp(t)}`, () => host.run.run(espMkfsArgv(t, volumeId)));
}

const at = (p: string) => `::/${p.replace(/^\/+/, '')}`;

/**
 * Parses `mdir -b -/ ::` (bare, recursive): one `::/path` per line,
 * directories with a trailing slash. Returns sorted paths without `::/`.
 */
export function parseMdirBare(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('::/'))
    .map((l) => l.slice(3))
    .sort();
}

/** Every file and directory on the ESP (directories end with `/`). Empty ESP: []. */
export async function listEsp(host: Host, t: EspTarget): Promise<string[]> {
  return withContext(`Listing the ESP on ${describeEsp(t)}`, async () => {
    const r = await host.run.run(['mdir', '-i', mtoolsImage(t), '-b', '-/', '::'], { ...MTOOLS_OPTS, allowFailure: true });
    // mdir exits 1 with "File ::/ not found" when the root directory is empty.
    if (r.exitCode !== 0 && !/not found/.test(r.stderr)) throw new CommandFailedError(r.argv, r.exitCode, undefined, r.stderr);
    return parseMdirBare(r.stdout);
  });
}

/** The directories (and their parents) that `paths` needs, parents first. */
export function dirsToCreate(paths: readonly string[], existing: readonly string[]): string[] {
  const have = new Set(existing.filter((e) => e.endsWith('/')).map((e) => e.slice(0, -1).toLowerCase()));
  const out: string[] = [];
  for (const p of paths) {
    const parts = p.replace(/^\/+|\/+$/g, '').split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!have.has(d.toLowerCase())) {
        have.add(d.toLowerCase());
        out.push(d);
      }
    }
  }
  return out;
}

/** Creates directories (and parents) that do not exist yet, in one `mmd` call. */
export async function mkdirEsp(host: Host, t: EspTarget, dirs: readonly string[], existing?: readonly string[]): Promise<void> {
  await withContext(`Creating directories on the ESP on ${describeEsp(t)}`, async () => {
    const todo = dirsToCreate(dirs, existing ?? (await listEsp(host, t)));
    if (todo.length > 0) await host.run.run(['mmd', '-i', mtoolsImage(t), ...todo.map(at)], MTOOLS_OPTS);
  });
}

/** Copies a host file onto the ESP (its directory must exist), replacing an existing file. */
export async function copyToEsp(host: Host, t: EspTarget, src: string, dest: string): Promise<void> {
  await withContext(`Copying ${src} to ${dest} on the ESP`, () => host.run.run(['mcopy', '-i', mtoolsImage(t), '-D', 'o', src, at(dest)], MTOOLS_OPTS));
}

/** Writes bytes to a file on the ESP (its directory must exist), replacing an existing file. */
export async function writeEspFile(host: Host, t: EspTarget, dest: string, data: string | Uint8Array): Promise<void> {
  await withContext(`Writing ${dest} on the ESP`, () => host.run.run(['mcopy', '-i', mtoolsImage(t), '-D', 'o', '-', at(dest)], { ...MTOOLS_OPTS, input: data }));
}

/** Reads a file from the ESP. */
export async function readEspFile(host: Host, t: EspTarget, p: string): Promise<Buffer> {
  return withContext(`Reading ${p} from the ESP`, async () => {
    const r = await host.run.run(['mtype', '-i', mtoolsImage(t), at(p)], { ...MTOOLS_OPTS, binary: true });
    return r.stdoutBytes ?? Buffer.from(r.stdout);
  });
}
