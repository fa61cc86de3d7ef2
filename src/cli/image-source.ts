/**
 * Owns the composition-root choice of where status reads image manifests and
 * configs from. The composefs repository reader (branch cfs-repo) plugs in
 * here; until it lands, status reports deployments without image details
 * (and says so on stderr) unless the deployment has a legacy .imginfo.
 */
import type { Host } from '../sys/host.js';
import { noImageMetadata, type ImageMetadataSource } from '../deploy/image-metadata.js';

export function imageMetadataSource(_host: Host): ImageMetadataSource {
  return noImageMetadata;
}
