/**
 * Owns `upgrade --check`'s layer comparison of two OCI manifests (ostree-ext's
 * ManifestDiff) and its three-line report, sizes in GLib's decimal format.
 */

export interface LayerDescriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

export interface ManifestLike {
  layers?: ReadonlyArray<LayerDescriptor>;
}

export interface ManifestDiff {
  removed: LayerDescriptor[];
  added: LayerDescriptor[];
  total: number;
  totalSize: number;
  removedSize: number;
  addedSize: number;
}

const sum = (ls: readonly LayerDescriptor[]) => ls.reduce((n, l) => n + l.size, 0);
const byDigest = (a: LayerDescriptor, b: LayerDescriptor) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

export function diffManifests(from: ManifestLike, to: ManifestLike): ManifestDiff {
  const src = new Map((from.layers ?? []).map((l) => [l.digest, l] as const));
  const dst = new Map((to.layers ?? []).map((l) => [l.digest, l] as const));
  const removed = [...src.values()].filter((l) => !dst.has(l.digest)).sort(byDigest);
  const added = [...dst.values()].filter((l) => !src.has(l.digest)).sort(byDigest);
  return { removed, added, total: dst.size, totalSize: sum(to.layers ?? []), removedSize: sum(removed), addedSize: sum(added) };
}

/** GLib's g_format_size: decimal units, one decimal place. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return bytes === 1 ? '1 byte' : `${bytes} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

export function formatManifestDiff(d: ManifestDiff): string {
  const pad = (n: number) => String(n).padEnd(4);
  return (
    `Total new layers: ${pad(d.total)}  Size: ${formatSize(d.totalSize)}\n` +
    `Removed layers:   ${pad(d.removed.length)}  Size: ${formatSize(d.removedSize)}\n` +
    `Added layers:     ${pad(d.added.length)}  Size: ${formatSize(d.addedSize)}\n`
  );
}
