/**
 * End to end as root: an image built with umoci (whiteouts, an opaque
 * directory, hardlinks, symlinks, xattrs, a setuid file, a fifo, a foreign
 * owner) is pulled with the CLI into a repository on a loop-mounted ext4,
 * its EROFS is mounted through overlay (`oci mount`) and the mounted tree is
 * compared with `umoci unpack` of the same image. Then fsck is clean, GC
 * keeps everything the tag reaches, and untag + GC removes everything.
 *
 * umoci 0.4.7 writes incomplete layer tars unless the inserted tree ends with
 * a directory (see tests-integration/cli/oci-umoci.test.ts): every tree here
 * does (umoci walks in lexical order).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { getXattr, listXattrs, setXattr, umount } from '../../src/sys/libc.js';

const filesystems = fs.existsSync('/proc/filesystems') ? fs.readFileSync('/proc/filesystems', 'utf8') : '';
const has = (cmd: string, ...args: string[]) => spawnSync(cmd, args).status === 0;
const skip =
  process.getuid?.() !== 0
    ? 'needs root (loop, ext4, erofs and overlay mounts)'
    : !/\terofs\n/.test(filesystems) || !/\toverlay\n/.test(filesystems)
      ? 'the kernel lacks erofs or overlay'
      : !has('umoci', '--version')
        ? 'umoci is not installed (environment.md §2)'
        : !has('mkfs.ext4', '-V')
          ? 'mkfs.ext4 is not installed'
          : false;

function run(cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) b[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

/** security.capability v2: effective, permitted cap_net_bind_service. */
const CAPABILITY = Buffer.from('0100000200040000000000000000000000000000', 'hex');

function buildRootfs(r: string): void {
  for (const d of ['usr/bin', 'usr/lib', 'etc/sub', 'var/private']) fs.mkdirSync(path.join(r, d), { recursive: true });
  fs.writeFileSync(path.join(r, 'usr/bin/tool'), bytes(5000, 1), { mode: 0o755 });
  setXattr(path.join(r, 'usr/bin/tool'), 'security.capability', CAPABILITY);
  setXattr(path.join(r, 'usr/bin/tool'), 'user.note', Buffer.from('dropped by the xattr allowlist'));
  fs.writeFileSync(path.join(r, 'usr/bin/suid'), bytes(100, 2));
  fs.chmodSync(path.join(r, 'usr/bin/suid'), 0o4755);
  fs.symlinkSync('tool', path.join(r, 'usr/bin/sh'));
  fs.symlinkSync('usr/bin', path.join(r, 'bin'));
  fs.writeFileSync(path.join(r, 'usr/lib/small'), 'small\n');
  fs.writeFileSync(path.join(r, 'usr/lib/exactly64'), bytes(64, 3));
  fs.writeFileSync(path.join(r, 'usr/lib/empty'), '');
  fs.writeFileSync(path.join(r, 'usr/lib/big'), bytes(300_000, 4));
  fs.linkSync(path.join(r, 'usr/lib/big'), path.join(r, 'usr/lib/big-link'));
  fs.writeFileSync(path.join(r, 'etc/old'), 'old');
  fs.writeFileSync(path.join(r, 'etc/keep'), 'keep', { mode: 0o600 });
  fs.chownSync(path.join(r, 'etc/keep'), 1000, 1001);
  fs.writeFileSync(path.join(r, 'etc/sub/a'), 'a');
  fs.chmodSync(path.join(r, 'var/private'), 0o700);
  run('mkfifo', path.join(r, 'var/fifo'));
}

/** path → "type mode uid:gid size content xattrs [=first hardlink]" for everything below `root`. */
function describe(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const p = `${rel}/${name}`;
      const full = path.join(root, p);
      const st = fs.lstatSync(full);
      const xattrs = listXattrs(full)
        .filter((k) => k === 'security.capability')
        .map((k) => `${k}=${getXattr(full, k).toString('hex')}`)
        .join(',');
      let kind: string;
      let content = '';
      if (st.isDirectory()) kind = 'dir';
      else if (st.isFile()) {
        kind = 'reg';
        content = createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 16);
      } else if (st.isSymbolicLink()) {
        kind = 'symlink';
        content = fs.readlinkSync(full);
      } else kind = st.isFIFO() ? 'fifo' : 'other';
      let link = '';
      if (!st.isDirectory() && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first === undefined) inodes.set(st.ino, p);
        else link = ` =${first}`;
      }
      out.set(p, `${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? 0 : st.size} ${content} [${xattrs}]${link}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

test('a umoci image pulled with the CLI mounts through overlay as umoci unpacks it; GC keeps it while tagged', { skip }, (t) => {
  const w = tempDir('tsbootc-oci-priv-');
  const disk = path.join(w, 'ext4.img');
  const fsMount = path.join(w, 'fs');
  fs.mkdirSync(fsMount);
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 128 << 20);
  run('mkfs.ext4', '-q', '-F', disk);
  run('mount', '-o', 'loop', disk, fsMount);
  t.after(() => {
    spawnSync('umount', [fsMount]);
  });

  const rootfs = path.join(w, 'rootfs');
  buildRootfs(rootfs);
  const layout = path.join(w, 'oci');
  const image = `${layout}:latest`;
  run('umoci', 'init', '--layout', layout);
  run('umoci', 'new', '--image', image);
  run('umoci', 'insert', '--image', image, rootfs, '/');
  run('umoci', 'insert', '--image', image, '--whiteout', '/etc/old');
  fs.mkdirSync(path.join(w, 'newsub', 'zz'), { recursive: true });
  fs.writeFileSync(path.join(w, 'newsub', 'b'), 'b only');
  run('umoci', 'insert', '--image', image, '--opaque', path.join(w, 'newsub'), '/etc/sub');
  run('umoci', 'unpack', '--image', image, path.join(w, 'bundle'));

  const repo = path.join(fsMount, 'repo');
  const cfs = (...args: string[]) => runCli(['internals', 'cfs', '--repo', repo, ...args]);
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const pull = cfs('oci', 'pull', `oci:${image}`, 'umoci-test');
  assert.deepEqual([pull.status, pull.stderr], [0, '']);
  assert.match(pull.stdout, /^manifest sha256:[0-9a-f]{64}\nconfig   sha256:[0-9a-f]{64}\nverity   [0-9a-f]{128}\ntagged   umoci-test\nobjects  3 new \+ 0 already present objects; 297\.95 KiB stored, \d+\.\d\d KiB inlined\n$/);

  const mnt = path.join(w, 'mnt');
  fs.mkdirSync(mnt);
  const m = cfs('oci', 'mount', 'umoci-test', mnt);
  assert.deepEqual([m.status, m.stderr, m.stdout], [0, '', '']);
  let mounted: Map<string, string>;
  try {
    mounted = describe(mnt);
  } finally {
    umount(mnt);
  }
  const unpacked = describe(path.join(w, 'bundle', 'rootfs'));
  assert.deepEqual([...mounted.keys()], [...unpacked.keys()]);
  for (const [p, want] of unpacked) assert.equal(mounted.get(p), want, p);
  // The interesting cases really are in the image.
  assert.equal(mounted.has('/etc/old'), false);
  assert.deepEqual([...mounted.keys()].filter((p) => p.startsWith('/etc/sub/')), ['/etc/sub/b', '/etc/sub/zz']);
  assert.match(mounted.get('/usr/lib/big-link') ?? '', / =\/usr\/lib\/big$/);
  assert.match(mounted.get('/usr/bin/tool') ?? '', /^reg 755 0:0 5000 \S+ \[security\.capability=0100000200040000000000000000000000000000\]$/);
  assert.match(mounted.get('/usr/bin/suid') ?? '', /^reg 4755 /);
  assert.match(mounted.get('/etc/keep') ?? '', /^reg 600 1000:1001 4 /);

  const fsck = cfs('fsck');
  assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
  assert.deepEqual(cfs('gc').stdout, 'Objects: 0 removed (0 bytes)\n');
  assert.equal(cfs('oci', 'untag', 'umoci-test').status, 0);
  // 3 file objects, 3 layer streams, the config and manifest JSON and streams, the image.
  const gc = cfs('gc');
  assert.match(gc.stdout, /^Objects: 11 removed \(\d+ bytes\)\nPruned symlinks: 1 images, 5 streams\n$/);
  const left: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(repo, rel), { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(rel, e.name));
      else left.push(path.join(rel, e.name));
    }
  };
  walk('');
  assert.deepEqual(left, ['meta.json']);
});
