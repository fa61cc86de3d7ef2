/**
 * Owns building the Host status model from the host's files. Nothing here
 * prints; cli/verbs/status renders the result.
 */
import type { Host as HostCaps } from '../sys/host.js';
import { NotImplementedError } from '../util/errors.js';
import { defaultHost, type Host } from './host-spec.js';
import { parseComposefsCmdline, readCmdline } from './booted.js';

export interface StatusOpts {
  /** Only the booted deployment: staged and rollback are nulled. */
  bootedOnly: boolean;
}

export interface StatusResult {
  host: Host;
  /** False when the system is not deployed via bootc/tsbootc. */
  deployed: boolean;
  warnings: string[];
}

export async function getStatus(caps: HostCaps, _opts: StatusOpts): Promise<StatusResult> {
  const cmdline = await readCmdline(caps);
  const cfs = cmdline === undefined ? undefined : parseComposefsCmdline(cmdline);
  if (cfs === undefined) return { host: defaultHost(), deployed: false, warnings: [] };
  throw new NotImplementedError('status of a composefs-booted host');
}
