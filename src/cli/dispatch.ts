/**
 * Owns the mapping from a command path to its handler. Each area keeps its
 * handlers in cli/verbs/<area>.ts; a path with no handler is a verb whose
 * implementation has not landed, and says so.
 */
import { NotImplementedError } from '../util/errors.js';
import type { Context, HandlerTable } from './context.js';
import type { Invocation } from './parse.js';
import { statusHandlers } from './verbs/status.js';
import { internalsHandlers } from './verbs/internals.js';
import { completionHandlers } from './verbs/completion.js';
import { installHandlers } from './verbs/install.js';
import { containerHandlers } from './verbs/container.js';
import { deployHandlers } from './verbs/deploy.js';
import { cfsInfoHandlers } from './verbs/cfs-info.js';
import { cfsMkcomposefsHandlers } from './verbs/cfs-mkcomposefs.js';
import { cfsRepoHandlers } from './verbs/cfs-repo.js';
import { cfsOciHandlers } from './verbs/cfs-oci.js';
import { usrOverlayHandlers } from './verbs/usr-overlay.js';
import { editHandlers } from './verbs/edit.js';
import { updateHandlers } from './verbs/update.js';

export const HANDLERS: HandlerTable = {
  ...statusHandlers,
  ...internalsHandlers,
  ...completionHandlers,
  ...installHandlers,
  ...containerHandlers,
  ...deployHandlers,
  ...cfsInfoHandlers,
  ...cfsMkcomposefsHandlers,
  ...cfsRepoHandlers,
  ...cfsOciHandlers,
  ...usrOverlayHandlers,
  ...editHandlers,
  ...updateHandlers,
};

export async function dispatch(ctx: Context, inv: Invocation): Promise<number> {
  const key = inv.path.join(' ');
  const handler = HANDLERS[key];
  if (handler === undefined) throw new NotImplementedError(key);
  return handler(ctx, inv.args);
}
