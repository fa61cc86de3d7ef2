/**
 * Owns the system calls Node does not expose, reached through koffi (FFI to
 * glibc): flock(2), renameat2(RENAME_EXCHANGE), syncfs(2), the fs-verity ioctls,
 * the l*xattr family, mount(2)/umount2(2), and lseek(2) SEEK_DATA/SEEK_HOLE. Every other module reaches them
 * only through the functions here (docs/decisions/0003-koffi-for-syscalls.md).
 *
 * koffi costs ~30 ms to load, so it is loaded on first use. Paths and xattr
 * names are passed as NUL-terminated byte buffers, so names that are not UTF-8
 * survive. A failing call throws a `SyscallError` carrying the errno name
 * (`errnoName`, e.g. 'EOPNOTSUPP'), the call and the path.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { TsbootcError } from '../util/errors.js';

type KoffiFn = ((...args: unknown[]) => number) & { async: (...args: unknown[]) => void };
interface Koffi {
  load(path: string): { func(decl: string): KoffiFn };
  errno(): number;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;
const RENAME_NOREPLACE = 1;
const FS_IOC_ENABLE_VERITY = 0x40806685;
const FS_IOC_MEASURE_VERITY = 0xc0046686;
export const MS_RDONLY = 1;
export const MNT_DETACH = 2;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_REC = 16384;

/** A failed system call; `errnoName` is the errno name. */
export class SyscallError extends TsbootcError {
  readonly errno: number;
  readonly errnoName: string;
  constructor(call: string, what: string, errno: number) {
    const name = errnoName(errno);
    super(`${call} ${what}: ${name} (errno ${errno})`);
    this.errno = errno;
    this.errnoName = name;
  }
}
Object.defineProperty(SyscallError.prototype, 'name', { value: 'SyscallError' });

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

interface Libc {
  koffi: Koffi;
  flock: KoffiFn;
  renameat2: KoffiFn;
  syncfs: KoffiFn;
  ioctl: KoffiFn;
  llistxattr: KoffiFn;
  lgetxattr: KoffiFn;
  lsetxattr: KoffiFn;
  mount: KoffiFn;
  umount2: KoffiFn;
  lseek: KoffiFn;
}

let libc: Libc | undefined;
function lib(): Libc {
  if (libc !== undefined) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const c = koffi.load('libc.so.6');
  libc = {
    koffi,
    flock: c.func('int flock(int fd, int op)'),
    renameat2: c.func('int renameat2(int olddirfd, const void *oldpath, int newdirfd, const void *newpath, unsigned int flags)'),
    syncfs: c.func('int syncfs(int fd)'),
    ioctl: c.func('int ioctl(int fd, unsigned long request, void *arg)'),
    llistxattr: c.func('intptr_t llistxattr(const void *path, void *list, size_t size)'),
    lgetxattr: c.func('intptr_t lgetxattr(const void *path, const void *name, void *value, size_t size)'),
    lsetxattr: c.func('int lsetxattr(const void *path, const void *name, const void *value, size_t size, int flags)'),
    mount: c.func('int mount(const void *source, const void *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: c.func('int umount2(const void *target, int flags)'),
    lseek: c.func('int64_t lseek(int fd, int64_t offset, int whence)'),
  };
  return libc;
}

/** A NUL-terminated copy of a path or name (string as UTF-8, Buffer as is). */
export function cString(s: string | Uint8Array): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  return Buffer.concat([b, Buffer.alloc(1)]);
}

function show(p: string | Uint8Array): string {
  return typeof p === 'string' ? p : Buffer.from(p).toString('latin1');
}

function check(call: string, what: string, rc: number): number {
  if (rc < 0) throw new SyscallError(call, what, lib().koffi.errno());
  return rc;
}

/** flock(2) without waiting (op includes LOCK_NB) or waiting on the calling thread. */
export function flockSync(fd: number, op: number, what = `fd ${fd}`): void {
  check('flock', what, lib().flock(fd, op));
}

/** flock(2) that waits off the main thread, so the event loop keeps running. */
export function flock(fd: number, op: number, what = `fd ${fd}`): Promise<void> {
  const l = lib();
  return new Promise((resolve, reject) => {
    // errno is read on the worker thread that made the call; koffi hands it back per call.
    l.flock.async(fd, op, (err: unknown, rc: number) => {
      if (err) reject(new TsbootcError(`flock ${what}`, { cause: err }));
      else if (rc < 0) reject(new SyscallError('flock', what, l.koffi.errno()));
      else resolve();
    });
  });
}

/** Atomically swaps two paths (both must exist); EINVAL on filesystems without support (FAT). */
export function renameExchange(a: string | Uint8Array, b: string | Uint8Array): void {
  check('renameat2(RENAME_EXCHANGE)', `${show(a)} <-> ${show(b)}`, lib().renameat2(AT_FDCWD, cString(a), AT_FDCWD, cString(b), RENAME_EXCHANGE));
}

/** rename that fails with EEXIST instead of replacing the destination. */
export function renameNoReplace(from: string | Uint8Array, to: string | Uint8Array): void {
  check('renameat2(RENAME_NOREPLACE)', `${show(from)} -> ${show(to)}`, lib().renameat2(AT_FDCWD, cString(from), AT_FDCWD, cString(to), RENAME_NOREPLACE));
}

export function syncfs(fd: number, what = `fd ${fd}`): void {
  check('syncfs', what, lib().syncfs(fd));
}

/** FS_IOC_ENABLE_VERITY with 4 KiB blocks and no salt. */
export function fsverityEnable(fd: number, alg: 'sha256' | 'sha512', what = `fd ${fd}`): void {
  // struct fsverity_enable_arg: u32 version, hash_algorithm, block_size, salt_size;
  // u64 salt_ptr; u32 sig_size, reserved1; u64 sig_ptr; u64 reserved2[11]  (128 bytes)
  const arg = Buffer.alloc(128);
  arg.writeUInt32LE(1, 0);
  arg.writeUInt32LE(alg === 'sha256' ? 1 : 2, 4);
  arg.writeUInt32LE(4096, 8);
  check('ioctl(FS_IOC_ENABLE_VERITY)', what, lib().ioctl(fd, FS_IOC_ENABLE_VERITY, arg));
}

/** FS_IOC_MEASURE_VERITY: the file's fs-verity digest, as the kernel computed it. */
export function fsverityMeasure(fd: number, what = `fd ${fd}`): { alg: 'sha256' | 'sha512'; digest: Buffer } {
  // struct fsverity_digest: u16 digest_algorithm, u16 digest_size (in: capacity); u8 digest[]
  const arg = Buffer.alloc(4 + 64);
  arg.writeUInt16LE(64, 2);
  check('ioctl(FS_IOC_MEASURE_VERITY)', what, lib().ioctl(fd, FS_IOC_MEASURE_VERITY, arg));
  const algNum = arg.readUInt16LE(0);
  const size = arg.readUInt16LE(2);
  return { alg: algNum === 1 ? 'sha256' : 'sha512', digest: Buffer.from(arg.subarray(4, 4 + size)) };
}

/** The extended attribute names of a path (not following a final symlink), as latin1 byte strings. */
export function listXattrs(path: string | Uint8Array): string[] {
  const l = lib();
  const p = cString(path);
  for (;;) {
    const size = check('llistxattr', show(path), l.llistxattr(p, null, 0));
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const rc = l.llistxattr(p, buf, size);
    if (rc < 0 && l.koffi.errno() === osConstants.errno.ERANGE) continue; // grew meanwhile
    check('llistxattr', show(path), rc);
    return buf
      .subarray(0, rc)
      .toString('latin1')
      .split('\0')
      .filter((n) => n.length > 0);
  }
}

/** One extended attribute's value (the name as a latin1 byte string or bytes). */
export function getXattr(path: string | Uint8Array, name: string | Uint8Array): Buffer {
  const l = lib();
  const p = cString(path);
  const n = cString(typeof name === 'string' ? Buffer.from(name, 'latin1') : name);
  const what = `${show(path)} ${typeof name === 'string' ? name : show(name)}`;
  for (;;) {
    const size = check('lgetxattr', what, l.lgetxattr(p, n, null, 0));
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const rc = l.lgetxattr(p, n, buf, size);
    if (rc < 0 && l.koffi.errno() === osConstants.errno.ERANGE) continue;
    check('lgetxattr', what, rc);
    return buf.subarray(0, rc);
  }
}

export function setXattr(path: string | Uint8Array, name: string | Uint8Array, value: Uint8Array): void {
  const n = cString(typeof name === 'string' ? Buffer.from(name, 'latin1') : name);
  check('lsetxattr', `${show(path)} ${typeof name === 'string' ? name : show(name)}`, lib().lsetxattr(cString(path), n, Buffer.from(value), value.length, 0));
}

/** mount(2). `source` may be a regular file for erofs (the kernel backs it by the file). */
export function mount(source: string, target: string, fstype: string, flags: number, data: string | null): void {
  check('mount', `${source} on ${target} (${fstype}${data ? ' ' + data : ''})`, lib().mount(cString(source), cString(target), fstype, flags, data));
}

export function umount(target: string, flags = 0): void {
  check('umount2', target, lib().umount2(cString(target), flags));
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * The data extent at or after `offset` of a sparse file, as [start, end)
 * (lseek SEEK_DATA then SEEK_HOLE); undefined when only a hole follows (ENXIO).
 */
export function nextDataExtent(fd: number, offset: number, what = `fd ${fd}`): [number, number] | undefined {
  const l = lib();
  const start = Number(l.lseek(fd, offset, SEEK_DATA));
  if (start < 0) {
    const errno = l.koffi.errno();
    if (errnoName(errno) === 'ENXIO') return undefined;
    throw new SyscallError('lseek(SEEK_DATA)', what, errno);
  }
  const end = check('lseek(SEEK_HOLE)', what, Number(l.lseek(fd, start, SEEK_HOLE)));
  return [start, end];
}
