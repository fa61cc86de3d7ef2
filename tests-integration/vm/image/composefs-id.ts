/**
 * Owns computing a rootfs's composefs id for the test images and VM tests:
 * the fs-verity digest of its V1 EROFS image as C mkcomposefs prints it, used
 * while `tsbootc internals cfs mkcomposefs` is not implemented.
 */
import { existsSync } from 'node:fs';
import { execText } from './exec.js';

/** The C mkcomposefs oracle (same flags and bytes as the TS one will have). */
export const C_MKCOMPOSEFS = '/work/shared/tools/mkcomposefs/mkcomposefs';

/** $TSBOOTC_MKCOMPOSEFS or the C oracle, if it exists. */
export function findMkcomposefs(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const p = env['TSBOOTC_MKCOMPOSEFS'] ?? C_MKCOMPOSEFS;
  return existsSync(p) ? p : undefined;
}

/** The id of rootfs: `mkcomposefs --min-version=1 --print-digest-only` (V1: bootc's format, with whiteout stubs). */
export async function computeComposefsId(mkcomposefs: string, rootfs: string): Promise<string> {
  const id = await execText([mkcomposefs, '--min-version=1', '--print-digest-only', rootfs]);
  if (!/^[0-9a-f]{64}$|^[0-9a-f]{128}$/.test(id)) throw new Error(`mkcomposefs printed ${JSON.stringify(id)}, not a digest`);
  return id;
}
