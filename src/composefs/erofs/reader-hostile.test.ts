import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { FormatError } from '../../util/errors.js';
import { collectObjects, readErofs } from './reader.js';
import { formatInfoDump, formatInfoLs } from './info.js';
import { decodeImage } from './image-walk.js';
import { writeErofs } from './writer.js';
import { parseDumpfile } from '../dumpfile.js';
import { cMkcomposefs, conformanceCases, cToolsMissing } from './test-images.js';

const skip = cToolsMissing();

const BASE_DUMP =
  '/ 4096 40755 3 0 0 0 1.0 - - - user.shared=v\n' +
  '/a 4 100644 2 0 0 0 1.0 - abcd - user.shared=v\n' +
  '/b 9000 100644 1 0 0 0 1.0 12/3456 - - user.shared=v user.own=1\n' +
  '/link 7 120777 1 0 0 0 1.0 /target - - user.shared=v\n' +
  '/sub 4096 40755 2 0 0 0 2.0 - - - user.shared=v\n' +
  '/sub/c 0 100644 1 0 0 0 1.0 - - -\n' +
  '/sub/hard 4 @100644 - - - - 0.0 /a - -\n' +
  '/sub/wh 0 20000 1 0 0 0 1.0 - - -\n';

function baseImage(): Buffer {
  return readFileSync(cMkcomposefs('hostile-base', Buffer.from(BASE_DUMP)));
}

/** Offset of the inode reached by `path` and of its dirent (the nid field) in the parent. */
function locate(image: Buffer, path: string): { nid: number; inode: number; dirent: number } {
  const img = decodeImage(image);
  let dirNid = img.rootNid;
  let found = { nid: dirNid, inode: img.inodes.get(dirNid)!.offset, dirent: -1 };
  for (const name of path.split('/').filter((c) => c !== '')) {
    const dir = img.inodes.get(dirNid)!;
    const e = img.dirs.get(dirNid)!.find((x) => x.name === name)!;
    // Find the dirent bytes: scan the dir's data (its tail or its first block) for the nid + name offset.
    const starts = [dir.inlineOffset, dir.rawU * 4096];
    let at = -1;
    for (const s of starts) {
      for (let i = 0; i < 4096 && at < 0; i += 12) {
        if (s + i + 12 > image.length) break;
        const nameOff = image.readUInt16LE(s + i + 8);
        if (image.readBigUInt64LE(s + i) === BigInt(e.nid) && image.toString('latin1', s + nameOff, s + nameOff + name.length) === name) at = s + i;
      }
      if (at >= 0) break;
    }
    found = { nid: e.nid, inode: img.inodes.get(e.nid)!.offset, dirent: at };
    dirNid = e.nid;
  }
  return found;
}

function corrupt(image: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(image);
  edit(b);
  return b;
}

type Reader = (image: Buffer) => unknown;
const ALL_READERS: Reader[] = [readErofs, collectObjects, formatInfoDump];

function assertFormatError(image: Buffer, message: string, readers: readonly Reader[] = ALL_READERS): void {
  for (const fn of readers) {
    assert.throws(() => fn(image), (err: unknown) => {
      assert.ok(err instanceof FormatError, `${fn.name}: not a FormatError: ${String(err)}`);
      assert.equal(err.message, message, fn.name);
      return true;
    });
  }
}

test('hand-corrupted images fail with a FormatError naming what and where', { skip }, () => {
  const image = baseImage();
  const root = locate(image, '/');
  const sub = locate(image, '/sub');
  const a = locate(image, '/a');
  const link = locate(image, '/link');
  const b = locate(image, '/b');
  const decoded = decodeImage(image);
  // The first xattr entry of /b: after the inode header, the 12-byte xattr header and one shared ref.
  const bIno = decoded.inodes.get(b.nid)!;
  const bx = b.inode + (bIno.extended ? 64 : 32) + 4;
  const bxEnd = bIno.inlineOffset;
  const subIno = decoded.inodes.get(sub.nid)!;
  const subChunk = subIno.layout === 2 ? subIno.inlineOffset : subIno.rawU * 4096;
  const chunkStart = (dirNid: number, direntOff: number): number => {
    const d = decoded.inodes.get(dirNid)!;
    return d.layout === 2 && direntOff >= d.inlineOffset ? d.inlineOffset : direntOff - (direntOff % 4096);
  };
  const cases: Array<[string, Buffer, string, Reader[]?]> = [
    ['empty', Buffer.alloc(0), 'EROFS image: 0 bytes is too small (at least 4096 expected)'],
    ['composefs magic', corrupt(image, (x) => x.writeUInt32LE(0x12345678, 0)), 'EROFS image: bad composefs magic 0x12345678 at offset 0 (expected 0xd078629a)'],
    ['header version', corrupt(image, (x) => x.writeUInt32LE(7, 4)), 'EROFS image: unsupported composefs header version 7 at offset 4'],
    ['erofs magic', corrupt(image, (x) => x.writeUInt32LE(0, 1024)), 'EROFS image: bad EROFS magic 0x0 at offset 1024 (expected 0xe0f5e1e2)'],
    ['block size', corrupt(image, (x) => x.writeUInt8(9, 1036)), 'EROFS image: unsupported block size bits 9 at offset 1036 (only 12 is supported)'],
    ['xattr_blkaddr', corrupt(image, (x) => x.writeUInt32LE(99, 1024 + 44)), 'EROFS image: xattr_blkaddr 99 at offset 1068 is past the end of the image'],
    ['root nid past the end', corrupt(image, (x) => x.writeUInt16LE(0xffff, 1024 + 14)), `EROFS image: inode is past the end of the image (nid 65535, offset ${65535 * 32})`],
    ['root not a dir', corrupt(image, (x) => x.writeUInt16LE(a.nid, 1024 + 14)), `EROFS image: the root inode (nid ${a.nid}) is not a directory (mode 0100644)`],
    ['truncated', image.subarray(0, 12288), `EROFS image: directory data blocks at block ${decodeImage(image).inodes.get(root.nid)!.rawU} (nid ${root.nid}) at offset ${decodeImage(image).inodes.get(root.nid)!.rawU * 4096} (4096 bytes) is past the end of the 12288-byte image`],
    ['directory cycle', corrupt(image, (x) => x.writeBigUInt64LE(BigInt(root.nid), locate(image, '/sub/c').dirent)), `EROFS image: directory nid ${root.nid} is reached twice, from nid ${sub.nid} (a directory cycle or a hardlinked directory)`],
    ['hardlinked dir', corrupt(image, (x) => x.writeBigUInt64LE(BigInt(sub.nid), a.dirent)), `EROFS image: directory nid ${sub.nid} is reached twice, from nid ${root.nid} (a directory cycle or a hardlinked directory)`],
    ['absurd dir size', corrupt(image, (x) => x.writeUInt32LE(0xfffffff0, sub.inode + 8)), `EROFS image: directory size 4294967280 is larger than the image (nid ${sub.nid}, offset ${sub.inode})`],
    ['absurd nid', corrupt(image, (x) => x.writeBigUInt64LE(1n << 60n, a.dirent)), `EROFS image: dirent ${(a.dirent - chunkStart(root.nid, a.dirent)) / 12} has an absurd nid 1152921504606846976 (nid ${root.nid}, offset ${a.dirent})`],
    ['nid past the end', corrupt(image, (x) => x.writeBigUInt64LE(1n << 40n, a.dirent)), `EROFS image: inode is past the end of the image (nid 1099511627776, offset ${2 ** 45})`],
    ['bad layout', corrupt(image, (x) => x.writeUInt16LE((3 << 1) | (x.readUInt16LE(a.inode) & 1), a.inode)), `EROFS image: unsupported data layout 3 (nid ${a.nid}, offset ${a.inode})`],
    ['long symlink', corrupt(image, (x) => x.writeUInt32LE(5000, link.inode + 8)), `EROFS image: symlink target of 5000 bytes is too long (nid ${link.nid}, offset ${link.inode})`, [readErofs, formatInfoDump]],
    ['xattr overrun', corrupt(image, (x) => x.writeUInt16LE(0xffff, bx + 12 + 2)), `EROFS image: inline xattr of 16+65535 bytes overruns its area ending at ${bxEnd} (nid ${b.nid}, offset ${bx + 12})`],
    ['shared xattr id', corrupt(image, (x) => x.writeUInt32LE(0x00ffffff, bx + 8)), `EROFS image: shared xattr 16777215 name length (nid ${b.nid}) at offset ${decoded.sb.xattrBlkaddr * 4096 + 0x00ffffff * 4} (1 bytes) is past the end of the ${image.length}-byte image`],
    ['first name offset', corrupt(image, (x) => x.writeUInt16LE(5, subChunk + 8)), `EROFS image: bad first dirent name offset 5 in a ${Number(subIno.size) % 4096 || 4096}-byte directory block (nid ${sub.nid}, offset ${subChunk})`],
    ['duplicate name', corrupt(image, (x) => x.write('a', chunkStart(root.nid, b.dirent) + x.readUInt16LE(b.dirent + 8), 'latin1')), `EROFS image: duplicate name "a" in the directory at nid ${root.nid}`],
  ];
  for (const [name, img, message, readers] of cases) {
    try {
      assertFormatError(img, message, readers);
    } catch (err) {
      assert.fail(`${name}: ${(err as Error).message}`);
    }
  }
});

test('fuzz: random byte flips and truncations never crash, hang or throw anything but FormatError', { skip }, () => {
  // A C V1 image, the writer's V2 form of the same tree, and small conformance images.
  const images = [baseImage(), writeErofs(parseDumpfile(BASE_DUMP), { version: 2 })];
  for (const c of conformanceCases().filter((x) => ['special_v1', 'honggfuzz-long-symlink', 'honggfuzz-bigfile-with-acl', 'no-newline'].includes(x.name))) {
    images.push(readFileSync(cMkcomposefs(`fuzz-${c.name}`, c.dump, { version: c.version, strict: c.strict })));
  }
  let failures = 0;
  fc.assert(
    fc.property(
      fc.nat({ max: images.length - 1 }),
      fc.array(fc.tuple(fc.nat({ max: 1 << 20 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
      fc.option(fc.nat({ max: 1 << 22 }), { freq: 4 }),
      (which, flips, cut) => {
        const original = images[which]!;
        // Concentrate flips in the metadata (the first 16 KiB) half of the time.
        const b = Buffer.from(original.subarray(0, cut === null ? original.length : cut % (original.length + 1)));
        for (const [off, val] of flips) if (b.length > 0) b[off % Math.min(b.length, off & 1 ? 16384 : b.length)] = val;
        for (const fn of [readErofs, collectObjects, formatInfoDump, formatInfoLs]) {
          try {
            fn(b);
          } catch (err) {
            if (!(err instanceof FormatError)) throw err;
            failures++;
          }
        }
      },
    ),
    { numRuns: 300, seed: 20261129 },
  );
  assert.ok(failures > 0, 'the fuzzer never produced a rejected image');
});
