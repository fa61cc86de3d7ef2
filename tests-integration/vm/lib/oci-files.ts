/**
 * Owns reading files out of a test image's layers without unpacking it:
 * gunzip + tar-stream over each layer blob of an OCI layout tag.
 */
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { readBlob, readManifestDescriptor } from '../image/oci.js';

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

/** The contents of the regular files whose layer paths (without a leading "./" or "/") satisfy want. */
export async function readImageFiles(layout: string, tag: string, want: (p: string) => boolean): Promise<Map<string, Buffer>> {
  const manifest = JSON.parse(readBlob(layout, readManifestDescriptor(layout, tag).digest).toString('utf8')) as Manifest;
  const files = new Map<string, Buffer>();
  for (const layer of manifest.layers) {
    const raw = readBlob(layout, layer.digest);
    const data = layer.mediaType.endsWith('+gzip') ? gunzipSync(raw) : raw;
    await new Promise<void>((resolve, reject) => {
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        const name = header.name.replace(/^\.?\//, '');
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => chunks.push(c as Buffer));
        stream.on('end', () => {
          if (header.type === 'file' && want(name)) files.set(name, Buffer.concat(chunks));
          next();
        });
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      extract.end(data);
    });
  }
  return files;
}
