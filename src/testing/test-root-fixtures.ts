/**
 * Owns the fixed data of TestRoot hosts: image name, UUIDs, os-release,
 * deterministic deployment ids, the mountinfo and EFI variable encodings, and
 * listing a fake tree for whole-tree assertions.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Root } from '../sys/root.js';
import type { ImageMetadata } from '../deploy/image-metadata.js';

export const IMAGE = 'quay.io/example/os:latest';
export const ROOT_UUID = '6f3c2d1e-0000-4000-8000-000000000001';
export const ESP_UUID = 'ABCD-1234';
export const OS_RELEASE = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=44\nPRETTY_NAME="Fedora Linux 44 (Forty Four)"\n';

export interface Build {
  n: number;
  verity: string;
  kernel: number;
  manifestDigest: string;
  meta: ImageMetadata;
}

export function fakeVerity(n: number): string {
  return createHash('sha512').update(`build-${n}`).digest('hex');
}

/** Every path under `sub` of `root` (sorted), symlinks as `-> target`, dirs with a trailing `/`. */
export async function listTree(root: Root, sub = '/'): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await fs.readdir(root.resolve(rel)).catch(() => [] as string[])).sort();
    for (const name of names) {
      const r = path.posix.join(rel, name);
      const st = await fs.lstat(root.resolve(r));
      if (st.isSymbolicLink()) out.push(`${r} -> ${await fs.readlink(root.resolve(r))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        await walk(r);
      } else out.push(r);
    }
  };
  await walk(sub);
  return out;
}

export function mountinfo(verity: string, espMount: string, extra: string[] = []): string {
  return [
    `22 1 0:21 / / ro,relatime shared:1 - overlay composefs:${verity} ro,lowerdir=/run/composefs/erofs`,
    '23 22 252:3 / /sysroot ro,relatime shared:2 - ext4 /dev/vda3 rw,seclabel',
    '24 22 252:3 /state/deploy/x/etc /etc rw,relatime shared:3 - ext4 /dev/vda3 rw,seclabel',
    `25 22 252:2 / ${espMount} rw,relatime shared:4 - vfat /dev/vda2 rw,fmask=0077,dmask=0077,codepage=437`,
    ...extra,
  ].join('\n') + '\n';
}

/** An efivarfs file: 4-byte attributes then UTF-16LE NUL-terminated text. */
export function efiVar(text: string): Buffer {
  const attrs = Buffer.from([0x06, 0x00, 0x00, 0x00]);
  return Buffer.concat([attrs, Buffer.from(text + '\0', 'utf16le')]);
}
