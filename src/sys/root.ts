/**
 * Owns host path resolution. Every host path (`/proc/cmdline`, `/sysroot`,
 * `/boot`, `/run`, `/etc`, ...) is reached through a Root, which prefixes it
 * with the directory given by `--root` (default `/`). Nothing else in tsbootc
 * joins absolute host paths.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TsbootcError, withContext } from '../util/errors.js';
import { renameExchange, syncfs } from './libc.js';
import { assertNoSymlinks, assertNoSymlinksSync } from './safe-path.js';

export class Root {
  /** Absolute prefix, without trailing slash unless it is `/`. */
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = path.resolve(prefix);
  }

  /** True when this Root is the running system's `/`. */
  get isHostRoot(): boolean {
    return this.prefix === '/';
  }

  /**
   * Resolves a host path (absolute or relative to the host's `/`) to a real path
   * under the prefix. `..` cannot climb above the prefix.
   */
  resolve(hostPath: string): string {
    const normal = path.posix.normalize('/' + hostPath);
    if (normal.split('/').includes('..')) {
      throw new TsbootcError(`path escapes the root: ${hostPath}`);
    }
    return this.prefix === '/' ? normal : path.join(this.prefix, normal);
  }

  /**
   * Refuses (PlantedSymlinkError) a write to `hostPath` through a symlink
   * below the prefix: any existing component but the last (with `final`,
   * the last too). Every mutating method calls it (src/sys/safe-path.ts).
   */
  async guard(hostPath: string, final = false): Promise<void> {
    await assertNoSymlinks(this.prefix, this.relative(hostPath), { final });
  }

  private relative(hostPath: string): string {
    return path.posix.normalize('/' + hostPath).slice(1);
  }

  /** A Root for a sub-directory of this one (e.g. `/sysroot`, a mounted ESP). */
  sub(hostPath: string): Root {
    return new Root(this.resolve(hostPath));
  }

  async readText(hostPath: string): Promise<string> {
    return withContext(`Reading ${hostPath}`, () => fs.readFile(this.resolve(hostPath), 'utf8'));
  }

  async readBytes(hostPath: string): Promise<Buffer> {
    return withContext(`Reading ${hostPath}`, () => fs.readFile(this.resolve(hostPath)));
  }

  /** Reads a file, or returns undefined when it does not exist. Other errors throw. */
  async tryReadText(hostPath: string): Promise<string | undefined> {
    try {
      return await fs.readFile(this.resolve(hostPath), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new TsbootcError(`Reading ${hostPath}`, { cause: err });
    }
  }

  async tryReadBytes(hostPath: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.resolve(hostPath));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new TsbootcError(`Reading ${hostPath}`, { cause: err });
    }
  }

  async exists(hostPath: string): Promise<boolean> {
    try {
      await fs.lstat(this.resolve(hostPath));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw new TsbootcError(`Checking ${hostPath}`, { cause: err });
    }
  }

  /** lstat, or undefined when the path does not exist. */
  async tryLstat(hostPath: string): Promise<import('node:fs').Stats | undefined> {
    try {
      return await fs.lstat(this.resolve(hostPath));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new TsbootcError(`Checking ${hostPath}`, { cause: err });
    }
  }

  async isDir(hostPath: string): Promise<boolean> {
    try {
      return (await fs.stat(this.resolve(hostPath))).isDirectory();
    } catch (err) {
      if (isNotFound(err)) return false;
      throw new TsbootcError(`Checking ${hostPath}`, { cause: err });
    }
  }

  /** Directory entries sorted by name; [] when the directory does not exist. */
  async listDir(hostPath: string): Promise<string[]> {
    try {
      return (await fs.readdir(this.resolve(hostPath))).sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw new TsbootcError(`Listing ${hostPath}`, { cause: err });
    }
  }

  async mkdirp(hostPath: string, mode?: number): Promise<void> {
    await withContext(`Creating directory ${hostPath}`, async () => {
      await this.guard(hostPath, true);
      await fs.mkdir(this.resolve(hostPath), mode === undefined ? { recursive: true } : { recursive: true, mode });
    });
  }

  /**
   * Writes a file atomically: temp file in the same directory, fsync, rename,
   * fsync of the directory. A crash leaves either the old or the new content.
   */
  async writeAtomic(hostPath: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
    await withContext(`Writing ${hostPath}`, async () => {
      await this.guard(hostPath);
      const dest = this.resolve(hostPath);
      const dir = path.dirname(dest);
      const tmp = path.join(dir, `.${path.basename(dest)}.tmp-${randomBytes(6).toString('hex')}`);
      const fh = await fs.open(tmp, 'wx', mode);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await fs.rename(tmp, dest);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      }
      await fsyncDir(dir);
    });
  }

  async remove(hostPath: string): Promise<void> {
    await withContext(`Removing ${hostPath}`, async () => {
      await this.guard(hostPath);
      await fs.rm(this.resolve(hostPath), { recursive: true, force: true });
    });
  }

  /** Removes an empty directory (never recursive: safe on a path that may still be a mountpoint); absent is fine. */
  async rmdir(hostPath: string): Promise<void> {
    await withContext(`Removing directory ${hostPath}`, async () => {
      await this.guard(hostPath);
      try {
        await fs.rmdir(this.resolve(hostPath));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
  }

  /** rename(2): atomically replaces a file at `to` (same filesystem). */
  async rename(from: string, to: string): Promise<void> {
    await withContext(`Renaming ${from} to ${to}`, async () => {
      await this.guard(from);
      await this.guard(to);
      await fs.rename(this.resolve(from), this.resolve(to));
    });
  }

  /**
   * Swaps two paths atomically (renameat2 RENAME_EXCHANGE). Throws a
   * SyscallError with errnoName EINVAL on filesystems without support (FAT).
   */
  exchange(a: string, b: string): void {
    assertNoSymlinksSync(this.prefix, this.relative(a));
    assertNoSymlinksSync(this.prefix, this.relative(b));
    renameExchange(this.resolve(a), this.resolve(b));
  }

  /** Copies a file or directory tree (overwriting), then fsyncs the destination's parent. */
  async copy(from: string, to: string): Promise<void> {
    await withContext(`Copying ${from} to ${to}`, async () => {
      await this.guard(to, true);
      await fs.cp(this.resolve(from), this.resolve(to), { recursive: true, force: true });
      await fsyncDir(path.dirname(this.resolve(to)));
    });
  }

  /** Copies `from` of another Root (e.g. a mounted image) to `to` in this one. */
  async copyFrom(src: Root, from: string, to: string): Promise<void> {
    await withContext(`Copying ${path.join(src.prefix, from)} to ${to}`, async () => {
      await this.guard(to, true);
      await fs.cp(src.resolve(from), this.resolve(to), { recursive: true, force: true });
      await fsyncDir(path.dirname(this.resolve(to)));
    });
  }

  /** fsyncs a directory (after renames inside it). */
  async syncDir(hostPath: string): Promise<void> {
    await withContext(`Syncing ${hostPath}`, () => fsyncDir(this.resolve(hostPath)));
  }

  /**
   * syncfs(2) of the filesystem holding `hostPath`: the barrier before a
   * commit that makes what was written there reachable (decision 0011).
   */
  async syncFs(hostPath: string): Promise<void> {
    await withContext(`Syncing the filesystem of ${hostPath}`, async () => {
      const fh = await fs.open(this.resolve(hostPath), 'r');
      try {
        syncfs(fh.fd, hostPath);
      } finally {
        await fh.close();
      }
    });
  }

  async readlink(hostPath: string): Promise<string> {
    return withContext(`Reading link ${hostPath}`, () => fs.readlink(this.resolve(hostPath)));
  }

  async symlink(target: string, hostPath: string): Promise<void> {
    await withContext(`Creating symlink ${hostPath}`, async () => {
      await this.guard(hostPath);
      await fs.symlink(target, this.resolve(hostPath));
    });
  }
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** fsync a directory so that a rename inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
