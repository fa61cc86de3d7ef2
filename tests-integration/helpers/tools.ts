/**
 * Owns the "can this test run here?" checks: tools on PATH and root, each
 * giving the reason a test is skipped.
 */
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

function onPath(tool: string): boolean {
  const candidates = tool.includes('/') ? [tool] : (process.env['PATH'] ?? '').split(':').filter(Boolean).map((d) => path.join(d, tool));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `missing tools: a, b` when any of `tools` is not executable, else undefined. */
export function toolMissing(tools: readonly string[]): string | undefined {
  const missing = tools.filter((t) => !onPath(t));
  return missing.length > 0 ? `missing tools: ${missing.join(', ')} (bash scripts/setup.sh installs them)` : undefined;
}

/** The reason a privileged test cannot run (not root, or a tool missing), or undefined. */
export function privilegedSkipReason(tools: readonly string[]): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  return toolMissing(tools);
}
