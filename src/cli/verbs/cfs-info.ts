/**
 * Owns `internals cfs composefs-info` (also run as `composefs-info` through an
 * argv[0] symlink): ls, dump, objects, missing-objects and measure-file, with
 * output byte-identical to the C tool. Image and file paths are the user's own
 * (relative to the working directory), so they are read directly rather than
 * through the host Root.
 *
 * measure-file: the C tool asks the kernel (FS_IOC_MEASURE_VERITY) first and
 * computes the digest itself when the file has no fs-verity. tsbootc always
 * computes it in userspace (SHA-256, 4 KiB blocks, no salt), which gives the
 * same digest; the ioctl is not available to it here.
 */
import { open, readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { TsbootcError, withContext } from '../../util/errors.js';
import { FsVerityHasher, formatInfoDump, formatInfoLs, listInfoObjects, type InfoOptions } from '../../composefs/index.js';
import { str, strs, type Context, type HandlerTable } from '../context.js';
import type { Args } from '../parse.js';

const PREFIX = 'internals cfs composefs-info';

function infoOptions(args: Args): InfoOptions {
  const filter = strs(args, 'filter').map((f) => {
    if (f.includes('/')) throw new TsbootcError(`Filter must be a single name: ${f}`);
    return Buffer.from(f, 'utf8').toString('latin1');
  });
  return filter.length > 0 ? { filter } : {};
}

async function readImage(path: string): Promise<Buffer> {
  return withContext(`Loading '${path}'`, () => readFile(path));
}

function loadWith<T>(path: string, fn: () => T): Promise<T> {
  return withContext(`Loading '${path}'`, async () => fn());
}

async function perImage(ctx: Context, args: Args, format: (image: Buffer, opts: InfoOptions) => Buffer): Promise<number> {
  const opts = infoOptions(args);
  for (const path of strs(args, 'images')) {
    const image = await readImage(path);
    ctx.out.write(await loadWith(path, () => format(image, opts)));
  }
  return 0;
}

async function objects(ctx: Context, args: Args, missing: boolean): Promise<number> {
  const opts = infoOptions(args);
  const basedir = str(args, 'basedir');
  if (basedir !== undefined && !statSync(basedir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new TsbootcError(`Can't open basedir \`${basedir}\`: not a directory`);
  }
  // Like C: without --basedir every object counts as missing.
  const isPresent = !missing ? undefined : (rel: string): boolean => basedir !== undefined && statSync(`${basedir}/${Buffer.from(rel, 'latin1').toString('utf8')}`, { throwIfNoEntry: false }) !== undefined;
  const all = new Set<string>();
  for (const path of strs(args, 'images')) {
    const image = await readImage(path);
    for (const p of await loadWith(path, () => listInfoObjects([image], isPresent, opts))) all.add(p);
  }
  const found = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  ctx.out.write(Buffer.from(found.map((p) => p + '\n').join(''), 'latin1'));
  return 0;
}

/** The fs-verity SHA-256 digest of a file, streamed in 1 MiB reads. */
async function measureFile(path: string): Promise<string> {
  const fh = await withContext(`Failed to open '${path}'`, () => open(path, 'r'));
  try {
    const hasher = new FsVerityHasher('sha256');
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
    }
    return hasher.digest().toString('hex');
  } finally {
    await fh.close();
  }
}

export const cfsInfoHandlers: HandlerTable = {
  [`${PREFIX} ls`]: (ctx, args) => perImage(ctx, args, formatInfoLs),
  [`${PREFIX} dump`]: (ctx, args) => perImage(ctx, args, formatInfoDump),
  [`${PREFIX} objects`]: (ctx, args) => objects(ctx, args, false),
  [`${PREFIX} missing-objects`]: (ctx, args) => objects(ctx, args, true),
  [`${PREFIX} measure-file`]: async (ctx, args) => {
    for (const path of strs(args, 'files')) ctx.out.write((await measureFile(path)) + '\n');
    return 0;
  },
};
