/**
 * Owns the `container` verbs run on an image root (inside an image build, or
 * on an unpacked rootfs with --rootfs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsbootcError, withContext } from '../../util/errors.js';
import { fsverityHex, printDumpfile, scanDirectory, transformForBoot, transformForOci, writeErofs } from '../../composefs/index.js';
import { LIBC_XATTRS } from './cfs-mkcomposefs.js';
import { rustArch } from '../../boot/kargs-d.js';
import { formatInspectHuman, inspectContainer } from '../../install/inspect.js';
import { listLints, runLints } from '../../install/lint.js';
import { bool, str, strs, type Context, type HandlerTable } from '../context.js';
import { renderYaml } from '../output.js';
import type { Args } from '../parse.js';

function rootfsOf(ctx: Context, args: Args) {
  const rootfs = str(args, 'rootfs') ?? '/';
  return { root: ctx.host.root.sub(rootfs), running: rootfs === '/' };
}

export const containerHandlers: HandlerTable = {
  /** The boot EROFS id (sha512, V1) image builders compute: scan, transform_for_oci, transform_for_boot, mkfs. */
  'container compute-composefs-digest': async (ctx, args) => {
    const dir = str(args, 'path') ?? '/target';
    const tree = await withContext(`Scanning ${dir}`, () => scanDirectory(dir, { xattrs: LIBC_XATTRS, hardlinks: 'share', algorithm: 'sha512' }));
    transformForOci(tree);
    await transformForBoot(tree, { readObject: async () => fs.readFileSync(path.join(dir, 'etc/selinux/config')) });
    const dump = str(args, 'write-dumpfile-to');
    if (dump !== undefined) fs.writeFileSync(dump, printDumpfile(tree));
    ctx.out.write(fsverityHex(writeErofs(tree, { version: 1 }), 'sha512') + '\n');
    return 0;
  },
  'container inspect': async (ctx, args) => {
    const { root } = rootfsOf(ctx, args);
    const inspect = await inspectContainer(root, rustArch(process.arch));
    const format = str(args, 'format') ?? (bool(args, 'json') ? 'json' : 'humanreadable');
    if (format === 'json') ctx.out.write(JSON.stringify(inspect, null, 2) + '\n');
    else if (format === 'yaml') ctx.out.write(renderYaml(inspect));
    else ctx.out.write(formatInspectHuman(inspect));
    return 0;
  },
  'container lint': async (ctx, args) => {
    if (bool(args, 'list')) {
      ctx.out.write(renderYaml(listLints()));
      return 0;
    }
    const { root, running } = rootfsOf(ctx, args);
    const report = await runLints(root, { rootType: running ? 'running' : 'alternative', skip: strs(args, 'skip'), arch: rustArch(process.arch), noTruncate: bool(args, 'no-truncate') });
    ctx.out.write(report.output);
    const failed = report.fatal + (bool(args, 'fatal-warnings') ? report.warnings : 0);
    if (failed > 0) throw new TsbootcError(`Linting: Checks failed: ${failed}`);
    return 0;
  },
};
