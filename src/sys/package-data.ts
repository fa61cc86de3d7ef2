/**
 * Owns access to files shipped inside the tsbootc package (data/, systemd/).
 * They are found relative to this module, never through ../shared.
 */
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { withContext } from '../util/errors.js';

/** The package root: dist/src/sys/ → three levels up. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}

export async function readPackageText(...parts: string[]): Promise<string> {
  const p = packagePath(...parts);
  return withContext(`Reading packaged file ${path.join(...parts)}`, () => readFile(p, 'utf8'));
}
