/**
 * Owns the Host model printed by `status`: bootc's `org.containers.bootc/v1`
 * BootcHost (host-v1.schema.json). Field order follows bootc's structs, which is
 * what its YAML output shows; JSON output is canonical (sorted) anyway.
 */

export const HOST_API_VERSION = 'org.containers.bootc/v1';
export const HOST_KIND = 'BootcHost';

export type Transport = string;

export interface ImageReference {
  image: string;
  transport: Transport;
  signature?: { ostreeRemote: string } | 'containerPolicy' | 'insecure';
}

export interface ImageStatus {
  image: ImageReference;
  version: string | null;
  timestamp: string | null;
  imageDigest: string;
  architecture: string;
}

export type BootType = 'Bls' | 'Uki';
import type { Bootloader } from '../boot/constants.js';
export type { Bootloader };

export interface BootEntryComposefs {
  verity: string;
  bootType: BootType;
  bootloader: Bootloader;
  bootDigest: string | null;
  missingVerityAllowed: boolean;
}

export interface BootEntry {
  image: ImageStatus | null;
  cachedUpdate: ImageStatus | null;
  incompatible: boolean;
  pinned: boolean;
  softRebootCapable: boolean;
  downloadOnly: boolean;
  store: 'ostreeContainer' | null;
  ostree: { stateroot: string; checksum: string; deploySerial: number } | null;
  composefs: BootEntryComposefs | null;
}

export interface FilesystemOverlay {
  accessMode: 'readOnly' | 'readWrite';
  persistence: 'transient' | 'persistent';
}

export interface HostSpec {
  image: ImageReference | null;
  bootOrder: 'default' | 'rollback';
}

export interface HostStatus {
  staged: BootEntry | null;
  booted: BootEntry | null;
  rollback: BootEntry | null;
  otherDeployments?: BootEntry[];
  rollbackQueued: boolean;
  type: 'bootcHost' | null;
  usrOverlay: FilesystemOverlay | null;
  readOnly: boolean;
}

export interface Host {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: HostSpec;
  status: HostStatus;
}

/** bootc's `Host::default()`: what status reports for a host not deployed via bootc. */
export function defaultHost(): Host {
  return {
    apiVersion: HOST_API_VERSION,
    kind: HOST_KIND,
    metadata: { name: 'host' },
    spec: { image: null, bootOrder: 'default' },
    status: {
      staged: null,
      booted: null,
      rollback: null,
      rollbackQueued: false,
      type: null,
      usrOverlay: null,
      readOnly: false,
    },
  };
}
