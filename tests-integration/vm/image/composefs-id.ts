/**
 * Owns which mkcomposefs the test images and VM tests use and computing a
 * rootfs's composefs id with it: the fs-verity digest of its V1 EROFS image.
 * Preference: $TSBOOTC_MKCOMPOSEFS (one executable), then the project's own
 * `tsbootc internals cfs mkcomposefs` if it is implemented in this build, then
 * the C oracle in /work/shared/tools (same flags, byte-identical output).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execAllowFailure, execText } from './exec.js';
import { REPO_ROOT } from './node-payload.js';

/** The C mkcomposefs oracle. */
export const C_MKCOMPOSEFS = '/work/shared/tools/mkcomposefs/mkcomposefs';

/** An argv prefix that runs mkcomposefs (options and positionals follow). */
export type MkcomposefsCommand = readonly string[];

const DIGEST_RE = /^[0-9a-f]{64}$|^[0-9a-f]{128}$/;

/** The project's CLI as a mkcomposefs command, if this build implements it (probed on an empty dir). */
export async function tryProjectMkcomposefs(): Promise<MkcomposefsCommand | undefined> {
  const cmd = [process.execPath, path.join(REPO_ROOT, 'bin', 'tsbootc.js'), 'internals', 'cfs', 'mkcomposefs'];
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-mkcfs-probe-'));
  try {
    const r = await execAllowFailure([...cmd, '--min-version=1', '--print-digest-only', dir]);
    return r.exitCode === 0 && DIGEST_RE.test(r.stdout.toString('utf8').trim()) ? cmd : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The mkcomposefs to use (see the module comment), or undefined if there is none. */
export async function findMkcomposefs(env: NodeJS.ProcessEnv = process.env): Promise<MkcomposefsCommand | undefined> {
  const override = env['TSBOOTC_MKCOMPOSEFS'];
  if (override !== undefined && override !== '') return existsSync(override) ? [override] : undefined;
  return (await tryProjectMkcomposefs()) ?? (existsSync(C_MKCOMPOSEFS) ? [C_MKCOMPOSEFS] : undefined);
}

/** The id of rootfs: `mkcomposefs --min-version=1 --print-digest-only` (V1: bootc's format, with whiteout stubs). */
export async function computeComposefsId(mkcomposefs: MkcomposefsCommand, rootfs: string): Promise<string> {
  const id = await execText([...mkcomposefs, '--min-version=1', '--print-digest-only', rootfs]);
  if (!DIGEST_RE.test(id)) throw new Error(`mkcomposefs printed ${JSON.stringify(id)}, not a digest`);
  return id;
}
