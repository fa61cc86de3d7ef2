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
import { lockSysroot } from '../sys/sysroot-lock.js';
import type { Args } from './parse.js';
import { SYSROOT, WORK_DIR } from '../deploy/constants.js';

/**
 * Verbs that change the host take the sysroot lock (sys/sysroot-lock.ts,
 * decision 0011) for their whole run: `fail` refuses at once when another
 * tsbootc holds it, `wait` blocks (finalize at shutdown must not be skipped).
 * `status` and the other readers take none.
 */
const LOCKED: Readonly<Record<string, (args: Args) => 'fail' | 'wait' | undefined>> = {
  switch: () => 'fail',
  // Even --check: opening the booted host migrates and drops stale staged sets (deploy/migrate.ts).
  upgrade: () => 'fail',
  rollback: () => 'fail',
  'delete-deployment': () => 'fail',
  'internals composefs-gc': () => 'fail',
  'composefs-finalize-staged': () => 'wait',
  // Extracts the booted /etc into the sysroot work dir, which a locked verb may clear.
  'config-diff': () => 'fail',
  'install to-existing-root': () => 'fail',
  // Reads the deployments and mounts one; --reset only unmounts /run/nextroot.
  'internals prep-soft-reboot': (args) => (args['reset'] === true ? undefined : 'fail'),
};

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
  const mode = LOCKED[key]?.(inv.args);
  if (mode === undefined) return handler(ctx, inv.args);
  const lock = await lockSysroot(ctx.host.root, { wait: mode === 'wait' });
  try {
    // Only lock holders use the work root: what is there was left by a killed one.
    await ctx.host.root.remove(`${SYSROOT}/${WORK_DIR}`);
    return await handler(ctx, inv.args);
  } finally {
    lock.release();
  }
}
