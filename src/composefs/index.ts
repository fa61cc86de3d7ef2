/**
 * Owns the public surface of the composefs format core: the tree model, the
 * dumpfile format, validation, the EROFS writer/reader and the fs-verity digest.
 * Other areas import from here.
 */
export * from './tree.js';
export { parseDumpfile, printDumpfile, escapeField, unescapeField, chunkCount, type ParseOptions } from './dumpfile.js';
export { validateTree } from './validate.js';
export { FsVerityHasher, fsverityDigest, fsverityHex, digestSize, digestFromLeafHashes, hashLeafBlocks, type VerityAlgorithm } from './fsverity.js';
export { MemoryObjectSink, MemorySplitSink, type ObjectSink, type ObjectWriter, type SplitSink } from './oci/sink.js';
export { readTarLayer, parsePaxRecords, INLINE_CONTENT_MAX, TAR_METADATA_MAX, type TarEntry, type TarItem, type LayerReadResult } from './oci/tar.js';
export { LayerMerger, transformForOci, transformForBoot, CONTAINER_XATTR_ALLOWLIST, type XattrFiltering, type BootTransformOptions } from './oci/merge.js';
export { openOciLayout, openOciArchive, resolveOciImage, verifiedBlob, readVerifiedBlob, nativePlatform, type OciStore, type OciDescriptor, type OciPlatform, type ResolvedImage } from './oci/layout.js';
export { importOciImage, importLayerTar, layerTarStream, layerCompression, gzipDecompressor, type Decompressor, type ImportOptions, type ImportedImage, type ImportedLayer, type LayerImportOptions } from './oci/import.js';
export { writeErofs, erofsImageId, resolveVersion, type WriteErofsOptions } from './erofs/writer.js';
export { readErofs, collectObjects } from './erofs/reader.js';
export { formatInfoLs, formatInfoDump, listInfoObjects, type InfoOptions } from './erofs/info.js';
export { scanDirectory, INLINE_MAX, type ScanOptions, type XattrSource } from './scan.js';
export { VerityPool, fsverityDigestFile, fsverityDigestFdSync, newReadBuffer } from './fsverity-file.js';
export { pullOciImage, type PullOptions, type PullResult } from './oci/store.js';
export { openDirStore } from './oci/dir-store.js';
export { openImageSource, type ImageSource } from './oci/source.js';
export { RepoObjectSink, StreamSplitSink, formatImportStats, humanBytes, newImportStats, type ImportStats } from './oci/repo-sink.js';
export {
  IMAGE_REF_KEY,
  IMAGE_REF_KEY_V1,
  BOOT_IMAGE_REF_KEY,
  BOOT_IMAGE_REF_KEY_V1,
  manifestStreamName,
  configStreamName,
  layerStreamName,
  imageRefKey,
  idForVersion,
  openStoredImage,
  openTaggedImage,
  openImageArg,
  resolveTag,
  tagImage,
  untagImage,
  listTags,
  writeConfigStream,
  writeManifestStream,
  type StoredImage,
  type ImageIds,
} from './oci/stored.js';
export { buildStoredTree, mergeStoredLayer, readStoredLayer, storedLayerTar, storedLayerInfo } from './oci/stored-tree.js';
