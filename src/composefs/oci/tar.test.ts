import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { packTar, rawEntry, paxEntry, gnuLongEntry, TAR_END, chunked, sha256 } from './test-fixtures.js';
import { fsverityDigest } from '../fsverity.js';
import { printDumpfile } from '../dumpfile.js';
import { newDir, type Dir } from '../tree.js';
import { MemoryObjectSink, MemorySplitSink } from './sink.js';
import { parsePaxRecords, readTarLayer, TAR_METADATA_MAX, type TarEntry } from './tar.js';
import { importLayerTar } from './import.js';
import { transformForOci } from './merge.js';

/** A v2 security.capability value (cap_net_raw) and a value that is not UTF-8. */
const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const BIN = Buffer.from([0x01, 0x80, 0xff, 0x00, 0x0a, 0x3d]);

/** Layer 1: the base, from tar-stream's packer plus hand-made blocks. */
async function layer1(): Promise<Buffer> {
  const packed = await packTar([
    { name: './', type: 'directory', mode: 0o755, mtime: new Date(1000e3) },
    { name: 'usr/', type: 'directory', mode: 0o755, mtime: new Date(1700000000e3) },
    { name: 'usr/bin/', type: 'directory', mode: 0o755 },
    { name: 'usr/bin/su', mode: 0o4755, uid: 0, gid: 0, data: 'S'.repeat(100) },
    { name: 'usr/bin/tool', mode: 0o755, data: 'hi\n', pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.security.selinux': 'system_u:object_r:bin_t:s0', mtime: '1700000000.123' } },
    { name: 'usr/bin/su-link', type: 'link', linkname: 'usr/bin/su' },
    { name: 'usr/bin/sh', type: 'symlink', linkname: '../../bin/busybox' },
    { name: 'usr/lib/', type: 'directory', mode: 0o755, uid: 1, gid: 2 },
    { name: 'usr/lib/data', mode: 0o644, data: 'D'.repeat(4097) },
    { name: 'usr/lib/small', mode: 0o600, uid: 1000, gid: 1000, data: 'x'.repeat(64) },
    { name: 'usr/lib/empty', mode: 0o644 },
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/old', data: 'old' },
    { name: 'etc/keep', data: 'keep' },
    { name: 'etc/sub/', type: 'directory' },
    { name: 'etc/sub/a', data: 'a' },
    { name: 'etc/sub/deep/', type: 'directory' },
    { name: 'etc/swap/', type: 'directory' },
    { name: 'etc/swap/x', data: 'x' },
    { name: 'dev/', type: 'directory' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'dev/initctl', type: 'fifo', mode: 0o600 },
    { name: 'run/', type: 'directory' },
    { name: 'run/lock', data: 'L' },
  ]);
  const longName = 'usr/lib/' + 'n'.repeat(150);
  const raw = Buffer.concat([
    paxEntry([['SCHILY.xattr.security.capability', CAP], ['SCHILY.xattr.user.bin', BIN], ['LIBARCHIVE.xattr.user.ignored', 'aGk=']]),
    rawEntry({ name: 'usr/bin/ping', mode: 0o755, mtime: 5, data: 'P'.repeat(65) }),
    gnuLongEntry('L', longName),
    rawEntry({ name: longName.slice(0, 99), mode: 0o644, data: 'long' }),
    rawEntry({ name: '/usr/lib/abs', mode: 0o644, data: 'absolute paths are rooted' }),
    rawEntry({ name: Buffer.from([0x75, 0x73, 0x72, 0x2f, 0xe9, 0xff]), data: 'latin1' }),
    TAR_END,
  ]);
  return Buffer.concat([packed.subarray(0, packed.length - 1024), raw]);
}

/** Layer 2: whiteouts, opaque dir, replacements, hardlinks to layer-1 files. */
function layer2(): Promise<Buffer> {
  return packTar([
    { name: 'etc/.wh.old', mode: 0 },
    { name: 'etc/.wh.missing', mode: 0 },
    { name: 'etc/sub/b', data: 'b before opq' },
    { name: 'etc/sub/.wh..wh..opq', mode: 0 },
    { name: 'etc/sub/c', data: 'c' },
    { name: 'usr/lib/', type: 'directory', mode: 0o700, uid: 5, gid: 5, mtime: new Date(2000e3) },
    { name: 'usr/lib/data', mode: 0o644, data: 'new data' },
    { name: 'usr/lib/data-link', type: 'link', linkname: '/usr/lib/small' },
    { name: 'etc/swap', data: 'a file replaces the directory' },
    { name: 'etc/keep', type: 'directory', mode: 0o750 },
    { name: 'usr/bin/sh', type: 'symlink', linkname: 'busybox' },
  ]);
}

async function importAll(root: Dir, sink: MemoryObjectSink, chunk = 4096): Promise<void> {
  await importLayerTar(root, chunked(await layer1(), chunk), { layer: 'sha256:l1', algorithm: 'sha256', sink });
  await importLayerTar(root, chunked(await layer2(), chunk), { layer: 'sha256:l2', algorithm: 'sha256', sink });
}

const GOLDEN_MERGED = String.raw`/ 0 40755 6 0 0 0 1000.0 - - -
/dev 0 40755 2 0 0 0 0.0 - - -
/dev/initctl 0 10600 1 0 0 0 0.0 - - -
/dev/null 0 20666 1 0 0 259 0.0 - - -
/dev/sda 0 60660 1 0 6 2048 0.0 - - -
/etc 0 40755 4 0 0 0 0.0 - - -
/etc/keep 0 40750 2 0 0 0 0.0 - - -
/etc/sub 0 40755 2 0 0 0 0.0 - - -
/etc/sub/c 1 100644 1 0 0 0 0.0 - c -
/etc/swap 29 100644 1 0 0 0 0.0 - a\x20file\x20replaces\x20the\x20directory -
/run 0 40755 2 0 0 0 0.0 - - -
/run/lock 1 100644 1 0 0 0 0.0 - L -
/usr 0 40755 4 0 0 0 1700000000.0 - - -
/usr/bin 0 40755 2 0 0 0 0.0 - - -
/usr/bin/ping 65 100755 1 0 0 0 5.0 d2/3a38dd562f6686e14af2fd9b8a8ec68c7ead55bc6752f5ddb43c758ba28da0 - d23a38dd562f6686e14af2fd9b8a8ec68c7ead55bc6752f5ddb43c758ba28da0 security.capability=\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00 user.bin=\x01\x80\xff\x00\n\x3d
/usr/bin/sh 7 120644 1 0 0 0 0.0 busybox - -
/usr/bin/su 100 104755 2 0 0 0 0.0 53/40d3db1eeca963036ece90d1e2e6b545f6ec1bf1ca820b1e4495675f3ee4e4 - 5340d3db1eeca963036ece90d1e2e6b545f6ec1bf1ca820b1e4495675f3ee4e4
/usr/bin/su-link 0 @120000 - - - - 0.0 /usr/bin/su - -
/usr/bin/tool 3 100755 1 0 0 0 1700000000.123000000 - hi\n - security.selinux=system_u:object_r:bin_t:s0 user.note=hello
/usr/lib 0 40700 2 5 5 0 2000.0 - - -
/usr/lib/abs 25 100644 1 0 0 0 0.0 - absolute\x20paths\x20are\x20rooted -
/usr/lib/data 8 100644 1 0 0 0 0.0 - new\x20data -
/usr/lib/data-link 64 100600 2 1000 1000 0 0.0 - xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -
/usr/lib/empty 0 100644 1 0 0 0 0.0 - - -
/usr/lib/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn 4 100644 1 0 0 0 0.0 - long -
/usr/lib/small 0 @120000 - - - - 0.0 /usr/lib/data-link - -
/usr/\xe9\xff 6 100644 1 0 0 0 0.0 - latin1 -
`;

test('two layers merge into the expected tree (whiteouts, opaque dir, hardlinks, symlinks, xattrs, setuid)', async () => {
  const root = newDir();
  const sink = new MemoryObjectSink();
  await importAll(root, sink);
  assert.equal(printDumpfile(root).toString('latin1'), GOLDEN_MERGED);
  assert.equal(sink.open, 0);
  // External objects are stored under their fs-verity digest.
  for (const [hex, data] of sink.objects) assert.equal(fsverityDigest(data, 'sha256').toString('hex'), hex);
  assert.deepEqual([...sink.objects.values()].map((b) => b.length).sort((a, b) => a - b), [65, 100, 4097]);
});

const GOLDEN_OCI = String.raw`/ 0 40755 6 0 0 0 1700000000.0 - - -
/dev 0 40755 2 0 0 0 0.0 - - -
/dev/initctl 0 10600 1 0 0 0 0.0 - - -
/dev/null 0 20666 1 0 0 259 0.0 - - -
/dev/sda 0 60660 1 0 6 2048 0.0 - - -
/etc 0 40755 4 0 0 0 0.0 - - -
/etc/keep 0 40750 2 0 0 0 0.0 - - -
/etc/sub 0 40755 2 0 0 0 0.0 - - -
/etc/sub/c 1 100644 1 0 0 0 0.0 - c -
/etc/swap 29 100644 1 0 0 0 0.0 - a\x20file\x20replaces\x20the\x20directory -
/run 0 40755 2 0 0 0 1700000000.0 - - -
/usr 0 40755 4 0 0 0 1700000000.0 - - -
/usr/bin 0 40755 2 0 0 0 0.0 - - -
/usr/bin/ping 65 100755 1 0 0 0 5.0 d2/3a38dd562f6686e14af2fd9b8a8ec68c7ead55bc6752f5ddb43c758ba28da0 - d23a38dd562f6686e14af2fd9b8a8ec68c7ead55bc6752f5ddb43c758ba28da0 security.capability=\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00
/usr/bin/sh 7 120644 1 0 0 0 0.0 busybox - -
/usr/bin/su 100 104755 2 0 0 0 0.0 53/40d3db1eeca963036ece90d1e2e6b545f6ec1bf1ca820b1e4495675f3ee4e4 - 5340d3db1eeca963036ece90d1e2e6b545f6ec1bf1ca820b1e4495675f3ee4e4
/usr/bin/su-link 0 @120000 - - - - 0.0 /usr/bin/su - -
/usr/bin/tool 3 100755 1 0 0 0 1700000000.123000000 - hi\n -
/usr/lib 0 40700 2 5 5 0 2000.0 - - -
/usr/lib/abs 25 100644 1 0 0 0 0.0 - absolute\x20paths\x20are\x20rooted -
/usr/lib/data 8 100644 1 0 0 0 0.0 - new\x20data -
/usr/lib/data-link 64 100600 2 1000 1000 0 0.0 - xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -
/usr/lib/empty 0 100644 1 0 0 0 0.0 - - -
/usr/lib/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn 4 100644 1 0 0 0 0.0 - long -
/usr/lib/small 0 @120000 - - - - 0.0 /usr/lib/data-link - -
/usr/\xe9\xff 6 100644 1 0 0 0 0.0 - latin1 -
`;

test('transformForOci copies /usr to the root, empties /run and keeps only security.capability', async () => {
  const root = newDir();
  await importAll(root, new MemoryObjectSink());
  transformForOci(root);
  assert.equal(printDumpfile(root).toString('latin1'), GOLDEN_OCI);
});

test('the tree does not depend on how the input is chunked', async () => {
  const want = newDir();
  await importAll(want, new MemoryObjectSink(), 1 << 20);
  for (const chunk of [1, 7, 511, 513]) {
    const root = newDir();
    await importAll(root, new MemoryObjectSink(), chunk);
    assert.equal(printDumpfile(root).toString('latin1'), printDumpfile(want).toString('latin1'), `chunk ${chunk}`);
  }
});

test('the split sink reproduces the tar: inline headers/padding, external content over 64 bytes', async () => {
  const tar = await layer1();
  for (const chunk of [3, 512, 100000]) {
    const sink = new MemoryObjectSink();
    const split = new MemorySplitSink();
    const res = await readTarLayer(chunked(tar, chunk), { layer: 'l1', algorithm: 'sha256', sink, split }, () => undefined);
    assert.equal(res.diffId, sha256(tar));
    assert.equal(res.size, tar.length);
    assert.ok(split.reassemble(sink).equals(tar), `chunk ${chunk}`);
    assert.deepEqual(split.chunks.filter((c) => 'id' in c).map((c) => ('id' in c ? c.size : 0n)), [100n, 4097n, 65n]);
    for (const c of split.chunks) if ('id' in c) assert.ok(sink.get(c.id) !== undefined);
  }
});

test('PAX records keep byte values; mtime fractions are truncated or padded to 9 digits', () => {
  const rec = (k: string, v: string | Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
    const len = body.length + String(body.length + 2).length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  };
  const p = parsePaxRecords(Buffer.concat([rec('path', Buffer.from([0x61, 0xff])), rec('SCHILY.xattr.user.x', BIN), rec('uid', '4294967295'), rec('mtime', '12.5')]));
  assert.deepEqual([p.path, p.uid, p.mtimeSec, p.mtimeNsec, p.xattrs.get('user.x')], ['a\xff', 4294967295, 12, 500000000, BIN]);
  const frac = (v: string): number => parsePaxRecords(rec('mtime', v)).mtimeNsec;
  assert.deepEqual(['1.1234567899', '1.000000001', '1', '1.', '1.x'].map(frac), [123456789, 1, 0, 0, 0]);
  assert.throws(() => parsePaxRecords(Buffer.from('99 path=x\n')), /malformed PAX record at byte 0/);
  assert.throws(() => parsePaxRecords(rec('uid', '-1')), /invalid PAX uid value -1/);
});

async function rejects(tars: Buffer[], pattern: RegExp): Promise<void> {
  const root = newDir();
  await importLayerTar(root, chunked(await packTar([{ name: 'usr/', type: 'directory', mode: 0o755 }, { name: 'usr/f', data: 'f' }]), 512), { layer: 'sha256:base', algorithm: 'sha256', sink: new MemoryObjectSink() });
  const before = printDumpfile(root).toString('latin1');
  const sink = new MemoryObjectSink();
  for (const tar of tars) {
    await assert.rejects(importLayerTar(root, chunked(tar, 1000), { layer: 'sha256:bad', algorithm: 'sha256', sink }), pattern);
    assert.equal(printDumpfile(root).toString('latin1'), before, 'the failed layer left nothing behind');
    assert.equal(sink.open, 0);
  }
}

const prefix = (...e: Buffer[]): Buffer => Buffer.concat([rawEntry({ name: 'usr/new1', data: 'changes before the failure' }), rawEntry({ name: 'usr/.wh.f' }), ...e, TAR_END]);

test('bad entries fail with the layer digest and entry path, and roll the layer back', async () => {
  await rejects([prefix(rawEntry({ name: 'usr/../../etc/passwd', data: 'x' }))], /^FormatError: layer sha256:bad: entry usr\/\.\.\/\.\.\/etc\/passwd: path usr\/\.\.\/\.\.\/etc\/passwd contains "\.\." \(escapes the root\)$/);
  await rejects([prefix(rawEntry({ name: '/../x', data: 'x' }))], /layer sha256:bad: entry \/\.\.\/x: path \/\.\.\/x contains "\.\."/);
  await rejects([prefix(rawEntry({ name: 'usr/h', type: '1', linkname: '../etc/shadow' }))], /layer sha256:bad: entry usr\/h: hardlink target \.\.\/etc\/shadow contains "\.\."/);
  await rejects([prefix(rawEntry({ name: 'opt/x', data: 'x' }))], /^FormatError: layer sha256:bad: entry \/opt\/x: parent directory \/opt does not exist$/);
  await rejects([prefix(rawEntry({ name: 'usr/new1/x', data: 'x' }))], /layer sha256:bad: entry \/usr\/new1\/x: parent \/usr\/new1 is not a directory/);
  await rejects([prefix(rawEntry({ name: 'usr/h', type: '1', linkname: 'usr/nope' }))], /^FormatError: layer sha256:bad: entry \/usr\/h: hardlink target \/usr\/nope does not exist$/);
  await rejects([prefix(rawEntry({ name: 'usr/h', type: '1', linkname: 'usr/f' }))], /hardlink target \/usr\/f does not exist/); // whited out earlier in the layer
  await rejects([prefix(rawEntry({ name: 'usr/h', type: '1', linkname: 'usr' }))], /layer sha256:bad: entry \/usr\/h: hardlink target \/usr is a directory/);
  await rejects([prefix(rawEntry({ name: './', type: '0', data: 'x' }))], /layer sha256:bad: entry \.\/: the root entry must be a directory/);
  await rejects([prefix(rawEntry({ name: 'usr/sparse', type: 'S', data: 'x' }))], /layer sha256:bad: entry usr\/sparse: unsupported tar entry type unknown/);
});

test('truncated tars, corrupt headers and oversized PAX headers are rejected', async () => {
  const good = prefix(rawEntry({ name: 'usr/big', data: 'B'.repeat(5000) }));
  await rejects([good.subarray(0, 2048 + 512 + 1000)], /^FormatError: layer sha256:bad: entry usr\/big: truncated tar stream/);
  await rejects([good.subarray(0, 1024 + 300)], /^FormatError: layer sha256:bad: truncated tar stream \(unexpected end of data\)$/);
  const corrupt = Buffer.from(good);
  corrupt[1024 + 10] = 0x7f;
  await rejects([corrupt], /layer sha256:bad: Invalid tar header/);
  const huge = paxEntry([['comment', 'c'.repeat(TAR_METADATA_MAX)]]);
  await rejects([prefix(huge, rawEntry({ name: 'usr/x', data: 'x' }))], /^FormatError: layer sha256:bad: pax-header record of 1048593 bytes exceeds the 1048576-byte limit$/);
});

test('PAX global headers and LIBARCHIVE.xattr records are ignored, as tar-core does', async () => {
  const tar = Buffer.concat([rawEntry({ name: 'pax_global_header', type: 'g', data: '19 path=elsewhere\n' }), paxEntry([['LIBARCHIVE.xattr.user.a', 'Yg==']]), rawEntry({ name: 'f', data: 'x', mtime: 7 }), TAR_END]);
  const seen: TarEntry[] = [];
  await readTarLayer(chunked(tar, 100), { layer: 'l', algorithm: 'sha256', sink: new MemoryObjectSink() }, (e) => void seen.push(e));
  assert.deepEqual(seen.map((e) => [e.path, e.stat.mtimeSec, [...e.stat.xattrs.keys()]]), [[['f'], 7, []]]);
});

test('hardlinks may name any earlier non-directory (here a symlink with a GNU long link target)', async () => {
  const target = 'usr/' + 't'.repeat(200);
  const tar = Buffer.concat([
    rawEntry({ name: 'usr/', type: '5', mode: 0o755 }),
    gnuLongEntry('K', target),
    rawEntry({ name: 'usr/sym', type: '2', mode: 0o777, linkname: target.slice(0, 99) }),
    rawEntry({ name: 'usr/sym2', type: '1', linkname: 'usr/sym' }),
    TAR_END,
  ]);
  const root = newDir();
  await importLayerTar(root, chunked(tar, 512), { layer: 'l', algorithm: 'sha256', sink: new MemoryObjectSink() });
  assert.equal(printDumpfile(root).toString('latin1'), `/ 0 40000 3 0 0 0 0.0 - - -\n/usr 0 40755 2 0 0 0 0.0 - - -\n/usr/sym 204 120777 2 0 0 0 0.0 ${target} - -\n/usr/sym2 0 @120000 - - - - 0.0 /usr/sym - -\n`);
});

test('a tar without end blocks: every entry is handled before readTarLayer returns (issue #10, re-pull after a crash)', async () => {
  // umoci's layers end right after the last file's 512 data bytes; tar-stream
  // then finishes while the last entry's (async) handler is still running.
  const tar = Buffer.concat([rawEntry({ name: 'a', mode: 0o644, data: 'A'.repeat(66) }), rawEntry({ name: 'z', mode: 0o644, data: 'Z'.repeat(512) })]);
  for (const chunk of [512, 100000]) {
    const seen: string[] = [];
    await readTarLayer(chunked(tar, chunk), { layer: 'l', algorithm: 'sha256', sink: new MemoryObjectSink() }, async (e) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(Buffer.from(e.path[0]!).toString('latin1'));
    });
    assert.deepEqual(seen, ['a', 'z'], `chunk ${chunk}`);
  }
});

test('an archive that ends inside an entry the handler has not started reading fails with that entry, never silently', async () => {
  // The sink opens its writer slowly, so tar-stream reaches the end of the
  // input (and fails the entry stream) before the entry's data is read.
  class SlowSink extends MemoryObjectSink {
    override begin(size: bigint) {
      const w = super.begin(size);
      return new Promise<typeof w>((resolve) => setTimeout(() => resolve(w), 50)) as unknown as typeof w;
    }
  }
  const good = prefix(rawEntry({ name: 'usr/big', data: 'B'.repeat(5000) }));
  const sink = new SlowSink();
  const root = newDir();
  await importLayerTar(root, chunked(await packTar([{ name: 'usr/', type: 'directory', mode: 0o755 }]), 512), { layer: 'sha256:base', algorithm: 'sha256', sink });
  await assert.rejects(
    importLayerTar(root, chunked(good.subarray(0, 2048 + 512 + 1000), 1 << 20), { layer: 'sha256:bad', algorithm: 'sha256', sink }),
    /^FormatError: layer sha256:bad: entry usr\/big: truncated tar stream \(unexpected end of data\)$/,
  );
  assert.equal(sink.open, 0);
});
