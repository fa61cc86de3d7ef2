/**
 * Owns "is this host booted from a composefs deployment, and which one":
 * the `composefs=` kernel argument (a leading `?` means fs-verity may be
 * missing), checked against the root mount source (bootc.md §4.1).
 */
import type { Host } from '../sys/host.js';
import { findKarg } from '../boot/cmdline.js';

export interface ComposefsCmdline {
  digest: string;
  missingVerityAllowed: boolean;
}

/** Parses the composefs= argument of a kernel command line (pure). */
export function parseComposefsCmdline(cmdline: string): ComposefsCmdline | undefined {
  const v = findKarg(cmdline, 'composefs');
  if (v === undefined || v.length === 0) return undefined;
  if (v.startsWith('?')) return { digest: v.slice(1), missingVerityAllowed: true };
  return { digest: v, missingVerityAllowed: false };
}

/** Reads `/proc/cmdline` under the host root; undefined when absent. */
export async function readCmdline(host: Host): Promise<string | undefined> {
  const text = await host.root.tryReadText('/proc/cmdline');
  return text?.trim();
}
