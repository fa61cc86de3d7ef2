/**
 * Owns the `container` verbs run on an image root (inside an image build, or
 * on an unpacked rootfs with --rootfs).
 */
import { TsbootcError } from '../../util/errors.js';
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
