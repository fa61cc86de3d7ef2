/**
 * Owns the public surface of the composefs format core: the tree model, the
 * dumpfile format, validation, the EROFS writer/reader and the fs-verity digest.
 * Other areas import from here.
 */
export * from './tree.js';
export { parseDumpfile, printDumpfile, escapeField, unescapeField, chunkCount, type ParseOptions } from './dumpfile.js';
export { validateTree } from './validate.js';
export { FsVerityHasher, fsverityDigest, fsverityHex, digestSize, digestFromLeafHashes, hashLeafBlocks, type VerityAlgorithm } from './fsverity.js';
export { writeErofs, erofsImageId, resolveVersion, type WriteErofsOptions } from './erofs/writer.js';
export { readErofs, collectObjects } from './erofs/reader.js';
export { formatInfoLs, formatInfoDump, listInfoObjects, type InfoOptions } from './erofs/info.js';
export { scanDirectory, INLINE_MAX, type ScanOptions, type XattrSource } from './scan.js';
export { VerityPool, fsverityDigestFile, fsverityDigestFdSync, newReadBuffer } from './fsverity-file.js';
