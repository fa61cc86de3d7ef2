/**
 * Owns the cfsctl-compatible repository verbs under `internals cfs`: init,
 * transaction, cat, gc, import-image, images, image-objects, dump-files, fsck,
 * create-image, compute-id, create-dumpfile and mount, with cfsctl's global
 * options (--repo/--user/--system, --hash, --insecure, --erofs-version,
 * --require-verity, --no-upgrade, --no-repo) and cfsctl's output formats
 * (crates/composefs-ctl/src/lib.rs).
 *
 * `gc`'s GC roots are `-r`/`--gc-root`/`--additional-root`, and cfsctl's
 * `--root` when written after `gc` (cli/parse.ts rewrites it); a `--root`
 * before `gc` stays tsbootc's host root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsbootcError, UsageError, withContext } from '../../util/errors.js';
import { printDumpfile, readErofs, transformForBoot, transformForOci, writeErofs, type Dir, type VerityAlgorithm, type XattrFiltering } from '../../composefs/index.js';
import { scanDirectory } from '../../composefs/scan.js';
import { dumpFiles } from '../../composefs/dump-files.js';
import { Repository, RepositoryOpenError, algorithmName, formatFsck, fsckJson, fsckOk, parseAlgorithmName, parseMetadata, type ErofsFormatVersion, type RepositoryOptions } from '../../composefs/repository/index.js';
import { realRepoSyscalls } from '../../sys/repo-syscalls.js';
import { libzstdCodec } from '../../sys/zstd.js';
import { bool, num, str, strs, type Context, type HandlerTable } from '../context.js';
import type { Args } from '../parse.js';
import { LIBC_XATTRS } from './cfs-mkcomposefs.js';
import { mountImage, storeTreeObjects } from './cfs-repo-tree.js';

const P = 'internals cfs';

/** `--repo PATH`, else `--user` ($HOME/.var/lib/composefs) or `--system` (/sysroot/composefs); default by uid. */
export function resolveRepoPath(ctx: Context, args: Args): string {
  const repo = str(args, 'repo');
  const user = bool(args, 'user');
  const system = bool(args, 'system');
  if ([repo !== undefined, user, system].filter(Boolean).length > 1) throw new UsageError('cfs: --repo, --user and --system are mutually exclusive');
  if (repo !== undefined) return repo;
  if (system || (!user && ctx.host.isRoot)) return ctx.host.root.resolve('/sysroot/composefs');
  const home = ctx.host.env['HOME'];
  if (home === undefined || home === '') throw new TsbootcError('$HOME must be set when in user mode');
  return path.join(home, '.var/lib/composefs');
}

function erofsVersionArg(args: Args): ErofsFormatVersion | undefined {
  const v = num(args, 'erofs-version');
  if (v === undefined) return undefined;
  if (v !== 0 && v !== 1 && v !== 2) throw new UsageError(`cfs: invalid --erofs-version ${v} (0, 1 or 2)`);
  return v;
}

function hashArg(args: Args): VerityAlgorithm | undefined {
  const h = str(args, 'hash');
  if (h === undefined) return undefined;
  const alg = parseAlgorithmName(h);
  if (alg === undefined) throw new UsageError(`cfs: invalid --hash ${h} (sha256 or sha512)`);
  return alg;
}

function repoOptions(ctx: Context, args: Args): RepositoryOptions {
  const hash = hashArg(args);
  const v = erofsVersionArg(args);
  return {
    sys: realRepoSyscalls(),
    zstd: libzstdCodec(),
    insecure: bool(args, 'insecure'),
    requireVerity: bool(args, 'require-verity'),
    log: (e) => ctx.host.log.debug({ kind: 'message', message: `composefs: ${JSON.stringify(e)}` }),
    ...(hash !== undefined ? { algorithm: hash } : {}),
    ...(v !== undefined ? { erofsVersion: v } : {}),
  };
}

/** Opens the repository (upgrading a pre-meta.json one unless --no-upgrade), runs `fn`, closes it. */
export async function withRepo<T>(ctx: Context, args: Args, fn: (repo: Repository) => Promise<T>): Promise<T> {
  if (bool(args, 'no-repo')) throw new UsageError('--no-repo is only supported for compute-id and create-dumpfile');
  const p = resolveRepoPath(ctx, args);
  const opts = repoOptions(ctx, args);
  const repo = bool(args, 'no-upgrade') ? await Repository.open(p, opts) : (await Repository.openUpgrade(p, opts)).repo;
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

/** The algorithm for verbs that need no repository: meta.json's if there is one (not with --no-repo), else --hash, else sha512. */
function algorithmWithoutRepo(ctx: Context, args: Args): VerityAlgorithm {
  const hash = hashArg(args);
  if (bool(args, 'no-repo')) return hash ?? 'sha512';
  let p: string;
  try {
    p = resolveRepoPath(ctx, args);
  } catch {
    return hash ?? 'sha512';
  }
  let text: string;
  try {
    text = fs.readFileSync(path.join(p, 'meta.json'), 'utf8');
  } catch {
    return hash ?? 'sha512';
  }
  const meta = parseMetadata(text, p);
  if (hash !== undefined && hash !== meta.algorithm) {
    throw new RepositoryOpenError('algorithm-mismatch', p, `repository algorithm ${algorithmName(meta.algorithm)} does not match expected ${algorithmName(hash)}`);
  }
  return meta.algorithm;
}

function xattrMode(args: Args): XattrFiltering {
  const m = str(args, 'xattrs') ?? 'allowlist-only';
  if (m !== 'allowlist-only' && m !== 'keep-user-xattrs') throw new UsageError(`cfs: invalid --xattrs ${m} (allowlist-only or keep-user-xattrs)`);
  return m;
}

/**
 * Scans PATH as cfsctl's create-image/compute-id/create-dumpfile do: the OCI
 * root transform unless --no-propagate-usr-to-root, then with --bootable the
 * boot transform (which reads /etc/selinux/config from PATH when it is not inline).
 */
async function loadTree(args: Args, alg: VerityAlgorithm): Promise<Dir> {
  const dir = str(args, 'path') ?? '';
  const tree = await withContext(`Scanning ${dir}`, () => scanDirectory(dir, { xattrs: LIBC_XATTRS, hardlinks: 'share', algorithm: alg }));
  if (!bool(args, 'no-propagate-usr-to-root')) {
    const mode = xattrMode(args);
    await withContext(`Transforming ${dir} (use --no-propagate-usr-to-root to keep its root as is)`, async () => transformForOci(tree, { xattrs: mode }));
  }
  if (bool(args, 'bootable')) {
    await withContext(`Applying the boot transform to ${dir}`, () => transformForBoot(tree, { readObject: async () => fs.readFileSync(path.join(dir, 'etc/selinux/config')) }));
  }
  return tree;
}

function versionOpts(v: ErofsFormatVersion): { minVersion: number; maxVersion: number } {
  return { minVersion: v, maxVersion: v };
}

/** comfy-table's UTF8_FULL preset, as cfsctl prints `images`. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (l: string, fill: string, mid: string, r: string) => l + widths.map((w) => fill.repeat(w + 2)).join(mid) + r;
  const row = (cells: readonly string[]) => '│' + widths.map((w, i) => ` ${(cells[i] ?? '').padEnd(w)} `).join('┆') + '│';
  const out = [line('┌', '─', '┬', '┐'), row(header), line('╞', '═', '╪', '╡')];
  rows.forEach((r, i) => {
    if (i > 0) out.push(line('├', '╌', '┼', '┤'));
    out.push(row(r));
  });
  out.push(line('└', '─', '┴', '┘'));
  return out.join('\n') + '\n';
}

export const cfsRepoHandlers: HandlerTable = {
  [`${P} init`]: async (ctx, args) => {
    const p = str(args, 'path') ?? resolveRepoPath(ctx, args);
    const algorithm = parseAlgorithmName(str(args, 'algorithm') ?? 'fsverity-sha512-12');
    if (algorithm === undefined) throw new UsageError(`init: invalid --algorithm ${str(args, 'algorithm') ?? ''} (fsverity-sha256-12 or fsverity-sha512-12)`);
    const insecure = bool(args, 'insecure');
    const opts = { ...repoOptions(ctx, args), algorithm, insecure };
    if (bool(args, 'reset-metadata')) {
      for (const d of ['streams', 'images', 'meta.json']) fs.rmSync(path.join(p, d), { recursive: true, force: true });
    }
    const createdLines = [`Initialized composefs repository at ${p}`, `  algorithm: ${algorithmName(algorithm)}`, `  verity:    ${insecure ? 'not required (insecure)' : 'required'}`];
    if (bool(args, 'ensure')) {
      const { repo, status } = await Repository.ensure(p, opts);
      repo.close();
      const text = status === 'created' ? createdLines : status === 'opened' ? [`Repository already initialized at ${p} (existing configuration preserved)`] : [`Upgraded legacy repository at ${p}`];
      ctx.out.write(text.join('\n') + '\n');
      return 0;
    }
    const { repo, created } = await Repository.init(p, opts);
    repo.close();
    ctx.out.write((created ? createdLines : [`Repository already initialized at ${p}`]).join('\n') + '\n');
    return 0;
  },

  [`${P} transaction`]: async (ctx, args) =>
    withRepo(ctx, args, async () => {
      // Hold the shared lock (blocking GC) until interrupted, like cfsctl.
      await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
      return 0;
    }),

  [`${P} cat`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      await repo.catStream(str(args, 'name') ?? '', (d) => ctx.out.write(d));
      return 0;
    }),

  [`${P} import-image`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const id = await repo.writeImage(fs.readFileSync(0), str(args, 'ref') ?? '');
      ctx.out.write(`${repo.algorithm}:${id}\n`);
      return 0;
    }),

  [`${P} gc`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const dryRun = bool(args, 'dry-run');
      const r = await repo.gc({ additionalRoots: strs(args, 'gc-root'), dryRun });
      const lines = dryRun ? ['Dry run (no files deleted):'] : [];
      lines.push(`Objects: ${r.objectsRemoved} removed (${r.objectsBytes} bytes)`);
      if (r.imagesPruned > 0 || r.streamsPruned > 0) lines.push(`Pruned symlinks: ${r.imagesPruned} images, ${r.streamsPruned} streams`);
      ctx.out.write(lines.join('\n') + '\n');
      return 0;
    }),

  [`${P} images`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const images = await repo.listImageRefs();
      if (bool(args, 'json')) ctx.out.write(JSON.stringify({ images }, null, 2) + '\n');
      else if (images.length === 0) ctx.out.write('No images found\n');
      else {
        const trunc = !bool(args, 'no-trunc');
        ctx.out.write(formatTable(['NAME', 'DIGEST'], images.map((i) => [i.name, trunc && i.digest.length > 12 ? i.digest.slice(0, 12) : i.digest])));
      }
      return 0;
    }),

  [`${P} image-objects`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const ids = await repo.objectsForImage(str(args, 'name') ?? '');
      ctx.out.write(ids.map((id) => `${repo.algorithm}:${id}\n`).join(''));
      return 0;
    }),

  [`${P} dump-files`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const img = await repo.openImage(str(args, 'image') ?? '');
      const tree = await withContext(`Reading image ${img.id}`, async () => readErofs(img.data));
      ctx.out.write(dumpFiles(tree, strs(args, 'files'), bool(args, 'backing-path-only')));
      return 0;
    }),

  [`${P} fsck`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const r = await repo.fsck({ metadataOnly: bool(args, 'metadata-only') });
      if (bool(args, 'json')) {
        ctx.out.write(fsckJson(r));
        return 0;
      }
      ctx.out.write(formatFsck(r));
      if (!fsckOk(r)) throw new TsbootcError('repository integrity check failed');
      return 0;
    }),

  [`${P} create-image`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const tree = await loadTree(args, repo.algorithm);
      await storeTreeObjects(repo, tree, str(args, 'path') ?? '');
      const [first, ...extra] = [repo.formatConfig.default, ...repo.formatConfig.extra.filter((v) => v !== repo.formatConfig.default)];
      const name = str(args, 'name');
      const id = await repo.writeImage(writeErofs(tree, versionOpts(first ?? 1)), ...(name !== undefined ? [name] : []));
      for (const v of extra) await repo.writeImage(writeErofs(tree, versionOpts(v)));
      ctx.out.write(`${repo.algorithm}:${id}\n`);
      return 0;
    }),

  [`${P} compute-id`]: async (ctx, args) => {
    const alg = algorithmWithoutRepo(ctx, args);
    const tree = await loadTree(args, alg);
    const { fsverityHex } = await import('../../composefs/index.js');
    ctx.out.write(fsverityHex(writeErofs(tree, versionOpts(erofsVersionArg(args) ?? 1)), alg) + '\n');
    return 0;
  },

  [`${P} create-dumpfile`]: async (ctx, args) => {
    const tree = await loadTree(args, algorithmWithoutRepo(ctx, args));
    ctx.out.write(printDumpfile(tree));
    return 0;
  },

  [`${P} mount`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const upper = str(args, 'upperdir');
      const work = str(args, 'workdir');
      if ((upper === undefined) !== (work === undefined)) throw new UsageError('mount: --upperdir and --workdir go together');
      await mountImage(ctx, repo, str(args, 'name') ?? '', str(args, 'mountpoint') ?? '', {
        ...(upper !== undefined && work !== undefined ? { upperdir: upper, workdir: work } : {}),
        readWrite: bool(args, 'read-write'),
      });
      return 0;
    }),
};
