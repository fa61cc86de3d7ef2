/**
 * Owns the public verbs of an open repository (objects, streams, images,
 * upkeep), grouped by area as composefs-rs names them. Each delegates to its
 * area module; the Repository class (repository.ts) adds lifecycle.
 */
import { withContext } from '../../util/errors.js';
import { assertWritable, type ObjectId, type RepoCore } from './core.js';
import * as objects from './objects.js';
import { createObjectWriter, ObjectBuilder, type ObjectWriter } from './object-builder.js';
import * as streams from './streams.js';
import * as images from './images.js';
import { listRefs, type RefEntry } from './refs.js';
import * as tags from './tags.js';
import { runGc, type GcOptions, type GcResult } from './gc.js';
import { runFsck, type FsckOptions, type FsckResult } from './fsck.js';
import type { SplitStreamWriter } from './splitstream.js';
import type { SplitStream } from './splitstream-reader.js';

export class RepoVerbs {
  protected readonly core: RepoCore;

  protected constructor(core: RepoCore) {
    this.core = core;
  }

  // ---- objects ----
  /** Stores bytes as an object (create if absent, verify if present); returns its id. */
  async ensureObject(data: Uint8Array): Promise<ObjectId> {
    return (await objects.ensureObject(this.core, data)).id;
  }
  /** As ensureObject, also saying whether it was stored, already present, or repaired. */
  storeObject(data: Uint8Array): Promise<objects.EnsureObjectResult> {
    return objects.ensureObject(this.core, data);
  }
  async ensureObjectFromFile(file: string | Buffer): Promise<ObjectId> {
    return (await objects.ensureObjectFromFile(this.core, file)).id;
  }
  async ensureObjectFromStream(source: AsyncIterable<Uint8Array>): Promise<ObjectId> {
    return (await objects.ensureObjectFromStream(this.core, source)).id;
  }
  /** A writer for an object whose bytes arrive in pieces; finish() may check an id claimed in advance. */
  createObjectWriter(): Promise<ObjectWriter> {
    return createObjectWriter(this.core);
  }
  /**
   * Starts an object of `size` bytes that is hashed once, as it is built, and
   * stored under that digest without hashing again (OCI layer entries).
   */
  beginObject(size: number): Promise<ObjectBuilder> {
    return ObjectBuilder.begin(this.core, size);
  }
  hasObject(id: ObjectId): Promise<boolean> {
    return objects.hasObject(this.core, id);
  }
  /** Reads an object (verity-checked in a secure repository). */
  readObject(id: ObjectId): Promise<Buffer> {
    return objects.readObject(this.core, id);
  }
  objectPath(id: ObjectId): string {
    return objects.objectPath(this.core, id);
  }

  // ---- streams ----
  /** A splitstream writer for this repository (content type: CONTENT_TYPE.* or contentTypeOf('…')). */
  createStream(contentType: bigint): SplitStreamWriter {
    return streams.createStream(this.core, contentType);
  }
  /** Stores `data` as an object and appends an external reference to it (`write_external`). */
  async writeExternal(writer: SplitStreamWriter, data: Uint8Array): Promise<ObjectId> {
    const id = await this.ensureObject(data);
    writer.writeExternalRef(id, data.length);
    return id;
  }
  /** Stores the splitstream, syncfs, links `streams/<contentId>` and optionally `streams/refs/<ref>`. */
  writeStream(writer: SplitStreamWriter, contentId: string, ref?: string): Promise<ObjectId> {
    return streams.writeStream(this.core, writer, contentId, ref);
  }
  registerStream(id: ObjectId, contentId: string, ref?: string): Promise<void> {
    return streams.registerStream(this.core, id, contentId, ref);
  }
  hasStream(contentId: string): Promise<ObjectId | undefined> {
    return streams.hasStream(this.core, contentId);
  }
  /** `streams/refs/<name>` → `streams/<contentId>` (a GC root). */
  nameStream(contentId: string, name: string): Promise<void> {
    return streams.nameStream(this.core, contentId, name);
  }
  openStream(name: string, expectedContentType?: bigint): Promise<SplitStream & { id: ObjectId }> {
    return streams.openStream(this.core, name, expectedContentType);
  }
  openStreamObject(id: ObjectId, expectedContentType?: bigint): Promise<SplitStream> {
    return streams.openStreamObject(this.core, id, expectedContentType);
  }
  catStream(name: string, sink: (data: Buffer) => void | Promise<void>): Promise<void> {
    return streams.catStream(this.core, name, sink);
  }
  readExternalStream(name: string, expectedContentType?: bigint): Promise<Buffer> {
    return streams.readExternalStream(this.core, name, expectedContentType);
  }
  /** Symlinks under `streams/refs/<prefix>`, recursively, sorted. */
  listStreamRefs(prefix = ''): Promise<RefEntry[]> {
    return listRefs(this.core, 'streams', prefix);
  }

  // ---- OCI tags (streams/refs/oci/<escaped tag>) ----
  /** Tags the manifest stream `oci-manifest-<manifestDigest>`. */
  tagImage(manifestDigest: string, tag: string): Promise<void> {
    return tags.tagImage(this.core, manifestDigest, tag);
  }
  resolveTag(tag: string): Promise<tags.ResolvedTag | undefined> {
    return tags.resolveTag(this.core, tag);
  }
  listTags(): Promise<{ tag: string; manifestDigest: string }[]> {
    return tags.listTags(this.core);
  }
  untag(tag: string): Promise<boolean> {
    return tags.untag(this.core, tag);
  }

  // ---- images ----
  writeImage(data: Uint8Array, name?: string): Promise<ObjectId> {
    return images.writeImage(this.core, data, name);
  }
  /** Links `images/<id>` (and `images/refs/<name>`) for an EROFS image already stored as an object. */
  linkImage(id: ObjectId, name?: string): Promise<void> {
    return images.linkImage(this.core, id, name);
  }
  nameImage(id: ObjectId, name: string): Promise<void> {
    return images.nameImage(this.core, id, name);
  }
  /** @throws ImageNotFoundError */
  openImage(name: string): Promise<images.OpenedImage> {
    return images.openImage(this.core, name);
  }
  listImageRefs(): Promise<images.ImageRef[]> {
    return images.listImageRefs(this.core);
  }
  listImages(): Promise<ObjectId[]> {
    return images.listImages(this.core);
  }
  objectsForImage(name: string): Promise<ObjectId[]> {
    return images.objectsForImage(this.core, name);
  }

  // ---- upkeep ----
  /**
   * Garbage collection (§7). Takes the exclusive lock (waiting for other
   * holders of the shared lock) unless dry-run, and returns to shared after.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    if (opts.dryRun === true) return runGc(this.core, opts);
    assertWritable(this.core);
    await withContext('Acquiring exclusive lock for GC', () => this.core.sys.flock(this.core.fd, 'exclusive'));
    try {
      return await runGc(this.core, opts);
    } finally {
      await this.core.sys.flock(this.core.fd, 'shared');
    }
  }
  fsck(opts: FsckOptions = {}): Promise<FsckResult> {
    return runFsck(this.core, opts);
  }
  /** syncfs(2) on the repository. */
  sync(): void {
    this.core.sys.syncfs(this.core.fd);
  }
}
