/**
 * Owns the optional node + tsbootc payload of a test image (--with-node):
 * /usr/bin/node with the libraries ldd lists, and the built tsbootc package
 * (bin/, dist/src/, data/, package.json, production node_modules) under
 * /usr/lib/tsbootc with /usr/bin/tsbootc. Large (about 120 MB), hence optional.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execText } from './exec.js';

/** The repository root of this build (dist/tests-integration/vm/image/ → four levels up). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** The path inside a merged-/usr image for a host library path: /lib/… and /lib64/… live under usr/. */
function imagePathOf(hostPath: string): string {
  const rel = hostPath.replace(/^\/+/, '');
  return rel.startsWith('usr/') ? rel : `usr/${rel}`;
}

/** Copies node, its shared libraries and the tsbootc package into the rootfs r. */
export async function addNodePayload(r: string, nodeBinary = process.execPath, repoRoot = REPO_ROOT): Promise<void> {
  const copy = (src: string, rel: string): void => {
    const dst = path.join(r, rel);
    mkdirSync(path.dirname(dst), { recursive: true });
    cpSync(realpathSync(src), dst);
  };
  copy(nodeBinary, 'usr/bin/node');
  chmodSync(path.join(r, 'usr/bin/node'), 0o755);
  const ldd = await execText(['ldd', nodeBinary]);
  for (const line of ldd.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1] !== undefined) copy(m[1], imagePathOf(m[1]));
  }
  if (!existsSync(path.join(r, 'lib64'))) symlinkSync('usr/lib64', path.join(r, 'lib64'));

  const pkg = 'usr/lib/tsbootc';
  if (!existsSync(path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) throw new Error(`${repoRoot}/dist/src is not built (npx tsc -p tsconfig.json)`);
  for (const rel of ['package.json', 'bin', 'data', 'dist/src']) {
    cpSync(path.join(repoRoot, rel), path.join(r, pkg, rel), { recursive: true, filter: (src) => !src.endsWith('.map') && !src.endsWith('.test.js') });
  }
  const prod = await execText(['npm', 'ls', '--omit=dev', '--all', '--parseable'], { cwd: repoRoot });
  for (const dir of prod.split('\n').slice(1).filter((d) => d.startsWith(path.join(repoRoot, 'node_modules')))) {
    cpSync(dir, path.join(r, pkg, path.relative(repoRoot, dir)), { recursive: true, verbatimSymlinks: true });
  }
  symlinkSync('../lib/tsbootc/bin/tsbootc.js', path.join(r, 'usr/bin/tsbootc'));
}
