import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FsVerityHasher, fsverityHex } from './fsverity.js';

// composefs.md §2 and environment.md §4.
const VECTORS: Array<[string, Buffer, string, string | undefined]> = [
  ['empty', Buffer.alloc(0), '3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95', 'ccf9e5aea1c2a64efa2f2354a6024b90dffde6bbc017825045dce374474e13d10adb9dadcc6ca8e17a3c075fbd31336e8f266ae6fa93a6c3bed66f9e784e5abf'],
  ['hello', Buffer.from('hello'), '555b589c26ee43b7a2510e6c67ced9fb3190b6da6e9e683984551f5d77a763de', 'f40c9f595539791d80fdff8f46b9fd3f61d9b5aa12c4c366c296c455f342b7ba5d1f03ffa8290b2f159f44a97e182ddaf305d97ce86e3713cdf5508da1cef244'],
  ['hello world', Buffer.from('hello world'), '1e2eaa4202d750a41174ee454970b92c1bc2f925b1e35076d8c7d5f56362ba64', '18430270729d162d4e469daca123ae61893db4b0583d8f7081e3bf4f92b88ba514e7982f10733fb6aa895195c5ae8fd2eb2c47a8be05513ce5a0c51a6f570409'],
  ['hello world\\n', Buffer.from('hello world\n'), '37061ef2ac4c21bec68489b56138c5780306a4ad7fe6676236ecdf2c9027cd92', undefined],
  ['foo bar baz\\n', Buffer.from('foo bar baz\n'), '91e7d88cb7bc9cf6d8db3b0ecf89af4abf204bef5b3ade5113d5b62ef374e70b', undefined],
  ['hello\\n', Buffer.from('hello\n'), '9c76eecc7b76fcb46199cb27b90cf59a660e10575bb0412128905129d5b1c2aa', undefined],
  ['4096 zeros', Buffer.alloc(4096), 'babc284ee4ffe7f449377fbf6692715b43aec7bc39c094a95878904d34bac97e', undefined],
  ['4097 a', Buffer.alloc(4097, 'a'), '18b155c0b6e054f3f7d22488ed15340e74dc161ce2d123e13eb685c3ce565f70', undefined],
  ['524289 0x5a', Buffer.alloc(524289, 0x5a), '44a3ceba1c1a2896d0002c3b1e15f332291e8ef3c4760f14531061f17d6dc423', undefined],
];

for (const [name, data, s256, s512] of VECTORS) {
  test(`fs-verity vector: ${name}`, () => {
    assert.equal(fsverityHex(data, 'sha256'), s256);
    if (s512 !== undefined) assert.equal(fsverityHex(data, 'sha512'), s512);
  });
}

test('streaming in odd chunk sizes gives the one-shot digest', () => {
  const data = Buffer.alloc(524289 + 8191);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 12)) & 0xff;
  for (const alg of ['sha256', 'sha512'] as const) {
    const want = fsverityHex(data, alg);
    for (const chunk of [1, 7, 4095, 4096, 4097, 65536, 1 << 20]) {
      const hs = new FsVerityHasher(alg);
      for (let off = 0; off < data.length; off += chunk) hs.update(data.subarray(off, off + chunk));
      assert.equal(hs.digest().toString('hex'), want, `${alg} chunk ${chunk}`);
    }
  }
});
