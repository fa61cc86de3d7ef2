/**
 * Owns the install benchmark (not a test; issue #8): `tsbootc install to-disk
 * --via-loopback` of a ≥ 1 GiB, 4-layer bootable image (big-image.ts) from a
 * local docker-registry on 127.0.0.1 onto a fresh sparse file, side by side
 * in the same run with what a plain container tool needs for the same bytes
 * on disk: `podman pull` into a fresh store, then a loop device on a fresh
 * sparse file, `mkfs.ext4`, mount, `cp -a` of the image's rootfs (from
 * `podman image mount`, or `podman create` + `podman mount` when that fails),
 * umount, detach: one shell script. The runs alternate; each runs under
 * /usr/bin/time -v and the table gives every run, the medians and the ratios.
 *
 * tsbootc reads the host's /etc/containers/registries.conf, which does not
 * mark the bench registry insecure; so it runs in a private mount namespace
 * (`unshare -m`) where a copy of /etc/containers that does is bind-mounted
 * over it. The host's files are not changed.
 *
 * Needs root, docker-registry, skopeo, podman (apt-get installed when
 * missing), unshare, losetup, mkfs.ext4, sfdisk, mkfs.fat, mtools and the
 * host's systemd-boot EFI binary (copied into the image); prints `SKIP:`
 * otherwise. Registry, stores, loop devices, mounts and disk files are
 * removed in finally blocks.
 *
 *   node dist/bench/install.js [WORKDIR]   (default $TMPDIR/tsbootc-bench-bootable; the image is kept there)
 *   TSBOOTC_BENCH_RUNS=N (default 2)  TSBOOTC_BENCH_SCALE=0.1 (a 110 MiB image)
 *   TSBOOTC_BENCH_PROFILE=DIR: one more tsbootc run with --cpu-prof and a timestamped -v log (common.ts profiledRun)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureLayout, LAYERS, SCALE, SYSTEMD_BOOT_EFI } from './big-image.js';
import { BIN, ensurePodman, loadNow, machineFacts, podmanGlobal, profiledRun, pushToRegistry, removePodmanStore, runCmd, sideBySideTable, timed, type Timed } from './common.js';
import { insecureRegistriesConf } from '../tests-integration/helpers/oci-image.js';
import { withRegistry } from '../tests-integration/helpers/registry.js';

const RUNS = Number(process.env['TSBOOTC_BENCH_RUNS'] ?? '2');
const DISK_BYTES = 8 * 2 ** 30;
const TOOLS = ['/usr/bin/time', '/usr/bin/docker-registry', 'skopeo', 'unshare', 'losetup', 'partx', 'mkfs.ext4', 'mkfs.fat', 'sfdisk', 'mcopy', 'blkid', 'wipefs'];

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices and mounts)';
  const missing = TOOLS.filter((t) => runCmd('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) return `missing tools: ${missing.join(', ')}`;
  if (!fs.existsSync(SYSTEMD_BOOT_EFI)) return `missing ${SYSTEMD_BOOT_EFI} (Debian package systemd-boot-efi), which the image needs for install`;
  if (!fs.existsSync('/etc/containers')) return 'no /etc/containers to overlay with the bench registries.conf';
  return ensurePodman();
}

/** The loop devices backed by `file`. */
function loopsOf(file: string): string[] {
  return runCmd('losetup', ['-n', '-O', 'NAME', '-j', file]).out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/dev/'));
}

/** Detaches every loop device of `file` (partitions first) and removes it. */
function dropDisk(file: string): void {
  for (const loop of loopsOf(file)) {
    runCmd('partx', ['-d', loop]);
    runCmd('losetup', ['-d', loop]);
  }
  fs.rmSync(file, { force: true });
}

function sparse(file: string): string {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, '');
  fs.truncateSync(file, DISK_BYTES);
  return file;
}

/** The peer: pull, a fresh ext4 on a loop device, cp -a of the image's rootfs. `state` receives the loop device and the rootfs method. */
const PODMAN_SCRIPT = `set -eu
P="$1"; REF="$2"; DISK="$3"; MNT="$4"; STATE="$5"
$P pull --quiet --tls-verify=false "docker://$REF" >/dev/null
truncate -s ${DISK_BYTES} "$DISK"
LOOP=$(losetup -f --show "$DISK")
echo "$LOOP" > "$STATE/loop"
mkfs.ext4 -q "$LOOP"
mount "$LOOP" "$MNT"
if ROOTFS=$($P image mount "$REF" 2>"$STATE/image-mount.err"); then
  echo "podman image mount" > "$STATE/how"
else
  C=$($P create --entrypoint /nonexistent "$REF")
  ROOTFS=$($P mount "$C")
  echo "podman create + podman mount" > "$STATE/how"
fi
cp -a "$ROOTFS/." "$MNT/"
umount "$MNT"
losetup -d "$LOOP"
`;

async function main(): Promise<void> {
  const skip = skipReason();
  if (skip !== undefined) {
    console.log(`SKIP: install bench: ${skip}`);
    return;
  }
  const work = process.argv[2] ?? path.join(tmpdir(), 'tsbootc-bench-bootable');
  const img = await ensureLayout(path.join(work, 'layout'), { bootable: true });
  const scratch = fs.mkdtempSync(path.join(tmpdir(), 'tsbootc-bench-install-'));
  const disk = path.join(scratch, 'disk.img');
  const mnt = path.join(scratch, 'mnt');
  try {
    fs.mkdirSync(mnt);
    await withRegistry({ direct: true }, async (reg) => {
      const ref = `${reg.host}/bench:latest`;
      console.error(`bench: pushed to ${ref} in ${pushToRegistry(img.layout, ref).toFixed(1)} s`);
      const digest = runCmd('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${ref}`]).out.trim();
      // /etc/containers as tsbootc will see it: the host's, with the bench registry marked insecure.
      const etc = path.join(scratch, 'etc-containers');
      fs.cpSync('/etc/containers', etc, { recursive: true });
      const conf = path.join(etc, 'registries.conf');
      fs.writeFileSync(conf, insecureRegistriesConf(reg.host));
      // `sh -c CMD $0 $1...`: $0 is the dir, "--" is shifted away, the rest is the command.
      const tsbootcArgv = (nodeFlags: string[] = [], tsbootcFlags: string[] = []) => [
        'unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/containers && shift && exec "$@"', etc, '--',
        process.execPath, ...nodeFlags, BIN, ...tsbootcFlags, 'install', 'to-disk', '--via-loopback', '--source-imgref', `docker://${ref}`, '--filesystem', 'ext4', disk,
      ];
      const tsbootc: Timed[] = [];
      const podman: Timed[] = [];
      let driver = 'overlay';
      let how = '?';
      const notes: string[] = [];
      const load0 = loadNow();
      for (let i = 1; i <= RUNS; i++) {
        try {
          sparse(disk);
          console.error(`bench: run ${i}: tsbootc install to-disk (load ${loadNow()})`);
          const t = timed(`tsbootc install to-disk #${i}`, tsbootcArgv());
          tsbootc.push(t);
          if (loopsOf(disk).length > 0) throw new Error(`tsbootc install left loop devices on ${disk}: ${loopsOf(disk).join(', ')}`);
        } finally {
          dropDisk(disk);
        }
        for (;;) {
          const d = driver;
          // A short path: podman refuses a runroot longer than 50 characters.
          const store = fs.mkdtempSync(path.join(tmpdir(), 'tsbp-'));
          const state = path.join(scratch, 'podman-state');
          fs.rmSync(state, { recursive: true, force: true });
          fs.mkdirSync(state);
          try {
            console.error(`bench: run ${i}: podman pull + cp -a (${d}) (load ${loadNow()})`);
            podman.push(timed(`podman pull + mkfs.ext4 + cp -a (${d}) #${i}`, ['sh', '-c', PODMAN_SCRIPT, 'sh', podmanGlobal(store, d).join(' '), ref, disk, mnt, state]));
            how = fs.readFileSync(path.join(state, 'how'), 'utf8').trim();
            const err = fs.existsSync(path.join(state, 'image-mount.err')) ? fs.readFileSync(path.join(state, 'image-mount.err'), 'utf8').trim() : '';
            if (how !== 'podman image mount' && err !== '') notes.push(`podman image mount failed (${err.slice(0, 300)}); podman create + podman mount used instead`);
            break;
          } catch (err) {
            if (d === 'vfs') throw err;
            notes.push(`the peer with the overlay driver failed, vfs used instead: ${err instanceof Error ? err.message.slice(0, 300) : String(err)}`);
            driver = 'vfs';
          } finally {
            spawnSync('umount', [mnt], { stdio: 'ignore' });
            dropDisk(disk);
            removePodmanStore(store, d);
          }
        }
      }
      console.log(`## tsbootc install to-disk vs podman pull + cp -a (${machineFacts()})\n`);
      console.log(`Image ${digest}: ${img.files} files, ${(img.bytes / 2 ** 30).toFixed(2)} GiB of file content plus a 12 MiB kernel and a 40 MiB initramfs, ${LAYERS} gzip layers (${(img.compressedBytes / 2 ** 20).toFixed(0)} MiB), scale ${SCALE}; registry ${reg.host}; disk: a sparse ${DISK_BYTES / 2 ** 30} GiB file; podman storage driver ${driver}; rootfs from ${how}.`);
      console.log(`Load (/proc/loadavg) before: ${load0}; after: ${loadNow()}.\n`);
      console.log(sideBySideTable(tsbootc, podman, `podman pull + cp -a (${driver})`));
      for (const n of notes) console.log(`\n${n}`);
      const prof = process.env['TSBOOTC_BENCH_PROFILE'];
      if (prof !== undefined && prof !== '') {
        try {
          sparse(disk);
          await profiledRun(tsbootcArgv(['--cpu-prof', '--cpu-prof-dir', prof], ['-v']), prof);
        } finally {
          dropDisk(disk);
        }
      }
    });
  } finally {
    spawnSync('umount', [mnt], { stdio: 'ignore' });
    dropDisk(disk);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
