/**
 * Owns the vocabulary of the disk layer shared by the device and image-file
 * paths: the options and result types, the identifiers (GPT label id, root
 * UUID, FAT volume id), option validation, the sfdisk command line, and how a
 * PreparedDisk is assembled from the plan and the table read back.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { PartitionTable } from '../sys/blockdev.js';
import { TsbootcError, UsageError } from '../util/errors.js';
import type { BlockSetup, Filesystem } from './config.js';
import { parseRootFilesystem, requiredSizeMiB } from './disk-checks.js';
import { formatVolumeId, type EspTarget } from './esp.js';
import { planPartitions, type PartitionPlan } from './partition.js';

export const ROOT_LABEL = 'root';

export interface DiskIds {
  /** GPT disk GUID. */
  labelId: string;
  rootUuid: string;
  /** FAT volume id, 8 hex digits (blkid shows it as XXXX-XXXX). */
  espVolumeId: string;
}

export interface PrepareDiskOptions {
  /** Block device, or image file with `viaLoopback`. */
  device: string;
  viaLoopback: boolean;
  wipe: boolean;
  /** Validated here: ext4, xfs or btrfs. */
  filesystem: string;
  rootSizeMiB?: number;
  blockSetup: BlockSetup;
  /** Rust architecture name (x86_64, aarch64, …). */
  arch: string;
  /** Fixed identifiers (tests, reproducible images); random when absent. */
  ids?: Partial<DiskIds>;
  /**
   * For an image file: `loop` attaches a loop device (needs root), `offsets`
   * writes partitions by byte offset (no privileges). Default: loop when root.
   */
  imageMethod?: 'loop' | 'offsets';
  /** Image file only: create it with this size when it does not exist. */
  createSizeBytes?: number;
  /** `offsets` only: populate the root filesystem from this directory (mkfs -d / --rootdir). */
  rootSource?: string;
  /** `offsets` with ext4 only: `scratch-file` builds the root in a separate file and copies it in (for measurements). */
  rootWrite?: 'in-place' | 'scratch-file';
  /** `loop` only: called with the loop device right after it is attached, before it is used. */
  onLoopAttached?: (loop: string) => Promise<void>;
}

/** Where the root filesystem is: a partition device, or a byte range of the image file. */
export type RootLocation = { device: string } | { file: string; offset: number; sizeBytes: number };

export interface PreparedDisk {
  /** The disk partitioned: the block device, the loop device, or the image file. */
  disk: string;
  filesystem: Filesystem;
  method: 'device' | 'loop' | 'offsets';
  root: RootLocation;
  esp: EspTarget | undefined;
  rootUuid: string;
  /** `XXXX-XXXX`, as blkid and `root=`/`efiuuid.cfg` want it. */
  espUuid: string | undefined;
  partuuids: { esp?: string; root: string; biosBoot?: string };
  table: PartitionTable;
}

export function resolveIds(ids: Partial<DiskIds> | undefined): DiskIds {
  return {
    labelId: ids?.labelId ?? randomUUID(),
    rootUuid: ids?.rootUuid ?? randomUUID(),
    espVolumeId: (ids?.espVolumeId ?? randomBytes(4).toString('hex')).toUpperCase(),
  };
}

/** sfdisk writing a fresh table and erasing old signatures in the new partitions. */
export const SFDISK_ARGV = (target: string) => ['sfdisk', '--quiet', '--wipe', 'always', '--wipe-partitions', 'always', target];

export function validateOptions(o: PrepareDiskOptions): { fs: Filesystem; needMiB: number } {
  const fs = parseRootFilesystem(o.filesystem, o.device);
  if (o.blockSetup !== 'direct') throw new UsageError(`install to-disk: --block-setup ${o.blockSetup} is not supported yet (${o.device})`);
  planPartitions({ arch: o.arch, labelId: 'check', blockSetup: o.blockSetup }); // throws on an unknown arch
  if (o.rootSource !== undefined && fs === 'xfs') {
    throw new UsageError(`install to-disk: xfs cannot be populated from a directory without mounting (${o.device}); use ext4 or btrfs`);
  }
  return { fs, needMiB: requiredSizeMiB(o) };
}

export function partitionNumbers(plan: PartitionPlan): number[] {
  return Array.from({ length: plan.rootPartno }, (_, i) => i + 1);
}

/** Assembles the PreparedDisk from the plan and the partition table read back. */
export function result(disk: string, fs: Filesystem, method: PreparedDisk['method'], root: RootLocation, esp: EspTarget | undefined, ids: DiskIds, plan: PartitionPlan, table: PartitionTable): PreparedDisk {
  const uuidOf = (n: number | undefined) => table.partitions.find((p) => p.number === n)?.uuid;
  const rootPartuuid = uuidOf(plan.rootPartno);
  if (rootPartuuid === undefined) throw new TsbootcError(`the partition table of ${disk} has no partition ${plan.rootPartno} after sfdisk`);
  const partuuids: PreparedDisk['partuuids'] = { root: rootPartuuid };
  const espPartuuid = uuidOf(plan.espPartno);
  if (espPartuuid !== undefined) partuuids.esp = espPartuuid;
  const bios = table.partitions.find((p) => p.name === 'BIOS-BOOT')?.uuid;
  if (bios !== undefined) partuuids.biosBoot = bios;
  return { disk, filesystem: fs, method, root, esp, rootUuid: ids.rootUuid, espUuid: esp !== undefined ? formatVolumeId(ids.espVolumeId) : undefined, partuuids, table };
}
