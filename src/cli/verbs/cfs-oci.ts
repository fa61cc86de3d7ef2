/**
 * Owns the cfsctl-compatible `internals cfs oci …` verbs: pull (from
 * `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` or skopeo's `dir:DIR`, with
 * --bootable and --expected-digest), images,
 * inspect, tag, untag, compute-id, dump, mount and layer, with cfsctl's
 * output (crates/composefs-ctl/src/lib.rs). The zstd decompressor for
 * tar+zstd layers is injected here from src/sys (composefs may not import it).
 */
import { TsbootcError, UsageError, withContext } from '../../util/errors.js';
import {
  buildStoredTree,
  formatImportStats,
  idForVersion,
  listTags,
  openImageSource,
  openImageArg,
  openStoredImage,
  openTaggedImage,
  printDumpfile,
  pullOciImage,
  storedLayerInfo,
  storedLayerTar,
  tagImage,
  transformForBoot,
  transformForOci,
  untagImage,
  writeErofs,
  fsverityHex,
  manifestStreamName,
  type Dir,
  type XattrFiltering,
} from '../../composefs/index.js';
import type { Repository } from '../../composefs/repository/index.js';
import { findMatchingBootImage, parseExpectedDigest, storedLayerDumpfile } from '../../composefs/oci/inspect.js';
import { libzstdDecompressor } from '../../sys/zstd.js';
import { bool, str, type HandlerTable } from '../context.js';
import type { Args } from '../parse.js';
import { formatTable, withRepo } from './cfs-repo.js';
import { mountImage } from './cfs-repo-tree.js';
import { prepareBoot } from './cfs-prepare-boot.js';

const P = 'internals cfs oci';

function xattrs(args: Args): XattrFiltering {
  const m = str(args, 'xattrs') ?? 'allowlist-only';
  if (m !== 'allowlist-only' && m !== 'keep-user-xattrs') throw new UsageError(`oci: invalid --xattrs ${m} (allowlist-only or keep-user-xattrs)`);
  return m;
}

/** cfsctl's OCIConfigOptions: `@sha256:…` is a config digest; anything else a tag. */
async function configDigestOf(repo: Repository, arg: string): Promise<string> {
  if (arg.startsWith('@')) {
    const d = arg.slice(1);
    if (!/^sha256:[0-9a-f]{64}$/.test(d)) throw new UsageError(`invalid OCI digest after '@': ${JSON.stringify(d)}`);
    return d;
  }
  return (await openTaggedImage(repo, arg)).configDigest;
}

/** The image rootfs as `oci dump`/`compute-id` see it (create_filesystem, then transform_for_boot with --bootable). */
async function imageTree(repo: Repository, args: Args): Promise<Dir> {
  const tree = await buildStoredTree(repo, await configDigestOf(repo, str(args, 'image') ?? ''));
  transformForOci(tree, { xattrs: xattrs(args) });
  if (bool(args, 'bootable')) await transformForBoot(tree, { readObject: (id) => repo.readObject(id.toString('hex')) });
  return tree;
}

export const cfsOciHandlers: HandlerTable = {
  [`${P} pull`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const image = str(args, 'image') ?? '';
      const expectedArg = str(args, 'expected-digest');
      if (expectedArg !== undefined && !bool(args, 'bootable')) throw new UsageError('oci pull: --expected-digest requires --bootable');
      // Checked before pulling, so a malformed digest fails fast.
      const expected = expectedArg === undefined ? undefined : parseExpectedDigest(repo, expectedArg);
      const tag = str(args, 'name') ?? image;
      const { store, sourceRef } = await openImageSource(image);
      const r = await pullOciImage(repo, store, { tag, sourceRef, bootable: bool(args, 'bootable'), zstd: libzstdDecompressor });
      const lines = [`manifest ${r.manifestDigest}`, `config   ${r.configDigest}`, `verity   ${r.manifestVerity}`, `tagged   ${tag}`, `objects  ${formatImportStats(r.stats)}`];
      ctx.out.write(lines.join('\n') + '\n');
      if (expected !== undefined) {
        const m = await findMatchingBootImage(repo, r.configDigest, expected, r.bootImageIds, 'allowlist-only');
        if (!m.found) throw new TsbootcError(`No boot image configuration matched expected digest ${expected} (tried ${m.tried} mode/version combinations)`);
        ctx.out.write(`Boot image: ${m.id} (xattr-mode=${m.mode}, format-version=V${m.version})\n`);
      } else if (r.bootImageId !== undefined) ctx.out.write(`Boot image: ${r.bootImageId}\n`);
      return 0;
    }),

  [`${P} images`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const images = [];
      for (const t of await listTags(repo)) {
        let img;
        try {
          img = await openStoredImage(repo, t.manifestDigest);
        } catch (err) {
          ctx.host.log.warn({ kind: 'message', message: `skipping image ${t.name}: ${err instanceof Error ? err.message : String(err)}` });
          continue;
        }
        const s = (k: string) => (typeof img.config[k] === 'string' ? (img.config[k] as string) : '');
        const created = img.config['created'];
        images.push({
          name: t.name,
          manifest_digest: t.manifestDigest,
          is_container: img.isContainerImage,
          architecture: s('architecture'),
          os: s('os'),
          created: typeof created === 'string' ? created : null,
          layer_count: Array.isArray(img.manifest['layers']) ? img.manifest['layers'].length : 0,
          referrer_count: 0,
        });
      }
      if (bool(args, 'json')) ctx.out.write(JSON.stringify({ images }, null, 2) + '\n');
      else if (images.length === 0) ctx.out.write('No images found\n');
      else {
        const rows = images.map((i) => [i.name, i.manifest_digest.replace(/^sha256:/, '').slice(0, 12), i.architecture === '' ? 'artifact' : i.architecture, String(i.layer_count), String(i.referrer_count)]);
        ctx.out.write(formatTable(['NAME', 'DIGEST', 'ARCH', 'LAYERS', 'REFS'], rows));
      }
      return 0;
    }),

  [`${P} inspect`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const img = await openImageArg(repo, str(args, 'image') ?? '');
      if (bool(args, 'manifest')) ctx.out.write(Buffer.concat([img.manifestRaw, Buffer.from('\n')]));
      else if (bool(args, 'config')) ctx.out.write(Buffer.concat([img.configRaw, Buffer.from('\n')]));
      else {
        const v = repo.erofsVersion;
        const reply = {
          manifest: img.manifestRaw.toString('utf8'),
          config: img.configRaw.toString('utf8'),
          referrers: [] as string[],
          composefs_erofs: idForVersion(img.imageIds, v) ?? null,
          composefs_boot_erofs: idForVersion(img.bootImageIds, v) ?? null,
        };
        ctx.out.write(JSON.stringify(reply, null, 2) + '\n');
      }
      return 0;
    }),

  [`${P} tag`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const digest = str(args, 'digest') ?? '';
      const name = str(args, 'name') ?? '';
      if ((await repo.hasStream(manifestStreamName(digest))) === undefined) throw new TsbootcError(`OCI image not found: ${digest}`, { code: 'ERR_IMAGE_NOT_FOUND' });
      await tagImage(repo, digest, name);
      ctx.out.write(`Tagged ${digest} as ${name}\n`);
      return 0;
    }),

  [`${P} untag`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const name = str(args, 'name') ?? '';
      await untagImage(repo, name);
      ctx.out.write(`Removed tag ${name}\n`);
      return 0;
    }),

  [`${P} compute-id`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const tree = await imageTree(repo, args);
      ctx.out.write(fsverityHex(writeErofs(tree, { version: repo.erofsVersion }), repo.algorithm) + '\n');
      return 0;
    }),

  [`${P} dump`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      ctx.out.write(printDumpfile(await imageTree(repo, args)));
      return 0;
    }),

  [`${P} mount`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const img = await openImageArg(repo, str(args, 'image') ?? '');
      const boot = bool(args, 'bootable');
      const id = idForVersion(boot ? img.bootImageIds : img.imageIds, repo.erofsVersion);
      if (id === undefined) throw new TsbootcError(boot ? 'No boot EROFS image linked — try pulling with --bootable' : 'No composefs EROFS image linked — try re-pulling the image');
      await mountImage(ctx, repo, id, str(args, 'mountpoint') ?? '');
      return 0;
    }),

  [`${P} layer`]: async (ctx, args) =>
    withRepo(ctx, args, async (repo) => {
      const diffId = str(args, 'diffid') ?? '';
      if ((await repo.hasStream(`oci-layer-${diffId}`)) === undefined) throw new TsbootcError(`Layer ${diffId} not found`);
      if (bool(args, 'json')) {
        ctx.out.write(JSON.stringify(await storedLayerInfo(repo, diffId), null, 2) + '\n');
        return 0;
      }
      if (bool(args, 'dumpfile')) {
        ctx.out.write(await withContext(`Reading layer ${diffId}`, () => storedLayerDumpfile(repo, diffId)));
        return 0;
      }
      if (ctx.out.isTTY) throw new TsbootcError('Refusing to write tar data to terminal. Redirect to a file, pipe to tar, or use --json for metadata.');
      await withContext(`Writing layer ${diffId}`, async () => {
        for await (const c of storedLayerTar(repo, diffId)) ctx.out.write(c);
      });
      return 0;
    }),

  [`${P} prepare-boot`]: prepareBoot,
};
