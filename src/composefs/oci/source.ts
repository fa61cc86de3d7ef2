/**
 * Owns turning an image reference into an OciStore, as skopeo names local
 * transports: `oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]` (the path ends at
 * the first ':', the rest is the index.json ref name) and `dir:DIR`. Registry
 * references are fetched to a `dir:` layout first (branch image-fetch).
 */
import { UsageError } from '../../util/errors.js';
import { openDirStore } from './dir-store.js';
import { openOciArchive, openOciLayout, type OciStore } from './layout.js';

export interface ImageSource {
  store: OciStore;
  /** The index.json ref name (`org.opencontainers.image.ref.name`) to pick, if the reference named one. */
  sourceRef?: string;
}

/** @throws UsageError for transports other than oci:, oci-archive: and dir: */
export async function openImageSource(ref: string): Promise<ImageSource> {
  const colon = ref.indexOf(':');
  const transport = colon < 0 ? '' : ref.slice(0, colon);
  const rest = ref.slice(colon + 1);
  const split = (): [string, string | undefined] => {
    const i = rest.indexOf(':');
    return i < 0 ? [rest, undefined] : [rest.slice(0, i), rest.slice(i + 1) || undefined];
  };
  if (transport === 'oci' || transport === 'oci-archive') {
    const [p, tag] = split();
    if (p === '') throw new UsageError(`image reference ${JSON.stringify(ref)} has an empty path`);
    const store = transport === 'oci' ? openOciLayout(p) : await openOciArchive(p);
    return tag === undefined ? { store } : { store, sourceRef: tag };
  }
  if (transport === 'dir' && rest !== '') return { store: openDirStore(rest) };
  throw new UsageError(`unsupported image reference ${JSON.stringify(ref)}: use oci:DIR[:TAG], oci-archive:FILE[:TAG] or dir:DIR (registries: fetch with skopeo copy to dir: first)`);
}
