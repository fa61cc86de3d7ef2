/**
 * Owns the initramfs archive format: a deterministic writer for the cpio
 * "newc" format the kernel unpacks. Inode numbers, owners and mtimes come from
 * the caller, never from the host, and entries are written in the given order,
 * so the same input gives the same bytes (GNU cpio --reproducible does not
 * normalise mtimes or owners).
 */

export type CpioEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  size: number;
  rdevMajor: number;
  rdevMinor: number;
  nameLen: number;
}): string {
  return (
    '070701' +
    hex8(fields.ino) +
    hex8(fields.mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(fields.nlink) +
    hex8(fields.mtime) +
    hex8(fields.size) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(fields.rdevMajor) +
    hex8(fields.rdevMinor) +
    hex8(fields.nameLen) +
    hex8(0) // check
  );
}

function record(fields: Parameters<typeof header>[0], name: string, data: Buffer): Buffer[] {
  const nameBuf = Buffer.from(name + '\0', 'utf8');
  const head = Buffer.from(header({ ...fields, nameLen: nameBuf.length }), 'ascii');
  return [head, nameBuf, pad4(head.length + nameBuf.length), data, pad4(data.length)];
}

/**
 * Serialises entries (paths relative, without a leading "/") as a newc archive
 * owned by root with every mtime set to `mtime`, ending with the TRAILER!!! record.
 */
export function formatCpioNewc(entries: readonly CpioEntry[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const base = { ino: ino++, mtime, rdevMajor: 0, rdevMinor: 0, nameLen: 0 };
    switch (e.kind) {
      case 'dir':
        parts.push(...record({ ...base, mode: S_IFDIR | e.mode, nlink: 2, size: 0 }, e.path, Buffer.alloc(0)));
        break;
      case 'file':
        parts.push(...record({ ...base, mode: S_IFREG | e.mode, nlink: 1, size: e.data.length }, e.path, e.data));
        break;
      case 'symlink': {
        const data = Buffer.from(e.target, 'utf8');
        parts.push(...record({ ...base, mode: S_IFLNK | 0o777, nlink: 1, size: data.length }, e.path, data));
        break;
      }
      case 'chardev':
        parts.push(
          ...record({ ...base, mode: S_IFCHR | e.mode, nlink: 1, size: 0, rdevMajor: e.major, rdevMinor: e.minor }, e.path, Buffer.alloc(0)),
        );
        break;
    }
  }
  parts.push(...record({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0, rdevMajor: 0, rdevMinor: 0, nameLen: 0 }, 'TRAILER!!!', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
