/**
 * Hostile layer tars through `internals cfs oci pull oci:DIR` into a temp
 * repository (the built CLI, under lib.ts's memory and time limits): path
 * escapes, symlink and hardlink escapes, special files kept as data, PAX and
 * xattr abuse, long and odd names, deep and wide trees. Each case asserts the
 * exact one-line error or the exact dump, that nothing outside the repository
 * changed, that a failed pull left no tag, and that no device node or setuid
 * file exists anywhere under the temp dirs.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/run-cli.js';
import { gnuLongEntry, paxEntry, rawEntry, TAR_END, writeOciLayout } from '../../src/composefs/oci/test-fixtures.js';
import { assertError, cli, skipReason, snapshot, specialFiles, Tally } from './lib.js';

const T = { mtime: 1700000000 };
const dir = (name: string, mode = 0o755): Buffer => rawEntry({ ...T, name, type: '5', mode });
const file = (name: string, data: string | Buffer = '', mode = 0o644): Buffer => rawEntry({ ...T, name, data, mode });
const USR = dir('usr/');
const tar = (...entries: Buffer[]): Buffer => Buffer.concat([...entries, TAR_END]);
const ROOT_LINES = '/ 0 40755 3 0 0 0 1700000000.0 - - -\n/usr 0 40755 ';

interface Case {
  name: string;
  category: string;
  layers: Buffer[];
  gzip?: boolean;
  /** The error after `error: Pulling oci:<layout>: layer <digest>: `, or the dump of the pulled image. */
  error?: string;
  dump?: string;
}

const cases: Case[] = [
  // ---- paths and links
  { name: 'dot-dot path', category: 'paths', layers: [tar(USR, file('usr/../../etc/passwd', 'x'))], error: 'entry usr/../../etc/passwd: path usr/../../etc/passwd contains ".." (escapes the root)' },
  { name: 'absolute path is rooted in the image', category: 'paths', layers: [tar(USR, file('/usr/abs', 'x'))], dump: `${ROOT_LINES}2 0 0 0 1700000000.0 - - -\n/usr/abs 1 100644 1 0 0 0 1700000000.0 - x -\n` },
  { name: 'absolute symlink escape used as a parent', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/evil', type: '2', linkname: '/etc' }), file('usr/evil/passwd', 'x'))], error: 'entry /usr/evil/passwd: parent /usr/evil is not a directory' },
  { name: 'relative symlink escape used as a parent', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/evil', type: '2', linkname: '../../..' }), file('usr/evil/passwd', 'x'))], error: 'entry /usr/evil/passwd: parent /usr/evil is not a directory' },
  {
    name: 'symlink escape in a lower layer used as a parent in an upper one',
    category: 'paths',
    layers: [tar(USR, rawEntry({ ...T, name: 'usr/up', type: '2', linkname: '../../../../tmp' })), tar(file('usr/up/planted', 'x'))],
    error: 'entry /usr/up/planted: parent /usr/up is not a directory',
  },
  { name: 'hardlink out of the tree', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/h', type: '1', linkname: '../etc/shadow' }))], error: 'entry usr/h: hardlink target ../etc/shadow contains ".." (escapes the root)' },
  { name: 'hardlink to an absolute host path', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/h', type: '1', linkname: '/etc/shadow' }))], error: 'entry /usr/h: hardlink target /etc/shadow: parent directory /etc does not exist' },
  { name: 'hardlink to a missing target', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/h', type: '1', linkname: 'usr/nothere' }))], error: 'entry /usr/h: hardlink target /usr/nothere does not exist' },
  { name: 'hardlink to a directory', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/h', type: '1', linkname: 'usr' }))], error: 'entry /usr/h: hardlink target /usr is a directory' },
  { name: 'hardlink through a symlink', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/l', type: '2', linkname: '/etc' }), rawEntry({ ...T, name: 'usr/h', type: '1', linkname: 'usr/l/shadow' }))], error: 'entry /usr/h: hardlink target /usr/l/shadow: parent /usr/l is not a directory' },
  { name: 'sparse/vendor entry type', category: 'paths', layers: [tar(USR, rawEntry({ ...T, name: 'usr/s', type: 'S' }))], error: 'entry usr/s: unsupported tar entry type unknown (sparse or vendor extension)' },
  // ---- special files: kept as data in the image, never created on the host
  {
    name: 'device nodes, fifo, setuid and setgid',
    category: 'special files',
    layers: [
      tar(
        USR,
        rawEntry({ ...T, name: 'usr/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 }),
        rawEntry({ ...T, name: 'usr/sda', type: '4', mode: 0o660, devmajor: 8, devminor: 0 }),
        rawEntry({ ...T, name: 'usr/fifo', type: '6', mode: 0o644 }),
        file('usr/suid', 'x'.repeat(100), 0o4755),
        file('usr/sgid-inline', 'y', 0o2755),
        dir('usr/sgid-dir/', 0o2775),
      ),
    ],
    dump:
      `${ROOT_LINES}3 0 0 0 1700000000.0 - - -\n` +
      '/usr/fifo 0 10644 1 0 0 0 1700000000.0 - - -\n' +
      '/usr/null 0 20666 1 0 0 259 1700000000.0 - - -\n' +
      '/usr/sda 0 60660 1 0 0 2048 1700000000.0 - - -\n' +
      '/usr/sgid-dir 0 42775 2 0 0 0 1700000000.0 - - -\n' +
      '/usr/sgid-inline 1 102755 1 0 0 0 1700000000.0 - y -\n' +
      '/usr/suid 100 104755 1 0 0 0 1700000000.0 1c/2de5c32ed878df436a38bd47d457660fd85089b68f75e47693c4ba70546cc2e70641ec17fb81f6a3d13369c218f9ab5b380372db7fbe775ea8f2cacb7553d1 - 1c2de5c32ed878df436a38bd47d457660fd85089b68f75e47693c4ba70546cc2e70641ec17fb81f6a3d13369c218f9ab5b380372db7fbe775ea8f2cacb7553d1\n',
  },
  // ---- PAX, GNU and xattr abuse
  { name: 'PAX size claiming 10 GB', category: 'pax', layers: [tar(USR, paxEntry([['size', '10000000000']]), file('usr/big', 'x'))], error: 'entry usr/big: truncated tar stream (unexpected end of data)' },
  { name: 'ustar size claiming 100 GB', category: 'pax', layers: [tar(USR, rawEntry({ ...T, name: 'usr/x', size: 1e11 }))], error: 'entry usr/x: truncated tar stream (unexpected end of data)' },
  { name: 'negative PAX size', category: 'pax', layers: [tar(USR, paxEntry([['size', '-5']]), file('usr/big', 'x'))], error: 'entry usr/big at byte 1536 has an invalid size -5 (from its PAX size record)' },
  { name: 'PAX header claiming 3 GB', category: 'pax', layers: [tar(USR, rawEntry({ ...T, name: 'PaxHeader', type: 'x', size: 3e9 }))], error: 'pax-header record of 3000000000 bytes at byte 512 exceeds the 1048576-byte limit' },
  { name: 'PAX path record of 2 MiB', category: 'pax', layers: [tar(USR, paxEntry([['path', 'usr/' + 'p/'.repeat(1 << 20)]]), file('x', 'x'))], error: 'pax-header record of 2097170 bytes exceeds the 1048576-byte limit' },
  { name: 'GNU long name of 2 MiB', category: 'pax', layers: [tar(USR, gnuLongEntry('L', 'usr/' + 'q/'.repeat(1 << 20)), file('x', 'x'))], error: 'gnu-long-path record of 2097157 bytes exceeds the 1048576-byte limit' },
  { name: 'malformed PAX record', category: 'pax', layers: [tar(USR, rawEntry({ ...T, name: 'PaxHeader', type: 'x', data: '99 path=x\n' }), file('usr/f', 'x'))], error: 'entry x\\x0a: malformed PAX record at byte 0' }, // tar-stream's lenient reading named it "x\n"
  { name: 'name component over 255 bytes', category: 'pax', layers: [tar(USR, paxEntry([['path', 'usr/' + 'a'.repeat(300)]]), file('x', 'x'))], error: `entry usr/${'a'.repeat(96)}…(304 chars)…${'a'.repeat(100)}: path usr/${'a'.repeat(56)}… has a component longer than 255 bytes` },
  {
    name: 'xattr flood: 20 000 user xattrs on one file (dropped while parsing)',
    category: 'xattrs',
    layers: [tar(USR, paxEntry(Array.from({ length: 20000 }, (_, i): [string, string] => [`SCHILY.xattr.user.x${i}`, 'v'.repeat(20)])), file('usr/f', 'x'))],
    dump: `${ROOT_LINES}2 0 0 0 1700000000.0 - - -\n/usr/f 1 100644 1 0 0 0 1700000000.0 - x -\n`,
  },
  { name: 'xattr flood past the PAX record limit', category: 'xattrs', layers: [tar(USR, paxEntry(Array.from({ length: 40000 }, (_, i): [string, string] => [`SCHILY.xattr.user.x${i}`, 'v'.repeat(20)])), file('usr/f', 'x'))], error: 'pax-header record of 1948890 bytes exceeds the 1048576-byte limit' },
  { name: 'kept xattr value over 64 KiB', category: 'xattrs', layers: [tar(USR, paxEntry([['SCHILY.xattr.security.capability', Buffer.alloc(70000, 0x61)]]), file('usr/f', 'x'))], error: 'entry usr/f: xattr security.capability has a 70000-byte value (the limit is 65535)' },
  {
    name: 'binary kept xattr value',
    category: 'xattrs',
    layers: [tar(USR, paxEntry([['SCHILY.xattr.security.capability', Buffer.from([0, 0xff, 0x0a, 0x3d, 0x20])]]), file('usr/f', 'x'))],
    dump: `${ROOT_LINES}2 0 0 0 1700000000.0 - - -\n/usr/f 1 100644 1 0 0 0 1700000000.0 - x - security.capability=\\x00\\xff\\n\\x3d\\x20\n`,
  },
  // ---- odd names
  {
    name: 'names with a newline, invalid UTF-8 and escapes',
    category: 'names',
    layers: [tar(USR, paxEntry([['path', Buffer.from('usr/new\nline\xff\xfe', 'latin1')]]), file('x', 'x'), paxEntry([['path', 'usr/back\\slash =sp']]), file('x', 'y'))],
    dump: `${ROOT_LINES}2 0 0 0 1700000000.0 - - -\n/usr/back\\\\slash\\x20=sp 1 100644 1 0 0 0 1700000000.0 - y -\n/usr/new\\nline\\xff\\xfe 1 100644 1 0 0 0 1700000000.0 - x -\n`,
  },
];

const tally = new Tally();

function countTags(repo: string): number {
  const d = path.join(repo, 'streams/refs/oci');
  return fs.existsSync(d) ? fs.readdirSync(d).length : 0;
}

test('hostile layer tars: each pull gives its exact error or dump and touches nothing outside the repository', { skip: skipReason ?? false }, () => {
  const tmp = tempDir('tsbootc-hostile-layers-');
  try {
    const repo = path.join(tmp, 'repo');
    fs.mkdirSync(path.join(tmp, 'host-canary'));
    fs.writeFileSync(path.join(tmp, 'host-canary', 'passwd'), 'root:x:0:0\n');
    assert.equal(cli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
    for (const [i, c] of cases.entries()) {
      const layout = path.join(tmp, `layout-${i}`);
      const l = writeOciLayout(layout, c.layers, { gzip: c.gzip ?? false });
      const outside = snapshot(tmp, (r) => r === 'repo');
      const tags = countTags(repo);
      const r = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${layout}`, `case-${i}`], { cwd: path.join(tmp, 'host-canary') });
      try {
        if (c.error !== undefined) {
          assertError(r, `Pulling oci:${layout}: layer ${l.layers[l.layers.length - 1]!}: ${c.error}`);
          assert.equal(countTags(repo), tags, 'a failed pull created a tag');
        } else {
          assert.equal(r.stderr, '');
          assert.equal(r.status, 0);
          const d = cli(['internals', 'cfs', '--repo', repo, 'oci', 'dump', `case-${i}`]);
          assert.equal(d.stderr, '');
          assert.equal(d.stdout, c.dump);
        }
        assert.deepEqual(snapshot(tmp, (x) => x === 'repo'), outside, 'something outside the repository changed');
        assert.deepEqual(specialFiles(tmp), [], 'a device node, fifo or setuid file on the host');
      } catch (err) {
        assert.fail(`case ${JSON.stringify(c.name)}: ${(err as Error).message}`);
      }
      tally.add(c.category);
    }
    const fsck = cli(['internals', 'cfs', '--repo', repo, 'fsck']);
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  tally.print('oci-layers');
});
