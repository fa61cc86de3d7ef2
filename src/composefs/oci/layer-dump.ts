/**
 * Owns `oci layer --dumpfile` (composefs-oci `layer_dumpfile`): one dumpfile
 * line per tar entry of a stored layer, in tar order, as the entry itself
 * says (every nlink 1, hardlinks as `@120000` lines naming their target,
 * whiteouts as they are), not the merged tree.
 */
import { escapeField } from '../dumpfile.js';
import { TYPE_BITS } from '../tree.js';
import { CONTENT_TYPE, type Repository } from '../repository/index.js';
import { layerStreamName } from './stored.js';
import { readStoredLayer } from './stored-tree.js';
import type { TarEntry } from './tar.js';

function optional(s: string | null): string {
  if (s === null || s === '') return '-';
  return s === '-' ? '\\x2d' : escapeField(s);
}

const latin1 = (b: Buffer | null): string | null => (b === null ? null : b.toString('latin1'));

/** One tar entry as composefs-rs prints it (`TarEntry`'s Display). */
export function tarEntryLine(e: TarEntry): string {
  const p = optional('/' + e.path.join('/'));
  if (e.item.kind === 'hardlink') return `${p} 0 @120000 - - - - 0.0 ${optional('/' + e.item.target.join('/'))} - -`;
  const s = e.stat;
  let bits = 0o040000;
  let size = 0n;
  let rdev = 0;
  let payload: string | null = null;
  let content: string | null = null;
  let digest = '-';
  if (e.item.kind === 'leaf') {
    const d = e.item.data;
    bits = TYPE_BITS[d.type];
    if (d.type === 'reg') {
      size = d.size;
      payload = latin1(d.payload);
      content = latin1(d.content);
      if (d.digest !== null) digest = d.digest.toString('hex');
    } else if (d.type === 'symlink') {
      size = BigInt(d.target.length);
      payload = d.target.toString('latin1');
    } else if (d.type === 'chr' || d.type === 'blk') rdev = d.rdev;
  }
  let line = `${p} ${size} ${(bits | s.mode).toString(8)} 1 ${s.uid} ${s.gid} ${rdev} ${s.mtimeSec}.${s.mtimeNsec} ${optional(payload)} ${optional(content)} ${digest}`;
  for (const k of [...s.xattrs.keys()].sort()) line += ` ${escapeField(k, true)}=${escapeField(s.xattrs.get(k)!.toString('latin1'), true)}`;
  return line;
}

/** The dumpfile of stored layer `oci-layer-<diffId>`. */
export async function storedLayerDumpfile(repo: Repository, diffId: string): Promise<string> {
  const ss = await repo.openStream(layerStreamName(diffId), CONTENT_TYPE.ociLayer);
  const lines: string[] = [];
  await readStoredLayer(repo, ss, `layer ${diffId}`, (e) => lines.push(tarEntryLine(e) + '\n'));
  return lines.join('');
}
