/**
 * Owns objects whose bytes arrive in pieces: `ObjectBuilder`, which hashes
 * what it is given exactly once and stores it under that digest (the
 * known-id path the OCI importer uses), and the older `createObjectWriter`,
 * which checks an id the caller claims.
 *
 * Why the builder's id can be trusted without hashing again: the id is never
 * a parameter. The builder computes it from the very bytes it holds (small
 * objects: one buffer it allocated; large ones: a temporary it created and
 * alone writes), so the id a caller gets from digest() and the content that
 * commit() stores cannot disagree short of a bug in this file. In a secure
 * repository the kernel measures the file anyway and a mismatch is refused
 * (objects.ts sealTemp); in an insecure repository nothing but this hasher
 * ever vouched for content, as with ensureObject(data). Objects already
 * present with the same size are taken as they are (composefs.md §1.1).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { FsVerityHasher, fsverityDigest } from '../fsverity.js';
import { TsbootcError } from '../../util/errors.js';
import type { ObjectId, RepoCore } from './core.js';
import { isPresent, publishKnownTemp, publishTemp, sealTemp, tempObjectPath, type EnsureObjectResult } from './objects.js';

/** Objects up to this size are built in memory and written with one call; larger ones stream to a temporary. */
export const MEMORY_OBJECT_MAX = 4 << 20;

/** open(path, O_WRONLY|O_CREAT|O_EXCL, 0644) on the libuv pool, as a plain fd. */
function openExclusive(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'wx', 0o644, (err, fd) => (err === null ? resolve(fd) : reject(err))));
}

interface FileState {
  tmp: string;
  fh: fsp.FileHandle | undefined;
  hasher: FsVerityHasher;
}

/** One object of a size known up front, built from pieces (see the file comment). */
export class ObjectBuilder {
  readonly #core: RepoCore;
  readonly #size: number;
  #data: Buffer | undefined;
  #file: FileState | undefined;
  #at = 0;
  #id: Buffer | undefined;
  #state: 'open' | 'digested' | 'done' = 'open';

  private constructor(core: RepoCore, size: number, data: Buffer | undefined, file: FileState | undefined) {
    this.#core = core;
    this.#size = size;
    this.#data = data;
    this.#file = file;
  }

  /** Starts an object of exactly `size` bytes (`MEMORY_OBJECT_MAX` or less is kept in memory). */
  static async begin(core: RepoCore, size: number): Promise<ObjectBuilder> {
    if (!Number.isSafeInteger(size) || size < 0) throw new TsbootcError(`invalid object size ${size}`);
    if (size <= MEMORY_OBJECT_MAX) return new ObjectBuilder(core, size, Buffer.allocUnsafeSlow(size), undefined); // unpooled: see Arena in oci/sink.ts
    const tmp = tempObjectPath(core);
    const fh = await fsp.open(tmp, 'wx', 0o644);
    return new ObjectBuilder(core, size, undefined, { tmp, fh, hasher: new FsVerityHasher(core.algorithm) });
  }

  get size(): number {
    return this.#size;
  }

  /** Appends bytes (copied or written at once: the chunk may be reused after the call settles). */
  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#state !== 'open') throw new TsbootcError('object builder: write after digest()');
    if (this.#at + chunk.length > this.#size) throw new TsbootcError(`object content is larger than the ${this.#size} bytes announced`);
    this.#at += chunk.length;
    if (this.#data !== undefined) {
      this.#data.set(chunk, this.#at - chunk.length);
      return;
    }
    const f = this.#file!;
    f.hasher.update(chunk);
    return f.fh!.write(chunk).then(() => undefined);
  }

  /** The fs-verity digest of the complete content; no write is accepted after it. */
  digest(): Buffer {
    if (this.#id !== undefined) return this.#id;
    if (this.#at !== this.#size) throw new TsbootcError(`object content truncated: ${this.#at} of ${this.#size} bytes`);
    this.#state = 'digested';
    this.#id = this.#data !== undefined ? fsverityDigest(this.#data, this.#core.algorithm) : this.#file!.hasher.digest();
    return this.#id;
  }

  /**
   * Stores the object under digest(); the builder is spent afterwards. An
   * object already present with the same size is not written again.
   */
  async commit(): Promise<EnsureObjectResult> {
    const id = this.digest().toString('hex');
    if (this.#state === 'done') throw new TsbootcError('object builder: committed twice');
    this.#state = 'done';
    const data = this.#data;
    this.#data = undefined;
    if (data !== undefined) {
      if (isPresent(this.#core, id, this.#size)) return { id, method: 'already-present' };
      const tmp = tempObjectPath(this.#core);
      try {
        // Creating the file is the slow part (ext4 here: 0.3–0.9 ms, mostly
        // waiting), so it runs on the libuv pool while the importer goes on;
        // the rest is synchronous (see publishKnownTemp).
        const fd = await openExclusive(tmp);
        try {
          fs.writeSync(fd, data);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
      return { id, method: publishKnownTemp(this.#core, tmp, id, this.#size) };
    }
    const f = this.#file!;
    await this.#closeFile();
    return { id, method: publishKnownTemp(this.#core, f.tmp, id, this.#size) };
  }

  /** Drops the partial object. */
  async abort(): Promise<void> {
    this.#state = 'done';
    this.#data = undefined;
    if (this.#file !== undefined) {
      await this.#closeFile().catch(() => undefined);
      await fsp.rm(this.#file.tmp, { force: true });
    }
  }

  async #closeFile(): Promise<void> {
    const f = this.#file!;
    const fh = f.fh;
    f.fh = undefined;
    if (fh !== undefined) await fh.close();
  }
}

/** An object being written piece by piece, whose id the caller may claim in advance. */
export interface ObjectWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Seals and publishes the object; `expected`, if given, must equal the computed id. */
  finish(expected?: ObjectId): Promise<EnsureObjectResult>;
  /** Drops the partial object. */
  abort(): Promise<void>;
}

/** Opens a temporary for an object whose bytes arrive in pieces; nothing is visible until finish(). */
export async function createObjectWriter(core: RepoCore): Promise<ObjectWriter> {
  const tmp = tempObjectPath(core);
  const fh = await fsp.open(tmp, 'wx', 0o644);
  const h = new FsVerityHasher(core.algorithm);
  let size = 0;
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  return {
    async write(chunk) {
      h.update(chunk);
      size += chunk.length;
      await fh.write(chunk);
    },
    async finish(expected) {
      try {
        await close();
        const id = h.digest().toString('hex');
        if (expected !== undefined && expected !== id) throw new TsbootcError(`object content has fs-verity digest ${id}, expected ${expected}`);
        sealTemp(core, tmp, id);
        return { id, method: await publishTemp(core, tmp, id, size) };
      } finally {
        await fsp.rm(tmp, { force: true });
      }
    },
    async abort() {
      await close();
      await fsp.rm(tmp, { force: true });
    },
  };
}
