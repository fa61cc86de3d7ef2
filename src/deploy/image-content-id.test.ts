import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { packTar, writeOciLayout, type PackEntry as TarEntry } from '../composefs/oci/test-fixtures.js';
import { Repository } from '../composefs/repository/index.js';
import { openImageSource } from '../composefs/oci/source.js';
import { pullOciImage } from '../composefs/oci/store.js';
import { idForVersion } from '../composefs/oci/stored.js';
import { realRepoSyscalls } from '../sys/repo-syscalls.js';
import { libzstdCodec } from '../sys/zstd.js';
import { tempDirForTest } from '../testing/fake-runner.js';
import { extractImageEtc } from './etc-sync.js';
import { bootPayloadFromImage, findBootResource, listImageDir, lookupImagePath, openImageById, readImageFile, readImageKargs } from './image-content.js';

const BASE: TarEntry[] = [
  { name: 'boot', type: 'directory', mode: 0o755 },
  { name: 'sysroot', type: 'directory', mode: 0o755 },
  { name: 'etc', type: 'directory', mode: 0o755 },
  { name: 'etc/a', data: 'A', mode: 0o640, mtime: new Date(1000000 * 1000) },
  { name: 'etc/b', type: 'link', linkname: 'etc/a' },
  { name: 'etc/big', data: 'B'.repeat(9000) },
  { name: 'etc/l', type: 'symlink', linkname: 'a' },
  { name: 'usr', type: 'directory', mode: 0o755 },
  { name: 'usr/lib', type: 'directory', mode: 0o755 },
  { name: 'usr/lib/os-release', data: 'ID=y\n' },
  { name: 'usr/lib/bootc', type: 'directory', mode: 0o755 },
  { name: 'usr/lib/bootc/kargs.d', type: 'directory', mode: 0o755 },
  { name: 'usr/lib/bootc/kargs.d/10-a.toml', type: 'symlink', linkname: '../real.toml' },
  { name: 'usr/lib/bootc/kargs.d/20-b.txt', data: 'kargs = ["ignored"]\n' },
  { name: 'usr/lib/bootc/real.toml', data: 'kargs = ["a=1"]\n' },
  { name: 'usr/lib/modules', type: 'directory', mode: 0o755 },
];

/** Pulls `entries` and opens its OCI EROFS by id, as switch/upgrade do. */
async function byId(entries: TarEntry[]) {
  const d = tempDirForTest('tsbootc-image-by-id-');
  writeOciLayout(d, [await packTar(entries)], { tag: 't' });
  const { repo } = await Repository.init(path.join(d, 'repo'), { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true });
  const { store } = await openImageSource(`oci:${d}:t`);
  const r = await pullOciImage(repo, store, { bootable: true });
  const id = idForVersion(r.imageIds, repo.erofsVersion)!;
  return { d, repo, image: await openImageById(repo, id), id };
}

/** Matches the error under withContext's message. */
const cause = (re: RegExp) => (err: unknown) => re.test(String((err as { cause?: Error }).cause?.message));

const kernel = (kver: string): TarEntry[] => [
  { name: `usr/lib/modules/${kver}`, type: 'directory', mode: 0o755 },
  { name: `usr/lib/modules/${kver}/vmlinuz`, data: `K${kver}` },
  { name: `usr/lib/modules/${kver}/initramfs.img`, data: `I${kver}` },
];

test('openImageById: paths with and without the last symlink, listing, kargs.d (*.toml, symlinks followed), Type1 payload', async () => {
  const { repo, image, id } = await byId([...BASE, ...kernel('6.1')]);
  try {
    assert.equal(image.name, id);
    assert.deepEqual(listImageDir(image, '/etc'), ['a', 'b', 'big', 'l']);
    assert.equal((await readImageFile(image, '/etc/big'))?.toString(), 'B'.repeat(9000));
    assert.deepEqual(listImageDir(image, '/etc/a'), []);
    assert.deepEqual(listImageDir(image, '/nope'), []);
    const l = lookupImagePath(image.tree, '/etc/l', false);
    assert.ok(l?.kind === 'leaf' && l.data.type === 'symlink');
    assert.ok(lookupImagePath(image.tree, '/etc/l')?.kind === 'leaf');
    assert.equal((await readImageFile(image, '/usr/../etc/l'))?.toString(), 'A');
    assert.equal(await readImageFile(image, '/etc'), undefined);
    assert.deepEqual(await readImageKargs(image, 'x86_64'), ['a=1']);
    assert.deepEqual(await bootPayloadFromImage(image, 'rw'), { kind: 'type1', vmlinuz: Buffer.from('K6.1'), initrd: Buffer.from('I6.1'), osRelease: 'ID=y\n', options: 'rw' });
  } finally {
    repo.close();
  }
});

test('bootPayloadFromImage: the UKI of /boot/EFI/Linux wins; several kernels or none are refused', async () => {
  const uki: TarEntry[] = [
    { name: 'boot/EFI', type: 'directory', mode: 0o755 },
    { name: 'boot/EFI/Linux', type: 'directory', mode: 0o755 },
    { name: 'boot/EFI/Linux/notes.txt', data: 'x' },
    { name: 'boot/EFI/Linux/os.efi', data: 'UKI' },
  ];
  const a = await byId([...BASE, ...uki, ...kernel('6.1')]);
  try {
    assert.deepEqual(findBootResource(a.image).kind, 'uki');
    assert.deepEqual(await bootPayloadFromImage(a.image, 'rw'), { kind: 'uki', uki: Buffer.from('UKI') });
  } finally {
    a.repo.close();
  }
  const b = await byId([...BASE, ...kernel('6.1'), ...kernel('6.2')]);
  try {
    await assert.rejects(bootPayloadFromImage(b.image, ''), cause(/^Multiple kernels found in \/usr\/lib\/modules: 6\.1, 6\.2$/));
  } finally {
    b.repo.close();
  }
  const c = await byId(BASE);
  try {
    await assert.rejects(bootPayloadFromImage(c.image, ''), cause(/^image [0-9a-f]+ has no kernel: looked for \/boot\/EFI\/Linux\/\*\.efi/));
  } finally {
    c.repo.close();
  }
});

test('extractImageEtc copies /etc like cp -a (modes, mtimes, symlinks, hardlinks); no /etc gives an empty dir', async () => {
  const { d, repo, image } = await byId([...BASE, ...kernel('6.1')]);
  try {
    const dest = path.join(d, 'work', 'etc');
    await extractImageEtc(image, dest, false);
    assert.deepEqual(readdirSync(dest), ['a', 'b', 'big', 'l']);
    assert.equal(readFileSync(path.join(dest, 'big'), 'utf8'), 'B'.repeat(9000));
    assert.equal(readFileSync(path.join(dest, 'a'), 'utf8'), 'A');
    assert.equal(lstatSync(path.join(dest, 'a')).mode & 0o777, 0o640);
    assert.equal(lstatSync(path.join(dest, 'a')).mtimeMs, 1000000 * 1000);
    assert.equal(lstatSync(path.join(dest, 'b')).ino, lstatSync(path.join(dest, 'a')).ino);
    assert.equal(readlinkSync(path.join(dest, 'l')), 'a');
  } finally {
    repo.close();
  }
  const e = await byId(BASE.filter((x) => !x.name.startsWith('etc')));
  try {
    const dest = path.join(e.d, 'empty-etc');
    await extractImageEtc(e.image, dest, false);
    assert.ok(statSync(dest).isDirectory());
    assert.deepEqual(readdirSync(dest), []);
  } finally {
    e.repo.close();
  }
});
