/**
 * Owns `internals cfs mkcomposefs` (also reached as `mkcomposefs` by argv[0]):
 * C mkcomposefs's flags, defaults and output. SOURCE is a directory, or a
 * dumpfile with --from-file (`-` = stdin); IMAGE is a path or `-` (stdout).
 * --print-digest prints the image's sha256 fs-verity digest.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { UsageError, withContext } from '../../util/errors.js';
// Direct modules, not composefs/index.js: this verb is on the start-up fast path (cli/fast-mkcomposefs.ts).
import { parseDumpfile } from '../../composefs/dumpfile.js';
import { writeErofs } from '../../composefs/erofs/writer.js';
import { fsverityHex } from '../../composefs/fsverity.js';
import type { Dir } from '../../composefs/tree.js';
import type { XattrSource } from '../../composefs/scan.js';
import { getXattr, listXattrs } from '../../sys/libc.js';
import { bool, num, str, type HandlerTable } from '../context.js';
import type { Output } from '../output.js';
import type { Args } from '../parse.js';

/** What the verb needs from its caller: the environment and where stdout goes. */
export interface MkcomposefsEnv {
  env: Readonly<Record<string, string | undefined>>;
  out: Pick<Output, 'write' | 'isTTY'>;
}

/** The libc-backed xattr port for the scanner (l*xattr: symlinks are not followed). */
export const LIBC_XATTRS: XattrSource = {
  list: (p) => listXattrs(p),
  get: (p, n) => getXattr(p, n),
};

/** C's version flags: unset → 0..1; once either is given the other defaults to 0. */
function versions(args: Args): { minVersion: number; maxVersion: number } {
  const given = (key: string): number | undefined => {
    if (args[key] === undefined) return undefined;
    const v = num(args, key);
    if (v === undefined || !Number.isInteger(v)) throw new UsageError(`mkcomposefs: invalid ${key.replace('-version', '')} version ${String(args[key])}`);
    return v;
  };
  const min = given('min-version');
  const max = given('max-version');
  if (min === undefined && max === undefined) return { minVersion: 0, maxVersion: 1 };
  return { minVersion: min ?? 0, maxVersion: max ?? 0 };
}

async function loadSource(ctx: MkcomposefsEnv, args: Args, source: string): Promise<Dir> {
  if (bool(args, 'from-file')) {
    return withContext(`Reading dumpfile ${source}`, async () => {
      const text = source === '-' ? readFileSync(0) : readFileSync(source);
      return parseDumpfile(text, { strict: ctx.env['CFS_PARSE_STRICT'] !== undefined });
    });
  }
  if (bool(args, 'skip-xattrs') && bool(args, 'user-xattrs')) throw new UsageError('mkcomposefs: --skip-xattrs and --user-xattrs conflict');
  const threads = num(args, 'threads');
  if (threads !== undefined && (!Number.isInteger(threads) || threads <= 0)) throw new UsageError(`mkcomposefs: invalid threads count ${threads}`);
  const store = str(args, 'digest-store');
  const { scanDirectory } = await import('../../composefs/scan.js');
  return withContext(`Scanning ${source}`, () =>
    scanDirectory(source, {
      xattrs: LIBC_XATTRS,
      xattrFilter: bool(args, 'skip-xattrs') ? 'none' : bool(args, 'user-xattrs') ? 'user' : 'all',
      useEpoch: bool(args, 'use-epoch'),
      skipDevices: bool(args, 'skip-devices'),
      hardlinks: 'copy',
      algorithm: 'sha256',
      ...(store !== undefined ? { digestStore: store } : {}),
      ...(threads !== undefined ? { threads } : {}),
    }),
  );
}

/** Runs `mkcomposefs` with parsed arguments; returns the exit code. */
export async function runMkcomposefs(ctx: MkcomposefsEnv, args: Args): Promise<number> {
  const source = str(args, 'source') ?? '';
  if (source === '') throw new UsageError('mkcomposefs: empty source path specified');
  const image = str(args, 'image');
  const digestOnly = bool(args, 'print-digest-only');
  const printDigest = digestOnly || bool(args, 'print-digest');
  if (digestOnly && image !== undefined) throw new UsageError('mkcomposefs: cannot specify destination path with --print-digest-only');
  if (!digestOnly && image === undefined) throw new UsageError('mkcomposefs: no destination path specified');
  if (image === '-' && ctx.out.isTTY) throw new UsageError('mkcomposefs: stdout is a tty, refusing to write the image to it');
  const v = versions(args);
  const root = await loadSource(ctx, args, source);
  const bytes = await withContext('Writing the EROFS image', async () => writeErofs(root, v));
  if (image === '-') ctx.out.write(bytes);
  else if (image !== undefined) await withContext(`Writing image ${image}`, async () => writeFileSync(image, bytes));
  if (printDigest) ctx.out.write(fsverityHex(bytes, 'sha256') + '\n');
  return 0;
}

export const cfsMkcomposefsHandlers: HandlerTable = {
  'internals cfs mkcomposefs': async (ctx, args) => runMkcomposefs({ env: ctx.host.env, out: ctx.out }, args),
};
