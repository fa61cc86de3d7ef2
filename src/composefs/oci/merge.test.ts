import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseDumpfile, printDumpfile } from '../dumpfile.js';
import { externalFile, insertAt, newDir, lookup, type Dir, type Leaf } from '../tree.js';
import { TsbootcError } from '../../util/errors.js';
import { LayerMerger, transformForBoot, transformForOci } from './merge.js';
import type { TarEntry } from './tar.js';

const dump = (root: Dir): string => printDumpfile(root).toString('latin1');

const BOOTABLE = String.raw`/ 0 40755 7 0 0 0 0.0 - - -
/boot 0 40755 3 0 0 0 5.7 - - -
/boot/efi 0 40700 2 0 0 0 0.0 - - -
/boot/vmlinuz 1 100644 1 0 0 0 0.0 - k -
/etc 0 40755 2 0 0 0 0.0 - - - security.selinux=etc_t
/etc/hosts 1 100644 1 0 0 0 0.0 - h - security.selinux=net_conf_t user.a=1
/run 0 40755 3 0 0 0 9.9 - - -
/run/x 0 40755 2 0 0 0 9.9 - - -
/sysroot 0 40755 3 0 0 0 0.0 - - -
/sysroot/ostree 0 40755 2 0 0 0 0.0 - - -
/usr 0 40711 2 3 4 0 100.25 - - - security.capability=caps security.selinux=usr_t trusted.x=1 user.u=1
`;

test('transformForOci: root from /usr, /run emptied with /usr mtime, xattr modes', () => {
  for (const [mode, xattrs] of [
    ['allowlist-only', 'security.capability=caps'],
    ['keep-user-xattrs', 'security.capability=caps user.u=1'],
  ] as const) {
    const root = parseDumpfile(BOOTABLE);
    transformForOci(root, { xattrs: mode });
    const out = dump(root).split('\n');
    assert.equal(out[0], `/ 0 40711 7 3 4 0 100.25 - - - ${xattrs}`);
    assert.deepEqual(out.filter((l) => l.startsWith('/run') || l.startsWith('/etc')), ['/etc 0 40755 2 0 0 0 0.0 - - -', `/etc/hosts 1 100644 1 0 0 0 0.0 - h -${mode === 'keep-user-xattrs' ? ' user.a=1' : ''}`, '/run 0 40755 2 0 0 0 100.25 - - -']);
  }
  assert.throws(() => transformForOci(parseDumpfile('/ 0 40755 2 0 0 0 0.0 - - -\n/etc 0 40755 2 0 0 0 0.0 - - -\n')), /^FormatError: \/usr does not exist in the image$/);
  const runLink = parseDumpfile('/ 0 40755 2 0 0 0 0.0 - - -\n/run 3 120777 1 0 0 0 0.0 tmp - -\n/usr 0 40755 2 0 0 0 7.0 - - -\n');
  assert.throws(() => transformForOci(runLink), /^FormatError: \/run is not a directory$/);
  assert.equal(runLink.stat.mtimeSec, 0, 'nothing changed before the error');
});

test('transformForBoot: /boot and /sysroot emptied with /usr mtime seconds; no policy strips security.selinux', async () => {
  const root = parseDumpfile(BOOTABLE);
  await transformForBoot(root);
  assert.equal(
    dump(root),
    String.raw`/ 0 40755 7 0 0 0 0.0 - - -
/boot 0 40755 2 0 0 0 100.7 - - -
/etc 0 40755 2 0 0 0 0.0 - - -
/etc/hosts 1 100644 1 0 0 0 0.0 - h - user.a=1
/run 0 40755 3 0 0 0 9.9 - - -
/run/x 0 40755 2 0 0 0 9.9 - - -
/sysroot 0 40755 2 0 0 0 100.0 - - -
/usr 0 40711 2 3 4 0 100.25 - - - security.capability=caps trusted.x=1 user.u=1
`,
  );
  const noBoot = parseDumpfile('/ 0 40755 2 0 0 0 0.0 - - -\n/sysroot 0 40755 2 0 0 0 0.0 - - -\n/usr 0 40755 2 0 0 0 0.0 - - -\n');
  await assert.rejects(transformForBoot(noBoot), /^FormatError: \/boot does not exist in the image$/);
});

test('transformForBoot refuses an image with an SELinux policy, and reads large configs through readObject', async () => {
  const withPolicy = (config: string): Dir => parseDumpfile(`${BOOTABLE}/etc/selinux 0 40755 2 0 0 0 0.0 - - -\n/etc/selinux/config ${config.length} 100644 1 0 0 0 0.0 - ${config} -\n`);
  const root = withPolicy('SELINUXTYPE=targeted');
  const before = dump(root);
  await assert.rejects(transformForBoot(root), (e: unknown) => e instanceof TsbootcError && e.code === 'ERR_NOT_IMPLEMENTED' && /^SELinux relabeling not implemented: the image has an SELinux policy \(SELINUXTYPE=targeted\)/.test(e.message));
  assert.equal(dump(root), before, 'the tree is untouched');
  // /etc/selinux without a SELINUXTYPE line means no policy: labels are stripped.
  const none = withPolicy('SELINUX=disabled');
  await transformForBoot(none);
  assert.doesNotMatch(dump(none), /security\.selinux/);
  // A config stored as an external object.
  const ext = parseDumpfile(BOOTABLE);
  insertAt(ext, '/etc/selinux', newDir({ mode: 0o755 }));
  const text = Buffer.from('# This file controls the state of SELinux on the system.\nSELINUX=enforcing\n  selinuxtype = mls\r\n');
  insertAt(ext, '/etc/selinux/config', externalFile({ mode: 0o644 }, Buffer.alloc(32, 7), text.length));
  await assert.rejects(transformForBoot(ext), /needs readObject to read it/);
  const reads: string[] = [];
  await assert.rejects(
    transformForBoot(ext, { readObject: async (id) => (reads.push(id.toString('hex')), text) }),
    /SELINUXTYPE=mls/,
  );
  assert.deepEqual(reads, ['07'.repeat(32)]);
});

test('LayerMerger rollback restores stats, replaced entries, whiteouts and cleared dirs exactly', () => {
  const root = parseDumpfile(BOOTABLE);
  const before = dump(root);
  const hosts = lookup(root, '/etc/hosts') as Leaf;
  const m = new LayerMerger(root, 'sha256:x');
  const st = { mode: 0o700, uid: 9, gid: 9, mtimeSec: 1, mtimeNsec: 0, xattrs: new Map() };
  const entries: TarEntry[] = [
    { path: [], stat: st, item: { kind: 'dir' } },
    { path: ['etc'], stat: st, item: { kind: 'dir' } },
    { path: ['etc', 'hosts2'], stat: st, item: { kind: 'hardlink', target: ['etc', 'hosts'] } },
    { path: ['etc', '.wh.hosts'], stat: st, item: { kind: 'leaf', data: { type: 'reg', size: 0n, content: null, payload: null, digest: null } } },
    { path: ['boot', '.wh..wh..opq'], stat: st, item: { kind: 'dir' } },
    { path: ['run'], stat: st, item: { kind: 'leaf', data: { type: 'symlink', target: Buffer.from('/tmp') } } },
    { path: ['usr', 'new'], stat: st, item: { kind: 'dir' } },
  ];
  for (const e of entries) m.apply(e);
  assert.notEqual(dump(root), before);
  assert.equal(lookup(root, '/etc/hosts2'), hosts);
  m.rollback();
  assert.equal(dump(root), before);
  assert.equal(lookup(root, '/etc/hosts'), hosts);
});
