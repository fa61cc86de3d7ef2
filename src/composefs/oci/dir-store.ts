/**
 * Owns reading skopeo's `dir:` transport as an OciStore: `manifest.json`
 * plus blobs named by their bare hex digest (and `version`). There is no
 * index.json, so one is synthesized naming the manifest by the sha256 of its
 * exact bytes; the manifest and config are then verified like any other blob.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { FormatError, oneLine } from '../../util/errors.js';
import { MANIFEST_MAX, MEDIA_OCI_MANIFEST, readFileAtMost, type OciStore } from './layout.js';

/** A `dir:` layout (skopeo copy … dir:DIR). */
export function openDirStore(dir: string): OciStore {
  const blob = (digest: string): string => {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (m === null) throw new FormatError(`unsupported or malformed blob digest ${JSON.stringify(digest)} (only sha256 is supported)`);
    return path.join(dir, m[1]!);
  };
  let manifest: Promise<Buffer> | undefined;
  const readManifest = (): Promise<Buffer> => (manifest ??= readFileAtMost(path.join(dir, 'manifest.json'), MANIFEST_MAX, 'manifest.json'));
  return {
    name: `dir:${dir}`,
    async readIndex() {
      const raw = await readManifest();
      let mediaType = MEDIA_OCI_MANIFEST;
      try {
        const mt = (JSON.parse(raw.toString('utf8')) as { mediaType?: unknown }).mediaType;
        if (typeof mt === 'string') mediaType = mt;
      } catch (err) {
        throw new FormatError(`dir:${dir}/manifest.json: invalid JSON: ${oneLine(err instanceof Error ? err.message : String(err))}`, { cause: err });
      }
      const digest = 'sha256:' + createHash('sha256').update(raw).digest('hex');
      return Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType, digest, size: raw.length }] }));
    },
    open(digest) {
      const file = blob(digest);
      // The manifest is not stored under its digest in a dir: layout.
      return (async function* () {
        const raw = await readManifest();
        if ('sha256:' + createHash('sha256').update(raw).digest('hex') === digest) {
          yield raw;
          return;
        }
        yield* createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
      })();
    },
  };
}
