/**
 * Owns the `usr-overlay` (alias `usroverlay`) verb: flags in, bootc's lines out.
 */
import { mountUsrOverlay, usrOverlayMessages } from '../../deploy/usr-overlay.js';
import { bool, type HandlerTable } from '../context.js';

export const usrOverlayHandlers: HandlerTable = {
  'usr-overlay': async (ctx, args) => {
    const r = await mountUsrOverlay(ctx.host, { readOnly: bool(args, 'read-only') });
    for (const m of usrOverlayMessages(r)) ctx.out.write(m + '\n');
    return 0;
  },
};
