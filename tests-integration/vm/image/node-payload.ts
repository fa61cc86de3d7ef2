/**
 * Owns the optional node + tsbootc payload of a test image (--with-node):
 * /usr/bin/node with the libraries ldd lists, and the built tsbootc package
 * (bin/, dist/src/, data/, package.json, production node_modules) under
 * /usr/lib/tsbootc with /usr/bin/tsbootc. Large (about 120 MB), hence optional.
 * What tsbootc calls on a running system comes along: skopeo (switch/upgrade
 * fetch with it), util-linux lsblk (finding the ESP), and, since the image has
 * no systemd, a `systemctl` shim for the two calls tsbootc makes (`start`
 * of the finalize unit, `reboot`) plus the shutdown hook that plays that
 * unit's ExecStop: `tsbootc composefs-finalize-staged` (bootc.md §6.5).
 */
import { chmodSync, cpSync, existsSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** Host binaries a running tsbootc calls that busybox does not provide, with their image paths. */
const HOST_TOOLS: Array<[string, string]> = [
  ['/usr/bin/skopeo', 'usr/bin/skopeo'],
  ['/usr/bin/lsblk', 'usr/bin/lsblk'],
];

/** `systemctl` for a busybox image: the unit start tsbootc arms finalize with, and reboot. */
const SYSTEMCTL_SHIM = `#!/bin/sh
# tsbootc test image: no systemd. Remembers started units (the shutdown hooks
# play their ExecStop) and maps reboot/poweroff to busybox.
q=
while [ $# -gt 0 ]; do
  case "$1" in
    --quiet|-q) q=1 ;;
    --*) ;;
    *) break ;;
  esac
  shift
done
case "$1" in
  start)
    shift
    mkdir -p /run/tsbootc-test/units
    for u in "$@"; do
      case "$u" in --*) continue ;; esac
      : > "/run/tsbootc-test/units/$u"
      [ -n "$q" ] || echo "systemctl (tsbootc test shim): started $u"
    done ;;
  reboot) exec reboot ;;
  poweroff) exec poweroff ;;
  *) echo "systemctl (tsbootc test shim): unsupported: $*" >&2; exit 1 ;;
esac
`;

/** The finalize unit's ExecStop, run from rcK's shutdown hooks when the unit was started. */
const FINALIZE_HOOK = `# tsbootc-finalize-staged.service's ExecStop (started by tsbootc through the systemctl shim)
if [ -e /run/tsbootc-test/units/tsbootc-finalize-staged.service ]; then
  tsbootc composefs-finalize-staged
  echo "TSBOOTC-FINALIZE: exit=$?"
fi
`;

/** Copies node, its shared libraries and the tsbootc package into the rootfs r. */
export async function addNodePayload(r: string, nodeBinary = process.execPath, repoRoot = REPO_ROOT): Promise<void> {
  const copy = (src: string, rel: string): void => {
    const dst = path.join(r, rel);
    mkdirSync(path.dirname(dst), { recursive: true });
    rmSync(dst, { force: true });
    cpSync(realpathSync(src), dst);
  };
  const copyWithLibs = async (bin: string, rel: string): Promise<void> => {
    copy(bin, rel);
    chmodSync(path.join(r, rel), 0o755);
    const ldd = await execText(['ldd', bin]);
    for (const line of ldd.split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m?.[1] !== undefined) copy(m[1], imagePathOf(m[1]));
    }
  };
  await copyWithLibs(nodeBinary, 'usr/bin/node');
  for (const [bin, rel] of HOST_TOOLS) {
    if (!existsSync(bin)) throw new Error(`${bin} not found (scripts/setup.sh installs it)`);
    await copyWithLibs(bin, rel);
  }
  // Loaded with koffi at run time (src/sys/zstd.ts), so ldd does not list it.
  for (const lib of ['/lib/x86_64-linux-gnu/libzstd.so.1']) {
    if (!existsSync(lib)) throw new Error(`${lib} not found (apt-get install libzstd1)`);
    copy(lib, imagePathOf(lib));
  }
  if (!existsSync(path.join(r, 'lib64'))) symlinkSync('usr/lib64', path.join(r, 'lib64'));
  rmSync(path.join(r, 'usr/bin/systemctl'), { force: true });
  writeFileSync(path.join(r, 'usr/bin/systemctl'), SYSTEMCTL_SHIM, { mode: 0o755 });
  mkdirSync(path.join(r, 'usr/lib/tsbootc-test/shutdown.d'), { recursive: true });
  writeFileSync(path.join(r, 'usr/lib/tsbootc-test/shutdown.d/50-tsbootc-finalize.sh'), FINALIZE_HOOK, { mode: 0o644 });

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
