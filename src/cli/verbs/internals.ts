/**
 * Owns the small `internals` verbs that are not composefs tools.
 */
import { UsageError } from '../../util/errors.js';
import { readPackageText } from '../../sys/package-data.js';
import { CRASH_POINTS } from '../../util/crash-point.js';
import { str, type HandlerTable } from '../context.js';

export const internalsHandlers: HandlerTable = {
  'internals crash-points': async (ctx) => {
    for (const [name, what] of Object.entries(CRASH_POINTS)) ctx.out.write(`${name}\t${what}\n`);
    return 0;
  },
  'internals print-json-schema': async (ctx, args) => {
    const of = str(args, 'of');
    if (of !== 'host' && of !== 'progress') throw new UsageError('print-json-schema: --of host|progress is required');
    const text = await readPackageText('data', 'schemas', of === 'host' ? 'host-v1.schema.json' : 'progress-v0.schema.json');
    ctx.out.write(text.endsWith('\n') ? text : text + '\n');
    return 0;
  },
};
