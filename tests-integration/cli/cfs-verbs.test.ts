/**
 * The `internals cfs` verbs closed on branch cfs-completion, as a subprocess
 * on tiny deterministic trees and temporary insecure repositories: the OCI
 * root transform shared with the importer (ids unchanged), --bootable,
 * --no-repo and dump-files, with whole outputs compared to golden text.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli, tempDir } from '../helpers/run-cli.js';

const T = 1700000000;

/** A tiny rootfs with fixed mtimes (T + length of the path), user xattrs, /run, /boot and /sysroot content. */
function fixture(root: string, links = false): void {
  const w = (p: string, data: string, mode = 0o644) => {
    fs.writeFileSync(path.join(root, p), data, { mode });
    fs.chmodSync(path.join(root, p), mode);
  };
  for (const d of ['usr/bin', 'usr/lib', 'run/junk', 'boot/old', 'sysroot/ostree', 'etc']) fs.mkdirSync(path.join(root, d), { recursive: true });
  w('usr/bin/hello', '#!/bin/sh\n' + 'echo hello\n'.repeat(20), 0o755);
  w('usr/bin/small', 'tiny\n');
  w('run/junk/x', 'x');
  w('boot/old/vmlinuz', 'k');
  w('etc/hostname', 'fixture\n');
  fs.symlinkSync('hello', path.join(root, 'usr/bin/hi'));
  const paths = ['usr/bin/hello', 'usr/bin/small', 'usr/bin', 'usr/lib', 'usr', 'run/junk/x', 'run/junk', 'run', 'boot/old/vmlinuz', 'boot/old', 'boot', 'sysroot/ostree', 'sysroot', 'etc/hostname', 'etc', ''];
  if (links) {
    fs.linkSync(path.join(root, 'usr/bin/hello'), path.join(root, 'usr/lib/hello2'));
    fs.linkSync(path.join(root, 'usr/bin/small'), path.join(root, 'etc/small-link'));
    fs.symlinkSync('../bin/hello', path.join(root, 'usr/lib/x'));
    fs.lutimesSync(path.join(root, 'usr/lib/x'), T, T);
  }
  spawnSync('setfattr', ['-n', 'user.k', '-v', 'v', path.join(root, 'usr/bin/small')]);
  spawnSync('setfattr', ['-n', 'user.u', '-v', 'usr', path.join(root, 'usr')]);
  fs.lutimesSync(path.join(root, 'usr/bin/hi'), T, T);
  for (const p of paths) fs.utimesSync(path.join(root, p), T + p.length, T + p.length);
}

const cfs = (...args: string[]) => runCli(['internals', 'cfs', ...args]);
const ok = (r: { status: number; stderr: string; stdout: string }, stdout: string) => assert.deepEqual([r.status, r.stderr, r.stdout], [0, '', stdout]);

const HELLO = 'd8e6ccb7831001f1405b72647481b71b40d685d8802ef36fed7661d1b5558fbba15e77e622e527919dd30b30a51f5e2595a0783ab111a089b4b831da8f197dfe';
const helloLine = (p: string, nlink = 1) => `${p} 230 100755 ${nlink} 0 0 0 1700000013.0 ${HELLO.slice(0, 2)}/${HELLO.slice(2)} - ${HELLO}`;

test('cfs compute-id/create-dumpfile: the OCI root transform is the importer\'s, with the ids of the former local copy', () => {
  const src = path.join(tempDir(), 'src');
  fixture(src);
  // Golden ids recorded with the local transformForOciRoot (before it was replaced by transformForOci).
  ok(cfs('--no-repo', 'compute-id', src), '8446e07d93ea9166ee8c442dd65d79c49d646ebbdd8edd599342380f8ff1f783f77612c966a2a7934f5791ffecccf0958c7956766e391614c58eeb83383c64c5\n');
  ok(cfs('--no-repo', 'compute-id', '--xattrs', 'keep-user-xattrs', src), '161649fd5e84b463af9cb461ff4f70da4eac2ab0c932dd60ea1e3d3373d31f00fb9ccb1ec0a4175ddd5815f919d361b098b51b0c438b29e2949e3047155a3162\n');
  ok(cfs('--no-repo', 'compute-id', '--no-propagate-usr-to-root', src), 'd3b8201a1838cc8cf233df1c258f5f851c63da77e9b0eabc62e678f2d49d91dc7a8bf19d649a0cdf25d3c16140285e05c3004eed4050e08e05bd2740413a5d29\n');
  ok(cfs('--no-repo', '--hash', 'sha256', 'compute-id', src), '44e522aa469fb8a88e9f657d48ddf2d6e28c7682244ed9b7859d8a34dc74d182\n');
  const common = [
    '/etc 0 40755 2 0 0 0 1700000003.0 - - -',
    '/etc/hostname 8 100644 1 0 0 0 1700000012.0 - fixture\\n -',
    '/run 0 40755 2 0 0 0 1700000003.0 - - -',
  ];
  const usr = (user: boolean) => [
    '/usr 0 40755 4 0 0 0 1700000003.0 - - -' + (user ? ' user.u=usr' : ''),
    '/usr/bin 0 40755 2 0 0 0 1700000007.0 - - -',
    helloLine('/usr/bin/hello'),
    '/usr/bin/hi 5 120777 1 0 0 0 1700000000.0 hello - -',
    '/usr/bin/small 5 100644 1 0 0 0 1700000013.0 - tiny\\n -' + (user ? ' user.k=v' : ''),
    '/usr/lib 0 40755 2 0 0 0 1700000007.0 - - -',
  ];
  ok(
    cfs('--no-repo', 'create-dumpfile', '--xattrs', 'keep-user-xattrs', src),
    [
      '/ 0 40755 7 0 0 0 1700000003.0 - - - user.u=usr',
      '/boot 0 40755 3 0 0 0 1700000004.0 - - -',
      '/boot/old 0 40755 2 0 0 0 1700000008.0 - - -',
      '/boot/old/vmlinuz 1 100644 1 0 0 0 1700000016.0 - k -',
      ...common,
      '/sysroot 0 40755 3 0 0 0 1700000007.0 - - -',
      '/sysroot/ostree 0 40755 2 0 0 0 1700000014.0 - - -',
      ...usr(true),
      '',
    ].join('\n'),
  );
  // --bootable: /boot and /sysroot emptied with /usr's mtime, after the OCI transform.
  const bootDump = ['/ 0 40755 7 0 0 0 1700000003.0 - - -', '/boot 0 40755 2 0 0 0 1700000003.0 - - -', ...common, '/sysroot 0 40755 2 0 0 0 1700000003.0 - - -', ...usr(false), ''].join('\n');
  ok(cfs('--no-repo', 'create-dumpfile', '--bootable', src), bootDump);
  const bootId = '44997e8d839fe2569d2a8e18c305945370ba497ad7e98f07eabaa8c41632d95c1f048a83a8ef3ccb93a1e0bc0214142b7ea9f72f028cc636d126a4c6fe9d35f2';
  ok(cfs('--no-repo', 'compute-id', '--bootable', src), `${bootId}\n`);
  const repo = path.join(path.dirname(src), 'repo');
  assert.equal(cfs('init', '--insecure', repo).status, 0);
  ok(cfs('--repo', repo, 'create-image', '--bootable', src, 'boot'), `sha512:${bootId}\n`);
  assert.equal(fs.readlinkSync(path.join(repo, 'images/refs/boot')), `../${bootId}`);
});

test('cfs --bootable refuses a tree with an SELinux policy, and a tree without /usr; --no-repo only where cfsctl allows it', () => {
  const tmp = tempDir();
  const src = path.join(tmp, 'src');
  fixture(src);
  fs.mkdirSync(path.join(src, 'etc/selinux'));
  fs.writeFileSync(path.join(src, 'etc/selinux/config'), 'SELINUX=enforcing\nSELINUXTYPE=targeted\n');
  const sel = 'SELinux relabeling not implemented: the image has an SELinux policy (SELINUXTYPE=targeted), and a boot image without its labels would have the wrong digest';
  for (const verb of ['compute-id', 'create-dumpfile']) {
    const r = cfs('--no-repo', verb, '--bootable', src);
    assert.deepEqual([r.status, r.stdout, r.stderr], [1, '', `error: Applying the boot transform to ${src}: ${sel}\n`]);
  }
  const repo = path.join(tmp, 'repo');
  assert.equal(cfs('init', '--insecure', repo).status, 0);
  const ci = cfs('--repo', repo, 'create-image', '--bootable', src, 'x');
  assert.deepEqual([ci.status, ci.stdout, ci.stderr], [1, '', `error: Applying the boot transform to ${src}: ${sel}\n`]);
  assert.equal(fs.existsSync(path.join(repo, 'images/refs/x')), false, 'nothing committed');
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  const noUsr = cfs('--no-repo', 'compute-id', empty);
  assert.deepEqual([noUsr.status, noUsr.stderr], [1, `error: Transforming ${empty} (use --no-propagate-usr-to-root to keep its root as is): /usr does not exist in the image\n`]);
  const noRepo = cfs('--no-repo', 'images');
  assert.deepEqual([noRepo.status, noRepo.stdout, noRepo.stderr], [2, '', 'error: --no-repo is only supported for compute-id and create-dumpfile\n']);
});

test('cfs dump-files prints cfsctl dump lines for files and directories, or backing paths', () => {
  const tmp = tempDir();
  const src = path.join(tmp, 'src');
  fixture(src, true);
  const repo = path.join(tmp, 'repo');
  assert.equal(cfs('init', '--insecure', repo).status, 0);
  const made = cfs('--repo', repo, 'create-image', src, 'img');
  assert.equal(made.status, 0, made.stderr);
  const id = made.stdout.trim().replace(/^sha512:/, '');
  const df = (...a: string[]) => cfs('--repo', repo, 'dump-files', ...a);
  ok(df('refs/img', '/usr/bin/hello', '/usr/bin/hi'), [helloLine('/usr/bin/hello', 2), '/usr/bin/hi 5 120777 1 0 0 0 1700000000.0 hello - -', ''].join('\n'));
  // A directory lists itself and everything below, hardlinks resolved within the request; paths print as given.
  const lib = (p: string, first: string) => [`${first} 0 40755 2 0 0 0 1700000007.0 - - -`, helloLine(`${p}/hello2`, 2), `${p}/x 12 120777 1 0 0 0 1700000000.0 ../bin/hello - -`];
  ok(df(id, '/usr/lib', 'usr/lib/'), [...lib('/usr/lib', '/usr/lib'), ...lib('usr/lib', 'usr/lib/'), ''].join('\n'));
  ok(
    df('refs/img', '/etc', '/etc/small-link'),
    ['/etc 0 40755 2 0 0 0 1700000003.0 - - -', '/etc/hostname 8 100644 1 0 0 0 1700000012.0 - fixture\\n -', '/etc/small-link 5 100644 2 0 0 0 1700000013.0 - tiny\\n -', '/etc/small-link 5 100644 2 0 0 0 1700000013.0 - tiny\\n -', ''].join('\n'),
  );
  ok(df('--backing-path-only', 'refs/img', '/usr/bin/hello', '/usr/bin/small', '/usr/bin/hi'), `/usr/bin/hello ${HELLO.slice(0, 2)}/${HELLO.slice(2)}\n/usr/bin/small inline\n/usr/bin/hi inline\n`);
  for (const [a, msg] of [
    [['--backing-path-only', 'refs/img', '/usr'], '/usr is a directory'],
    [['refs/img', '/nope/x'], '/nope/x not found'],
    [['refs/img', '/'], '/: not a file name (give a path below /)'],
  ] as const) {
    const r = df(...a);
    assert.deepEqual([r.status, r.stdout, r.stderr], [1, '', `error: ${msg}\n`]);
  }
});
