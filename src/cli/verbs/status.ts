/**
 * Owns the `status` verb's flags and rendering.
 */
import { UsageError } from '../../util/errors.js';
import { getStatus } from '../../deploy/status.js';
import { bool, num, str, type HandlerTable } from '../context.js';
import { renderJson, renderYaml, type Format } from '../output.js';
import { renderHumanStatus } from '../status-human.js';
import { imageMetadataSource } from '../image-source.js';

export const NOT_DEPLOYED = 'System is not deployed via bootc.';

export const statusHandlers: HandlerTable = {
  status: async (ctx, args) => {
    const fv = num(args, 'format-version');
    if (fv !== undefined && fv !== 0 && fv !== 1) throw new UsageError(`status: unsupported --format-version ${fv}`);
    let format = str(args, 'format') as Format | undefined;
    if (bool(args, 'json')) format = 'json';
    format ??= ctx.out.isTTY ? 'humanreadable' : 'yaml';
    const images = imageMetadataSource(ctx.host);
    let result;
    try {
      result = await getStatus(ctx.host, { bootedOnly: bool(args, 'booted') }, { images });
    } finally {
      images.close();
    }
    for (const w of result.warnings) ctx.out.warn(`warning: ${w}`);
    const host = result.host;
    switch (format) {
      case 'json':
        ctx.out.write(renderJson(host));
        break;
      case 'yaml':
        ctx.out.write(renderYaml(host));
        break;
      case 'humanreadable':
        if (!result.deployed) ctx.out.write(NOT_DEPLOYED + '\n');
        else ctx.out.write(renderHumanStatus(host, ctx.verbose));
        break;
    }
    return 0;
  },
};
