import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { packTar, writeOciLayout } from '../composefs/oci/test-fixtures.js';
import { Repository } from '../composefs/repository/index.js';
import { openImageSource } from '../composefs/oci/source.js';
import { pullOciImage } from '../composefs/oci/store.js';
import { realRepoSyscalls } from '../sys/repo-syscalls.js';
import { libzstdCodec } from '../sys/zstd.js';
import { Root } from '../sys/root.js';
import { tempDirForTest } from '../testing/fake-runner.js';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { copyImageTree, findBootResource, lookupImagePath, openImageContent, readBootPayload, readImageFile, readImageKargs, readImageOsRelease } from './image-content.js';

async function pulled() {
  const d = tempDirForTest('tsbootc-image-content-');
  const tar = await packTar([
    { name: 'boot', type: 'directory', mode: 0o755 },
    { name: 'boot/junk', data: 'emptied by the boot transform' },
    { name: 'etc', type: 'directory', mode: 0o755 },
    { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    { name: 'etc/shadow', data: 'root:*:1::::::\n', mode: 0o600, uid: 0, gid: 42 },
    { name: 'etc/hard', type: 'link', linkname: 'etc/shadow' },
    { name: 'sysroot', type: 'directory', mode: 0o755 },
    { name: 'usr', type: 'directory', mode: 0o755 },
    { name: 'usr/lib', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/os-release', data: 'ID=x\n' },
    { name: 'usr/lib/bootc', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/bootc/kargs.d', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/bootc/kargs.d/20-b.toml', data: 'kargs = ["b=2"]\n' },
    { name: 'usr/lib/bootc/kargs.d/10-a.toml', data: 'kargs = ["a=1", "arm"]\nmatch-architectures = ["aarch64"]\n' },
    { name: 'usr/lib/bootc/kargs.d/11-a.toml', data: 'kargs = ["a=1"]\n' },
    { name: 'usr/lib/modules', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/modules/5.0', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/modules/6.0', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/modules/6.0/vmlinuz', data: 'V'.repeat(300) },
    { name: 'usr/lib/modules/6.0/initramfs.img', data: 'tiny' },
  ]);
  writeOciLayout(d, [tar], { tag: 't' });
  const { repo } = await Repository.init(path.join(d, 'repo'), { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true });
  const { store } = await openImageSource(`oci:${d}:t`);
  const r = await pullOciImage(repo, store, { bootable: true });
  return { d, repo, content: await openImageContent(repo, r.manifestDigest) };
}

test('image content: boot resource, os-release through a symlink, kargs.d by name and arch, the boot view', async () => {
  const { repo, content } = await pulled();
  try {
    const boot = findBootResource(content);
    assert.equal(boot.kind, 'type1');
    if (boot.kind !== 'type1') return;
    assert.equal(boot.kernelVersion, '6.0');
    assert.deepEqual(await readBootPayload(content, boot), { vmlinuz: Buffer.from('V'.repeat(300)), initrd: Buffer.from('tiny') });
    assert.equal((await readImageFile(content, '/etc/os-release'))?.toString(), 'ID=x\n');
    assert.equal(await readImageOsRelease(content), 'ID=x\n');
    assert.equal(await readImageFile(content, '/etc/nope'), undefined);
    assert.deepEqual(await readImageKargs(content, 'x86_64'), ['a=1', 'b=2']);
    assert.deepEqual(await readImageKargs(content, 'aarch64'), ['a=1', 'arm', 'b=2']);
    assert.equal(lookupImagePath(content.tree, '/boot/junk'), undefined);
  } finally {
    repo.close();
  }
});

test('copyImageTree copies like cp -a: modes, symlinks, hardlinks; without owners it reports them', async () => {
  const { d, repo, content } = await pulled();
  try {
    const owners: string[] = [];
    const dest = new Root(path.join(d, 'out'));
    const stats = await copyImageTree(content, '/etc', dest, 'state/etc', { owners: false, onOwner: (p, u, g) => owners.push(`${path.relative(dest.prefix, p)} ${u}:${g}`) });
    assert.deepEqual(stats, { files: 1, dirs: 1, symlinks: 1, hardlinks: 1, skipped: 0, found: true });
    const etc = dest.resolve('state/etc');
    assert.deepEqual(readdirSync(etc), ['hard', 'os-release', 'shadow']);
    assert.equal(readlinkSync(path.join(etc, 'os-release')), '../usr/lib/os-release');
    assert.equal(lstatSync(path.join(etc, 'shadow')).mode & 0o777, 0o600);
    assert.equal(lstatSync(path.join(etc, 'hard')).ino, lstatSync(path.join(etc, 'shadow')).ino);
    assert.equal(readFileSync(path.join(etc, 'shadow'), 'utf8'), 'root:*:1::::::\n');
    assert.deepEqual(owners.sort(), ['state/etc 0:0', 'state/etc/hard 0:42', 'state/etc/os-release 0:0', 'state/etc/shadow 0:42']);
    assert.deepEqual(await copyImageTree(content, '/nonexistent', dest, 'x', { owners: false }), { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0, found: false });
  } finally {
    repo.close();
  }
});
