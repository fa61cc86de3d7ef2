/**
 * Privileged tier: `install to-disk --via-loopback --wipe` end to end, from a
 * tiny umoci image to a sparse disk file, for ext4, xfs and btrfs, read back
 * without the code under test where possible: sfdisk and blkid for the
 * table and labels, mtools for the ESP (entry text golden, kernel bytes),
 * the mounted root for the repository, state dir and origin, the
 * deployment's EROFS mounted through overlay compared with `umoci unpack`,
 * and `status --format json` on a fake booted root validated against the
 * schema. Also the unprivileged path (as nobody, ext4) and interrupted
 * installs (no ESP entry may point at a missing deployment).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { runCli, tempDir, REPO_ROOT } from '../helpers/run-cli.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { cleanup, espBytes, espCat, espListing, loopsOf, probeAt, sh, tableShape } from '../helpers/disk-readback.js';
import { buildInstallImage, fakeBootedRoot, INITRD, SYSTEMD_BOOT, treeSnapshot, unpackImage, VMLINUZ } from '../helpers/install-fixture.js';

const TOOLS = ['umoci', 'chroot', '/bin/busybox', 'sfdisk', 'partx', 'losetup', 'wipefs', 'blkid', 'mkfs.fat', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'mdir', 'mtype', 'mcopy', 'fstrim', 'fsfreeze', 'setpriv', 'debugfs'];
const skip: string | false = privilegedSkipReason(TOOLS) ?? (existsSync(SYSTEMD_BOOT) ? undefined : `missing ${SYSTEMD_BOOT} (Debian package systemd-boot-efi)`) ?? false;
if (skip !== false) console.error(`install-to-disk: skipped: ${skip}`);

const GiB = 1024 ** 3;
const ESP_OFFSET = 4096 * 512;
const ROOT_OFFSET = 2101248 * 512;
const MT = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let fixture: { dir: string; layout: string; ref: string; manifestDigest: string; unpacked: string } | undefined;
async function image() {
  if (fixture === undefined) {
    const dir = tempDir('tsbootc-install-img-');
    chmodSync(dir, 0o755);
    const layout = path.join(dir, 'oci');
    const built = await buildInstallImage(layout, 'v1');
    await buildInstallImage(layout, 'nokernel', { kernel: false });
    await buildInstallImage(layout, 'grub', { grub: true });
    const unpacked = await unpackImage(layout, 'v1', path.join(dir, 'bundle'));
    spawnSync('chmod', ['-R', 'a+rX', layout]);
    fixture = { dir, layout, ref: built.ref, manifestDigest: built.manifestDigest, unpacked };
  }
  return fixture;
}

function sparse(p: string, size = 3 * GiB): string {
  writeFileSync(p, '');
  truncateSync(p, size);
  return p;
}

function espEntries(img: string): string[] {
  return espListing(img, ESP_OFFSET).filter((p) => p.startsWith('loader/entries/') && p.endsWith('.conf'));
}

function expectedEsp(id: string): string[] {
  const k = `EFI/Linux/bootc_composefs-${id}`;
  return ['EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/', `${k}/`, `${k}/initrd`, `${k}/vmlinuz`, 'EFI/systemd/', 'EFI/systemd/systemd-bootx64.efi', 'loader/', 'loader/entries.srel', 'loader/entries/', 'loader/entries/bootc_tsbootc_test-1.0-1.conf', 'loader/loader.conf'];
}

function expectedEntry(id: string, rootUuid: string): string {
  const k = `/EFI/Linux/bootc_composefs-${id}`;
  return [
    'title tsbootc test OS 1.0',
    'version 1.0',
    `linux ${k}/vmlinuz`,
    `initrd ${k}/initrd`,
    `options root=UUID=${rootUuid} rw console=tty0 composefs=?${id} console=ttyS0,115200n8`,
    'sort-key bootc-tsbootc-test-0',
    '',
  ].join('\n');
}

function expectedOrigin(id: string, manifestDigest: string, ref: string): string {
  const bootDigest = sha(Buffer.concat([VMLINUZ, INITRD]));
  return `[origin]\ncontainer-image-reference = ostree-unverified-image:${ref}\n\n[boot]\nboot_type = bls\ndigest = ${bootDigest}\n\n[image]\nmanifest_digest = ${manifestDigest}`;
}

/** Attaches the disk, mounts the root partition read-only on `mnt`, runs fn, and cleans up. */
async function withMountedDisk<T>(img: string, mnt: string, fn: () => Promise<T>): Promise<T> {
  const loop = sh(['losetup', '-f', '--show', '-P', img]).trim();
  try {
    spawnSync('partx', ['-a', loop]);
    mkdirSync(mnt, { recursive: true });
    sh(['mount', '-o', 'ro', `${loop}p3`, mnt]);
    try {
      return await fn();
    } finally {
      spawnSync('umount', [mnt]);
    }
  } finally {
    spawnSync('partx', ['-d', loop]);
    spawnSync('losetup', ['-d', loop]);
  }
}

function installArgs(fx: { ref: string }, img: string, fs: string, extra: string[] = []): string[] {
  return ['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', fx.ref, '--filesystem', fs, '--karg', 'console=tty0', ...extra, img];
}

/** Everything read back from an installed disk; `physRoot` is set while mounted. */
async function checkInstalledDisk(img: string, fs: string, fx: NonNullable<typeof fixture>, work: string): Promise<string> {
  const table = tableShape(img);
  assert.deepEqual(
    table.partitions.map((p) => [p.start, p.size, p.type, p.name]),
    [
      [2048, 2048, '21686148-6449-6e6f-744e-656564454649', 'BIOS-BOOT'],
      [4096, 2097152, 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 'EFI-SYSTEM'],
      [2101248, 4188160, '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', 'root'],
    ],
  );
  const espProbe = probeAt(img, ESP_OFFSET);
  assert.deepEqual([espProbe['TYPE'], espProbe['LABEL']], ['vfat', 'EFI-SYSTEM']);
  const rootProbe = probeAt(img, ROOT_OFFSET);
  assert.deepEqual([rootProbe['TYPE'], rootProbe['LABEL']], [fs, 'root']);
  const rootUuid = rootProbe['UUID']!;
  const entries = espEntries(img);
  assert.deepEqual(entries, ['loader/entries/bootc_tsbootc_test-1.0-1.conf']);
  const text = espCat(img, ESP_OFFSET, entries[0]!);
  const id = /composefs=\?([0-9a-f]{128})/.exec(text)?.[1] ?? assert.fail(`no composefs= in ${text}`);
  assert.equal(text, expectedEntry(id, rootUuid));
  assert.deepEqual(espListing(img, ESP_OFFSET), expectedEsp(id));
  assert.equal(sha(espBytes(img, ESP_OFFSET, `EFI/Linux/bootc_composefs-${id}/vmlinuz`)), sha(VMLINUZ));
  assert.equal(sha(espBytes(img, ESP_OFFSET, `EFI/Linux/bootc_composefs-${id}/initrd`)), sha(INITRD));
  assert.equal(sha(espBytes(img, ESP_OFFSET, 'EFI/BOOT/BOOTX64.EFI')), sha(readFileSync(SYSTEMD_BOOT)));

  const mnt = path.join(work, 'mnt');
  await withMountedDisk(img, mnt, async () => {
    const top = readdirSync(mnt).filter((n) => n !== 'lost+found').sort();
    assert.deepEqual(top, ['composefs', 'ostree', 'state']);
    assert.equal(statSync(path.join(mnt, 'composefs')).mode & 0o777, 0o700);
    assert.equal(readlinkSync(path.join(mnt, 'ostree', 'bootc')), '../composefs/bootc');
    const meta = JSON.parse(readFileSync(path.join(mnt, 'composefs', 'meta.json'), 'utf8')) as { algorithm?: string };
    assert.equal(meta.algorithm, 'fsverity-sha512-12');
    assert.ok(lstatSync(path.join(mnt, 'composefs', 'images', id)).isSymbolicLink() || existsSync(path.join(mnt, 'composefs', 'images', id)));
    const tag = path.join(mnt, 'composefs', 'streams', 'refs', 'oci', `localhost%2Fbootc-${fx.manifestDigest}`);
    assert.equal(path.basename(readlinkSync(tag)), `oci-manifest-${fx.manifestDigest}`);
    const fsck = runCli(['internals', 'cfs', '--repo', path.join(mnt, 'composefs'), '--no-upgrade', 'fsck']);
    assert.equal(fsck.status, 0, fsck.stderr + fsck.stdout);

    const state = path.join(mnt, 'state', 'deploy', id);
    assert.deepEqual(readdirSync(path.join(mnt, 'state', 'deploy')), [id]);
    assert.deepEqual(readdirSync(state).sort(), [`${id}.origin`, 'etc', 'var']);
    assert.equal(readlinkSync(path.join(state, 'var')), '../../os/default/var');
    assert.equal(readFileSync(path.join(state, `${id}.origin`), 'utf8'), expectedOrigin(id, fx.manifestDigest, fx.ref));
    const etcWant = treeSnapshot(path.join(fx.unpacked, 'etc')).filter((l) => !l.includes('.updated'));
    assert.deepEqual(treeSnapshot(path.join(state, 'etc')), etcWant);
    assert.deepEqual(treeSnapshot(path.join(mnt, 'state', 'os', 'default', 'var')), treeSnapshot(path.join(fx.unpacked, 'var')));

    const erofs = path.join(work, 'erofs');
    mkdirSync(erofs, { recursive: true });
    const m = runCli(['internals', 'cfs', '--repo', path.join(mnt, 'composefs'), '--no-upgrade', 'mount', id, erofs]);
    assert.equal(m.status, 0, m.stderr);
    try {
      const want = treeSnapshot(fx.unpacked, ['boot', 'sysroot', 'run']).filter((l) => !/^d (boot|sysroot) /.test(l));
      const got = treeSnapshot(erofs, ['boot', 'sysroot', 'run']).filter((l) => !/^d (boot|sysroot) /.test(l));
      assert.deepEqual(got, want);
      assert.deepEqual(readdirSync(path.join(erofs, 'boot')), []);
    } finally {
      spawnSync('umount', [erofs]);
    }

    // status on a fake root booted into this deployment.
    const espCopy = path.join(work, 'esp-copy');
    mkdirSync(espCopy, { recursive: true });
    sh(['mcopy', '-s', '-n', '-i', `${img}@@${ESP_OFFSET}`, '::/EFI', '::/loader', espCopy], MT);
    const options = text.split('\n').find((l) => l.startsWith('options '))!.slice('options '.length);
    const froot = fakeBootedRoot(path.join(work, 'fakeroot'), { verity: id, cmdline: options, physRoot: mnt, espCopy });
    const st = runCli(['--root', froot, 'status', '--format', 'json']);
    assert.equal(st.status, 0, st.stderr);
    const host = JSON.parse(st.stdout) as { spec: unknown; status: { booted: { composefs?: { verity: string; bootType: string; bootloader: string }; image: { image: unknown } | null } | null; staged: unknown; rollback: unknown } };
    assert.deepEqual(host.spec, { bootOrder: 'default', image: { image: fx.ref.slice('oci:'.length), transport: 'oci' } });
    assert.deepEqual(host.status.booted?.composefs, { verity: id, bootType: 'Bls', bootloader: 'systemd', missingVerityAllowed: true, bootDigest: sha(Buffer.concat([VMLINUZ, INITRD])) });
    assert.equal(host.status.staged, null);
    assert.equal(host.status.rollback, null);
    const schema = JSON.parse(readFileSync(path.join(REPO_ROOT, 'data', 'schemas', 'host-v1.schema.json'), 'utf8')) as object;
    const validate = new Ajv2020({ strict: false, logger: false }).compile(schema);
    assert.ok(validate(host), JSON.stringify(validate.errors));
  });
  return id;
}

for (const fs of ['ext4', 'xfs', 'btrfs']) {
  test(`install to-disk --via-loopback --wipe (${fs}) produces a bootc-compatible disk`, { skip }, async () => {
    const fx = await image();
    const work = tempDir(`tsbootc-install-${fs}-`);
    const img = sparse(path.join(work, 'disk.img'));
    try {
      const started = Date.now();
      const r = runCli(installArgs(fx, img, fs));
      console.error(`install-to-disk: ${fs} as root: ${Date.now() - started} ms`);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Installed ${fx.manifestDigest} to ${img}: deployment [0-9a-f]{128}, ${fs}, systemd \\(no fs-verity: composefs=\\?\\), in [0-9.]+s\\n$`));
      await checkInstalledDisk(img, fs, fx, work);
      assert.deepEqual(loopsOf(img), []);
    } finally {
      cleanup([path.join(work, 'erofs'), path.join(work, 'mnt')], [img]);
      rmSync(work, { recursive: true, force: true });
    }
  });
}

test('install to-disk as nobody (no loop device, no mount) makes the same ext4 disk', { skip }, async () => {
  const fx = await image();
  const work = tempDir('tsbootc-install-nobody-');
  chmodSync(work, 0o755);
  sh(['chown', 'nobody', work]);
  const img = path.join(work, 'disk.img');
  try {
    sh(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', 'truncate', '-s', '3G', img]);
    const started = Date.now();
    const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, path.join(REPO_ROOT, 'bin', 'tsbootc.js'), ...installArgs(fx, img, 'ext4')], { encoding: 'utf8', env: { ...process.env, TSBOOTC_LOG: '' } });
    console.error(`install-to-disk: ext4 as nobody: ${Date.now() - started} ms`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(img).uid, 65534);
    const id = await checkInstalledDisk(img, 'ext4', fx, work);
    await withMountedDisk(img, path.join(work, 'mnt'), async () => {
      const owners = ['composefs', 'composefs/meta.json', 'ostree/bootc', 'state', `state/deploy/${id}`, `state/deploy/${id}/${id}.origin`].map((p) => {
        const st = lstatSync(path.join(work, 'mnt', p));
        return `${p} ${st.uid}:${st.gid}`;
      });
      assert.deepEqual(owners, ['composefs 0:0', 'composefs/meta.json 0:0', 'ostree/bootc 0:0', 'state 0:0', `state/deploy/${id} 0:0`, `state/deploy/${id}/${id}.origin 0:0`]);
    });
  } finally {
    cleanup([path.join(work, 'erofs'), path.join(work, 'mnt')], [img]);
    rmSync(work, { recursive: true, force: true });
  }
});

/** Every entry on the ESP names a deployment whose state dir (with origin) and EROFS image exist. */
async function assertEntriesHaveDeployments(img: string, work: string): Promise<string[]> {
  const ids = espEntries(img).map((e) => /composefs=\??([0-9a-f]{128})/.exec(espCat(img, ESP_OFFSET, e))?.[1] ?? 'none');
  if (ids.length === 0) return ids;
  await withMountedDisk(img, path.join(work, 'mnt'), async () => {
    for (const id of ids) {
      assert.ok(existsSync(path.join(work, 'mnt', 'state', 'deploy', id, `${id}.origin`)), `entry for ${id} without its state dir`);
      assert.ok(existsSync(path.join(work, 'mnt', 'composefs', 'images', id)), `entry for ${id} without its image`);
    }
  });
  return ids;
}

/** Unmounts anything still mounted below `dir` (a killed install leaves its root mounted), deepest first. */
function unmountBelow(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/'));
  for (const m of mounts.sort().reverse()) spawnSync('umount', [m]);
}

test('an interrupted install leaves no ESP entry pointing at a missing deployment', { skip }, async () => {
  const fx = await image();
  const work = tempDir('tsbootc-install-crash-');
  const img = sparse(path.join(work, 'disk.img'));
  try {
    for (const step of ['repository', 'pull', 'bootloader', 'kernel', 'state']) {
      const r = runCli(installArgs(fx, img, 'ext4'), { env: { TSBOOTC_TEST_CRASH_AFTER: step } });
      assert.equal(r.status, 1, `${step}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`simulated crash after step ${step} \\(TSBOOTC_TEST_CRASH_AFTER\\)`));
      assert.deepEqual(await assertEntriesHaveDeployments(img, work), [], step);
      assert.deepEqual(loopsOf(img), [], `${step}: loop device detached`);
    }
    // Killed for real (SIGKILL, no cleanup) as soon as the state dir is written.
    for (const marker of ['install: pull done', 'install: state done']) {
      const child = await import('node:child_process');
      const p = child.spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsbootc.js'), ...installArgs(fx, img, 'ext4')], { env: { ...process.env, TSBOOTC_LOG: 'debug' } });
      let err = '';
      await new Promise<void>((resolve) => {
        p.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes(marker)) p.kill('SIGKILL');
        });
        p.on('exit', () => resolve());
      });
      assert.ok(err.includes(marker), err);
      unmountBelow(work);
      cleanup([], [img]);
      const ids = await assertEntriesHaveDeployments(img, work);
      assert.ok(ids.length <= 1, `${marker}: ${ids.join(', ')}`);
    }
    // And a complete install afterwards still works on the same file.
    assert.equal(runCli(installArgs(fx, img, 'ext4')).status, 0);
    assert.equal((await assertEntriesHaveDeployments(img, work)).length, 1);
  } finally {
    unmountBelow(work);
    cleanup([], [img]);
    rmSync(work, { recursive: true, force: true });
  }
});

/** What must not change when an install is refused: allocated blocks, the first MiB, no scratch dirs. */
function fingerprint(img: string): string {
  const st = statSync(img);
  const head = spawnSync('head', ['-c', '1048576', img]).stdout as Buffer;
  return `${st.size} ${st.blocks} ${sha(head)} ${readdirSync(path.dirname(img)).sort().join(',')}`;
}

test('install to-disk refuses bad input with one line before writing anything', { skip }, async () => {
  const fx = await image();
  const work = tempDir('tsbootc-install-refuse-');
  const img = sparse(path.join(work, 'disk.img'));
  const used = sparse(path.join(work, 'used.img'));
  try {
    const before = fingerprint(img);
    const cases: Array<[string[], number, RegExp]> = [
      [['install', 'to-disk', '--via-loopback', '--filesystem', 'ext4', img], 2, /^error: install to-disk: --source-imgref is required: .*tsbootc runs on the host, not in a container/],
      [['install', 'to-disk', '--via-loopback', '--source-imgref', `oci:${fx.layout}:nokernel`, '--filesystem', 'ext4', img], 1, new RegExp(`^error: Checking the source image oci:${fx.layout}:nokernel: image sha256:[0-9a-f]{64} has no kernel: looked for /boot/EFI/Linux/\\*\\.efi, /usr/lib/modules/\\*/\\*\\.efi, /usr/lib/modules/\\*/vmlinuz \\(with initramfs\\.img\\)\n$`)],
      [['install', 'to-disk', '--via-loopback', '--source-imgref', fx.ref, img], 2, new RegExp(`^error: install to-disk: no root filesystem specified for ${img}: pass --filesystem`)],
      [['install', 'to-disk', '--via-loopback', '--source-imgref', fx.ref, '--filesystem', 'ext4', '--bootloader', 'grub', img], 2, new RegExp(`^error: install: --bootloader grub needs bootupctl in the image, and ${fx.ref} has none at /usr/bin/bootupctl`)],
      [['install', 'to-disk', '--via-loopback', '--source-imgref', fx.ref, '--filesystem', 'ext4', path.join(work, 'missing.img')], 1, new RegExp(`^error: install to-disk: ${work}/missing.img does not exist\n$`)],
      [['install', 'to-disk', '--via-loopback', '--source-imgref', 'oci:/nonexistent/layout:x', '--filesystem', 'ext4', img], 1, /^error: Checking the source image oci:\/nonexistent\/layout:x: /],
      [['install', 'to-disk', '--via-loopback', '--source-imgref', fx.ref, '--filesystem', 'ext4', '--uki-addon', 'x', img], 2, new RegExp(`^error: Checking the source image ${fx.ref}: install: --uki-addon needs an image with a UKI, and ${fx.ref} boots a Type1 kernel \\(/usr/lib/modules/6.1.0-test/vmlinuz\\)\n$`)],
    ];
    for (const [args, status, re] of cases) {
      const r = runCli(args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(fingerprint(img), before, args.join(' '));
    }
    // Not empty without --wipe; attached to a loop device.
    assert.equal(spawnSync('sfdisk', ['--quiet', used], { input: 'label: gpt\n' }).status, 0);
    const usedBefore = fingerprint(used);
    const notEmpty = runCli(['install', 'to-disk', '--via-loopback', '--source-imgref', fx.ref, '--filesystem', 'ext4', used]);
    assert.equal(notEmpty.status, 1);
    assert.equal(notEmpty.stderr, `error: install to-disk: ${used} is not empty (found gpt, PMBR); pass --wipe to erase it\n`);
    const loop = sh(['losetup', '-f', '--show', used]).trim();
    try {
      const busy = runCli(['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', fx.ref, '--filesystem', 'ext4', used]);
      assert.equal(busy.status, 1);
      assert.equal(busy.stderr.split('\n')[0], `error: install to-disk: ${used} is in use: attached to ${loop}`);
    } finally {
      spawnSync('losetup', ['-d', loop]);
    }
    assert.equal(fingerprint(used), usedBefore);
  } finally {
    cleanup([], [img, used]);
    rmSync(work, { recursive: true, force: true });
  }
});

test('install to-filesystem into a mounted ext4 root with a colocated ESP, then install finalize', { skip }, async () => {
  const fx = await image();
  const work = tempDir('tsbootc-install-tofs-');
  const img = sparse(path.join(work, 'disk.img'), 2 * GiB);
  const mnt = path.join(work, 'target');
  mkdirSync(mnt);
  assert.equal(spawnSync('sfdisk', ['--quiet', img], { input: 'label: gpt\nsize=512MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI-SYSTEM"\ntype=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"\n' }).status, 0);
  const loop = sh(['losetup', '-f', '--show', '-P', img]).trim();
  try {
    spawnSync('partx', ['-a', loop]);
    sh(['mkfs.fat', '-n', 'EFI-SYSTEM', `${loop}p1`]);
    sh(['mkfs.ext4', '-q', '-L', 'root', `${loop}p2`]);
    const uuid = sh(['blkid', '-p', '-s', 'UUID', '-o', 'value', `${loop}p2`]).trim();
    sh(['mount', `${loop}p2`, mnt]);
    const r = runCli(['install', 'to-filesystem', '--source-imgref', fx.ref, '--target-imgref', 'quay.io/example/os:latest', '--skip-finalize', '--karg', 'quiet', mnt]);
    assert.equal(r.status, 0, r.stderr);
    const esp = `${loop}p1`;
    const entries = sh(['mdir', '-i', esp, '-b', '::/loader/entries'], MT).split('\n').filter((l) => l.endsWith('.conf'));
    assert.deepEqual(entries, ['::/loader/entries/bootc_tsbootc_test-1.0-1.conf']);
    const text = sh(['mtype', '-i', esp, entries[0]!], MT);
    const id = /composefs=\?([0-9a-f]{128})/.exec(text)?.[1] ?? assert.fail(text);
    assert.equal(text.split('\n')[4], `options root=UUID=${uuid} rw quiet composefs=?${id} console=ttyS0,115200n8`);
    const origin = readFileSync(path.join(mnt, 'state', 'deploy', id, `${id}.origin`), 'utf8');
    assert.equal(origin.split('\n')[1], 'container-image-reference = ostree-unverified-image:docker://quay.io/example/os:latest');
    assert.ok(origin.endsWith(`manifest_digest = ${fx.manifestDigest}`));
    // --skip-finalize left it writable; install finalize remounts it read-only.
    const opts = () => readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mnt)?.split(' ')[3] ?? '';
    assert.match(opts(), /^rw/);
    const f = runCli(['install', 'finalize', mnt]);
    assert.equal(f.status, 0, f.stderr);
    assert.match(opts(), /^ro/);
    const again = runCli(['install', 'to-filesystem', '--source-imgref', fx.ref, path.join(work)]);
    assert.equal(again.status, 1);
    assert.equal(again.stderr, `error: Inspecting the target filesystem ${work}: install to-filesystem: ${work} is not a mount point; mount the target root filesystem there\n`);
  } finally {
    spawnSync('umount', [mnt]);
    spawnSync('partx', ['-d', loop]);
    spawnSync('losetup', ['-d', loop]);
    rmSync(work, { recursive: true, force: true });
  }
});

test('an image with bootupctl gets GRUB: /boot laid out, its bootupctl run chrooted in the mounted image', { skip }, async () => {
  const fx = await image();
  const work = tempDir('tsbootc-install-grub-');
  const img = sparse(path.join(work, 'disk.img'));
  try {
    const r = runCli(['install', 'to-disk', '--via-loopback', '--wipe', '--source-imgref', `oci:${fx.layout}:grub`, '--filesystem', 'ext4', img]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /, ext4, grub \(no fs-verity: composefs=\?\), in /);
    assert.deepEqual(espListing(img, ESP_OFFSET), []);
    const rootUuid = probeAt(img, ROOT_OFFSET)['UUID']!;
    const mnt = path.join(work, 'mnt');
    await withMountedDisk(img, mnt, async () => {
      const id = readdirSync(path.join(mnt, 'state', 'deploy'))[0]!;
      const boot = path.join(mnt, 'boot');
      assert.deepEqual(readdirSync(boot).sort(), [`bootc_composefs-${id}`, 'grub2', 'loader']);
      assert.equal(readFileSync(path.join(boot, 'grub2', 'bootupctl.args'), 'utf8'), 'backend install --write-uuid --filesystem /sysroot /\n');
      assert.deepEqual(readFileSync(path.join(boot, `bootc_composefs-${id}`, 'vmlinuz')), VMLINUZ);
      assert.deepEqual(readFileSync(path.join(boot, `bootc_composefs-${id}`, 'initrd')), INITRD);
      assert.deepEqual(readdirSync(path.join(boot, 'loader', 'entries')), ['bootc_tsbootc_test-1.0-1.conf']);
      const k = `/boot/bootc_composefs-${id}`;
      assert.equal(
        readFileSync(path.join(boot, 'loader', 'entries', 'bootc_tsbootc_test-1.0-1.conf'), 'utf8'),
        `title tsbootc test OS 1.0\nversion 1.0\nlinux ${k}/vmlinuz\ninitrd ${k}/initrd\noptions root=UUID=${rootUuid} rw composefs=?${id} console=ttyS0,115200n8\nsort-key bootc-tsbootc-test-0\n`,
      );
    });
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    assert.ok(!mounts.includes(work), 'every mount of the install is gone');
  } finally {
    unmountBelow(work);
    cleanup([], [img]);
    rmSync(work, { recursive: true, force: true });
  }
});
