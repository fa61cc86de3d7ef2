/**
 * Hostile sizes through `internals cfs oci pull`, under lib.ts's limits
 * (256 MiB V8 heap, 512 MiB peak RSS, 60 s): gzip bombs (a 256 KiB blob
 * expanding to a 256 MiB file of zeros must stream, not buffer; 1 GiB of
 * zeros after the end-of-archive blocks is refused once 16 MiB belong to no
 * entry); 100 000 files in one directory; nesting at the depth limit (2048)
 * and past it (4096).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { tempDir } from '../helpers/run-cli.js';
import { paxEntry, rawEntry, sha256, TAR_END } from '../../src/composefs/oci/test-fixtures.js';
import { assertError, cli, skipReason, snapshot, Tally } from './lib.js';

const T = { mtime: 1700000000 };
const MiB = 1 << 20;
const tally = new Tally();

/** Writes an OCI layout with one layer blob (`mediaType`) and the given diff_id; returns the layer digest. */
function layoutWith(dir: string, blob: Buffer, mediaType: string, diffId: string): string {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer): string => {
    const d = sha256(b);
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layer = put(blob);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const cd = put(config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length }, layers: [{ mediaType, digest: layer, size: blob.length }] }));
  const md = put(manifest);
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length }] }));
  return layer;
}

function gzLayout(dir: string, tar: Buffer): string {
  return layoutWith(dir, gzipSync(tar, { level: 1 }), 'application/vnd.oci.image.layer.v1.tar+gzip', sha256(tar));
}

/** A gzip layer of `head`, then `zeros` zero bytes, as concatenated gzip members (64 MiB of zeros compress to 64 KiB); returns the blob and the diff_id. */
function bomb(head: Buffer, zeros: number): { blob: Buffer; diffId: string } {
  const CHUNK = 64 * MiB;
  const z = Buffer.alloc(CHUNK);
  const member = gzipSync(z, { level: 9 });
  const parts = [gzipSync(head)];
  const diff = createHash('sha256').update(head);
  for (let left = zeros; left > 0; left -= CHUNK) {
    const n = Math.min(CHUNK, left);
    parts.push(n === CHUNK ? member : gzipSync(z.subarray(0, n)));
    diff.update(z.subarray(0, n));
  }
  return { blob: Buffer.concat(parts), diffId: 'sha256:' + diff.digest('hex') };
}

const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';

test('gzip bombs: 256 MiB of zeros in one file streams to one object; 1 GiB after the end-of-archive stops at 16 MiB', { skip: skipReason ?? false }, () => {
  const tmp = tempDir('tsbootc-hostile-bomb-');
  try {
    const repo = path.join(tmp, 'repo');
    assert.equal(cli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
    const usr = rawEntry({ ...T, name: 'usr/', type: '5', mode: 0o755 });
    // The file's zeros, then the end-of-archive blocks: a legitimate layer, 256 KiB of gzip.
    const FILE = 256 * MiB;
    const a = bomb(Buffer.concat([usr, rawEntry({ ...T, name: 'usr/zero', size: FILE })]), FILE + TAR_END.length);
    assert.ok(a.blob.length < MiB, `bomb is ${a.blob.length} bytes`);
    const fileBomb = path.join(tmp, 'file-bomb');
    layoutWith(fileBomb, a.blob, GZ, a.diffId);
    const before = snapshot(tmp, (r) => r === 'repo');
    const r = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${fileBomb}`, 'bomb']);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /\nobjects  1 new \+ 0 already present objects; 256\.00 MiB stored, 2\.00 KiB inlined\n$/);
    const d = cli(['internals', 'cfs', '--repo', repo, 'oci', 'dump', 'bomb']);
    assert.match(d.stdout, /^\/ 0 40755 3 0 0 0 1700000000\.0 - - -\n\/usr 0 40755 2 0 0 0 1700000000\.0 - - -\n\/usr\/zero 268435456 100644 1 0 0 0 1700000000\.0 [0-9a-f]{2}\/[0-9a-f]{126} - [0-9a-f]{128}\n$/);
    assert.deepEqual(snapshot(tmp, (x) => x === 'repo'), before);
    tally.add('gzip bomb');
    // 1 GiB of zeros after the last entry: no entry claims it, so it would all be held as inline split data.
    const b = bomb(Buffer.concat([usr, rawEntry({ ...T, name: 'usr/empty' })]), 1024 * MiB);
    const trailBomb = path.join(tmp, 'trailing-bomb');
    const layer = layoutWith(trailBomb, b.blob, GZ, b.diffId);
    const e = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${trailBomb}`, 'trailing']);
    assertError(e, `Pulling oci:${trailBomb}: layer ${layer}: more than 16777216 bytes of tar data from byte 1024 on belong to no entry (data after the end-of-archive blocks?)`);
    tally.add('gzip bomb');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('100 000 files in one directory import and dump within the limits', { skip: skipReason ?? false }, () => {
  const tmp = tempDir('tsbootc-hostile-wide-');
  try {
    const N = 100_000;
    const entries = [rawEntry({ ...T, name: 'usr/', type: '5', mode: 0o755 }), rawEntry({ ...T, name: 'usr/d/', type: '5', mode: 0o755 })];
    for (let i = 0; i < N; i++) entries.push(rawEntry({ ...T, name: `usr/d/f${i}` }));
    const layout = path.join(tmp, 'oci');
    gzLayout(layout, Buffer.concat([...entries, TAR_END]));
    const repo = path.join(tmp, 'repo');
    assert.equal(cli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
    const r = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${layout}`, 'wide']);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const d = cli(['internals', 'cfs', '--repo', repo, 'oci', 'dump', 'wide']);
    const lines = d.stdout.split('\n');
    assert.equal(lines.length, N + 4);
    assert.deepEqual(lines.slice(0, 5), ['/ 0 40755 3 0 0 0 1700000000.0 - - -', '/usr 0 40755 3 0 0 0 1700000000.0 - - -', `/usr/d 0 40755 2 0 0 0 1700000000.0 - - -`, '/usr/d/f0 0 100644 1 0 0 0 1700000000.0 - - -', '/usr/d/f1 0 100644 1 0 0 0 1700000000.0 - - -']);
    tally.add('wide directory');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('nesting: 2048 levels import; 4096 levels stop at level 2049 with one line', { skip: skipReason ?? false }, () => {
  const tmp = tempDir('tsbootc-hostile-deep-');
  try {
    const deep = (n: number): Buffer => {
      const entries = [rawEntry({ ...T, name: 'usr/', type: '5', mode: 0o755 })];
      let p = 'usr';
      for (let i = 1; i < n; i++) {
        p += '/d';
        entries.push(paxEntry([['path', p + '/']]), rawEntry({ ...T, name: 'x/', type: '5', mode: 0o755 }));
      }
      return Buffer.concat([...entries, TAR_END]);
    };
    const repo = path.join(tmp, 'repo');
    assert.equal(cli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
    const ok = path.join(tmp, 'ok');
    gzLayout(ok, deep(2048));
    const r = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${ok}`, 'deep']);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const id = cli(['internals', 'cfs', '--repo', repo, 'oci', 'compute-id', 'deep']);
    assert.match(id.stdout, /^[0-9a-f]{128}\n$/);
    tally.add('deep nesting');
    const bad = path.join(tmp, 'bad');
    const layer = gzLayout(bad, deep(4096));
    const e = cli(['internals', 'cfs', '--repo', repo, 'oci', 'pull', `oci:${bad}`, 'deeper']);
    const full = '/usr' + '/d'.repeat(2048);
    const shown = `${full.slice(0, 100)}…(${full.length} chars)…${full.slice(-100)}`;
    assertError(e, `Pulling oci:${bad}: layer ${layer}: entry ${shown}: path is 2049 directories deep (the limit is 2048)`);
    tally.add('deep nesting');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  tally.print('oci-big');
});
