/**
 * Owns giving files the right owners in a root filesystem built without
 * privileges: `mkfs.ext4 -d DIR` copies the staging directory's owners (the
 * unprivileged user), so afterwards one `debugfs -w` run at the partition's
 * offset sets every inode's uid and gid: root for everything tsbootc wrote,
 * the image's owners for the copies of its /etc and /var.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Host } from '../sys/host.js';
import { TsbootcError, withContext } from '../util/errors.js';

/** debugfs (libss) quoting: a path in double quotes, a `"` inside doubled; backslashes are literal. */
export function debugfsQuote(p: string): string {
  if (/[\n\r]/.test(p)) throw new TsbootcError(`cannot set the owner of ${JSON.stringify(p)} with debugfs (newline in the name)`);
  return `"${p.replace(/"/g, '""')}"`;
}

/** The debugfs script: `sif PATH uid N` and `sif PATH gid N` for `/` and every path below `staged`. */
export async function ownerScript(staged: string, owners: ReadonlyMap<string, readonly [number, number]>): Promise<string> {
  const lines: string[] = [];
  const add = (rel: string, host: string) => {
    const [uid, gid] = owners.get(host) ?? [0, 0];
    const q = debugfsQuote(rel);
    lines.push(`sif ${q} uid ${uid}`, `sif ${q} gid ${gid}`);
  };
  add('/', staged);
  const walk = async (dir: string, rel: string) => {
    for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const host = path.join(dir, e.name);
      const r = `${rel}/${e.name}`;
      add(r, host);
      if (e.isDirectory()) await walk(host, r);
    }
  };
  await walk(staged, '');
  return lines.join('\n') + '\n';
}

/** Applies the owners to the ext4 filesystem at `offset` of `file`. */
export async function fixStagedOwners(host: Host, file: string, offset: number, staged: string, owners: ReadonlyMap<string, readonly [number, number]>): Promise<void> {
  await withContext(`Setting file owners in the root filesystem of ${file}`, async () => {
    const script = path.join(path.dirname(staged), 'owners.debugfs');
    await fs.writeFile(script, await ownerScript(staged, owners));
    const r = await host.run.run(['debugfs', '-w', '-f', script, `${file}?offset=${offset}`]);
    // debugfs reports command errors on stderr but exits 0.
    const bad = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^debugfs \d/.test(l));
    if (bad.length > 0) throw new TsbootcError(`debugfs: ${bad.slice(0, 3).join('; ')}`);
  });
}
