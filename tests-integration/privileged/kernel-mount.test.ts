/**
 * Kernel proof: a scanned directory, written as a V1 image with its objects
 * stored by digest, mounts as erofs + overlay (environment.md §4) and shows the
 * source tree back: every path's type, mode, owner, size, mtime, content,
 * symlink target, device number and xattrs. Both the data-only
 * `lowerdir=IMG::OBJECTS` form and the classic `lowerdir=IMG:OBJECTS` form,
 * where the image's 256 whiteout stubs must hide the object directories.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/run-cli.js';
import { scanDirectory, writeErofs } from '../../src/composefs/index.js';
import { getXattr, listXattrs, mount, umount, setXattr, MS_RDONLY, MNT_DETACH } from '../../src/sys/libc.js';

const filesystems = fs.existsSync('/proc/filesystems') ? fs.readFileSync('/proc/filesystems', 'utf8') : '';
const skip =
  process.getuid?.() !== 0
    ? 'needs root (erofs and overlay mounts)'
    : !/\terofs\n/.test(filesystems) || !/\toverlay\n/.test(filesystems)
      ? 'the kernel lacks erofs or overlay'
      : false;

const XATTRS = { list: (p: Buffer) => listXattrs(p), get: (p: Buffer, n: string) => getXattr(p, n) };

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
}

/** Tries to set an xattr; some namespaces are refused by some filesystems. */
function trySetXattr(p: string, name: string, value: string): boolean {
  try {
    setXattr(p, name, Buffer.from(value));
    return true;
  } catch {
    return false;
  }
}

function buildSource(src: string): { extraXattrs: string[] } {
  const j = (...p: string[]) => path.join(src, ...p);
  fs.mkdirSync(j('usr/bin'), { recursive: true });
  fs.mkdirSync(j('usr/lib/modules/6.1'), { recursive: true });
  fs.mkdirSync(j('etc/ssh'), { recursive: true });
  fs.mkdirSync(j('tmp'), { mode: 0o1777 });
  fs.chmodSync(j('tmp'), 0o1777);
  for (const [n, size] of [['empty', 0], ['one', 1], ['inline-64', 64], ['ext-65', 65], ['page', 4096], ['page-plus', 4097], ['mib', 1 << 20], ['nine-mib', (9 << 20) + 3]] as const) {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 31 + size) & 0xff;
    fs.writeFileSync(j('usr/lib', n), b);
  }
  fs.writeFileSync(j('usr/bin/su'), '#!/bin/sh\necho pretend to be su, long enough to be stored as an external object\n');
  fs.chmodSync(j('usr/bin/su'), 0o4755);
  fs.writeFileSync(j('usr/bin/wall'), 'x'.repeat(300));
  fs.chmodSync(j('usr/bin/wall'), 0o2755);
  sh('chown', ['0:5', j('usr/bin/wall')]);
  fs.linkSync(j('usr/lib/page-plus'), j('usr/bin/hardlink-big'));
  fs.linkSync(j('usr/lib/one'), j('etc/hardlink-small'));
  fs.symlinkSync('../usr/lib/mib', j('etc/rel-link'));
  fs.symlinkSync('/usr/bin/su', j('usr/abs-link'));
  fs.symlinkSync('dangling/nowhere', j('etc/dangling'));
  fs.writeFileSync(j('etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  fs.chmodSync(j('etc/ssh/sshd_config'), 0o600);
  sh('chown', ['1000:1001', j('etc/ssh/sshd_config')]);
  sh('chown', ['-h', '42:43', j('etc/dangling')]);
  sh('mkfifo', ['-m', '0620', j('etc/fifo')]);
  // A unix socket (python3 binds one; without python3 the tree just has no socket).
  spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(j('etc/sock'))})`]);
  sh('mknod', ['-m', '0666', j('usr/null'), 'c', '1', '3']);
  sh('mknod', ['-m', '0660', j('usr/loop7'), 'b', '7', '7']);
  fs.writeFileSync(Buffer.from(`${src}/etc/odd name\xe9`, 'latin1'), 'latin-1 name');
  setXattr(j('usr/lib/ext-65'), 'user.mime', Buffer.from('application/octet-stream'));
  setXattr(j('usr/lib/one'), 'user.empty', Buffer.alloc(0));
  setXattr(j('etc'), 'user.dir', Buffer.from([0, 1, 2, 255]));
  const extraXattrs: string[] = [];
  if (trySetXattr(j('usr/bin/su'), 'trusted.tsbootc', 'T')) extraXattrs.push('trusted.tsbootc');
  if (trySetXattr(j('usr/bin/su'), 'security.tsbootc', 'S')) extraXattrs.push('security.tsbootc');
  fs.utimesSync(j('usr/lib/empty'), 1, new Date(1700000000123));
  return { extraXattrs };
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number | null;
  nlink: number | null;
  mtimeNs: bigint;
  rdev: number | null;
  content: string | null;
  target: string | null;
  xattrs: Array<[string, string]>;
}

function typeOf(s: fs.Stats): string {
  return s.isDirectory() ? 'dir' : s.isFile() ? 'reg' : s.isSymbolicLink() ? 'symlink' : s.isCharacterDevice() ? 'chr' : s.isBlockDevice() ? 'blk' : s.isFIFO() ? 'fifo' : 'sock';
}

/** Every path under `root` (raw byte names) → what the tree shows for it. */
function snapshot(root: string, skipNames: Set<string> = new Set()): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const rec = (rel: Buffer) => {
    const abs = Buffer.concat([Buffer.from(root), rel]);
    const s = fs.lstatSync(abs, { bigint: true });
    const plain = fs.lstatSync(abs);
    const type = typeOf(plain);
    const names = listXattrs(abs).filter((n) => !n.startsWith('trusted.overlay.'));
    out.set(rel.toString('latin1') || '/', {
      type,
      mode: Number(s.mode),
      uid: Number(s.uid),
      gid: Number(s.gid),
      size: type === 'dir' ? null : Number(s.size),
      nlink: type === 'dir' ? null : Number(s.nlink),
      mtimeNs: s.mtimeNs,
      rdev: type === 'chr' || type === 'blk' ? Number(s.rdev) : null,
      content: type === 'reg' ? createHash('sha256').update(fs.readFileSync(abs)).digest('hex') : null,
      target: type === 'symlink' ? fs.readlinkSync(abs, { encoding: 'buffer' }).toString('latin1') : null,
      xattrs: names.sort().map((n) => [n, getXattr(abs, n).toString('hex')]),
    });
    if (type === 'dir') {
      for (const name of fs.readdirSync(abs, { encoding: 'buffer' })) {
        if (rel.length === 0 && skipNames.has(name.toString('latin1'))) continue;
        rec(Buffer.concat([rel, Buffer.from('/'), name]));
      }
    }
  };
  rec(Buffer.alloc(0));
  return out;
}

function inodeOf(p: string): bigint {
  return fs.statSync(p, { bigint: true }).ino;
}

test('a scanned tree mounted as erofs + overlay (data-only and classic lowerdir) shows the source back', { skip }, async () => {
  const dir = tempDir('tsbootc-kmount-');
  const mounted: string[] = [];
  const doMount = (source: string, target: string, type: string, data: string | null) => {
    fs.mkdirSync(target, { recursive: true });
    mount(source, target, type, MS_RDONLY, data);
    mounted.push(target);
  };
  try {
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    const { extraXattrs } = buildSource(src);
    const objects = path.join(dir, 'objects');
    const tree = await scanDirectory(src, { xattrs: XATTRS, digestStore: objects });
    const imagePath = path.join(dir, 'image.cfs');
    fs.writeFileSync(imagePath, writeErofs(tree, { version: 1 }));
    const want = snapshot(src);
    assert.ok(want.size >= 29, `source has ${want.size} paths`);
    if (want.has('/etc/sock')) assert.equal(want.get('/etc/sock')?.type, 'sock');
    const su = want.get('/usr/bin/su')!;
    assert.deepEqual(
      su.xattrs.map(([n]) => n),
      [...extraXattrs].sort(),
    );

    const meta = path.join(dir, 'mnt/meta');
    doMount(imagePath, meta, 'erofs', null);
    const objectDirs = fs.readdirSync(objects).sort();
    const objectCount = objectDirs.reduce((n, d) => n + fs.readdirSync(path.join(objects, d)).length, 0);
    assert.equal(objectCount, 7, 'ext-65, page, page-plus, mib, nine-mib, su and wall are external');

    for (const [form, sep] of [
      ['data-only', '::'],
      ['classic', ':'],
    ] as const) {
      const root = path.join(dir, `mnt/root-${form}`);
      doMount('overlay', root, 'overlay', `ro,metacopy=on,redirect_dir=on,lowerdir=${meta}${sep}${objects}`);
      const got = snapshot(root);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${form}: the same paths (no object dirs in the root)`);
      for (const [p, w] of want) {
        const g = got.get(p)!;
        // The root directory's own mtime/owner come from the source root as well.
        assert.deepEqual(g, w, `${form}: ${p}`);
      }
      const rootNames = fs.readdirSync(root).sort();
      assert.deepEqual(rootNames, ['etc', 'tmp', 'usr'], `${form}: ls of the root`);
      assert.equal(rootNames.filter((n) => /^[0-9a-f]{2}$/.test(n)).length, 0);
      assert.equal(inodeOf(path.join(root, 'usr/lib/page-plus')), inodeOf(path.join(root, 'usr/bin/hardlink-big')), `${form}: hardlink shares an inode`);
      umount(root);
      mounted.pop();
    }

    // The whiteout stubs are in the image itself: 256 character devices 0:0, 00..ff.
    const stubs = fs.readdirSync(meta).filter((n) => /^[0-9a-f]{2}$/.test(n));
    assert.equal(stubs.length, 256);
    const st = fs.lstatSync(path.join(meta, '7f'));
    assert.equal(st.isCharacterDevice() && st.rdev === 0, true);
  } finally {
    for (const m of mounted.reverse()) {
      try {
        umount(m);
      } catch {
        umount(m, MNT_DETACH);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
