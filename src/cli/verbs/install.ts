/**
 * Owns the `install` verbs' flag handling.
 */
import { loadInstallConfig, printableInstallConfig } from '../../install/config.js';
import { rustArch } from '../../boot/kargs-d.js';
import { bool, type HandlerTable } from '../context.js';
import { renderJson } from '../output.js';

export const installHandlers: HandlerTable = {
  'install print-configuration': async (ctx, args) => {
    const config = await loadInstallConfig(ctx.host.root, rustArch(process.arch));
    ctx.out.write(renderJson(printableInstallConfig(config, bool(args, 'all'))));
    return 0;
  },
};
