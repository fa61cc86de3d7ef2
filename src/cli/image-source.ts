/**
 * Owns the composition-root choice of where status reads image manifests and
 * configs from: the host's composefs repository (`streams/oci-manifest-…`).
 * A missing repository or stream leaves the deployment without image details
 * (a warning), never a failed status.
 */
import type { Host } from '../sys/host.js';
import type { ImageMetadataSource } from '../deploy/image-metadata.js';
import { repositoryImageMetadata } from '../deploy/repo-access.js';
import { hostRepoAccess } from './host-repo.js';

export function imageMetadataSource(host: Host): ImageMetadataSource & { close(): void } {
  return repositoryImageMetadata(hostRepoAccess(host));
}
