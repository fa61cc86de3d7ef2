import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsverityHex } from '../fsverity.js';
import { Repository, type RepositoryOptions } from './repository.js';
import { RepositoryOpenError, ImageNotFoundError, RepositoryReadOnlyError } from './errors.js';
import { CONTENT_TYPE } from './splitstream.js';
import { fakeSyscalls, listTree, rawZstdCodec, tempDir } from './test-support.js';
import { formatMetadata, newMetadata } from './metadata.js';
import { formatErrorChain } from '../../util/errors.js';

function opts(extra: Partial<RepositoryOptions> = {}): RepositoryOptions {
  return { sys: fakeSyscalls(), zstd: rawZstdCodec(), insecure: true, ...extra };
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    if (err instanceof RepositoryOpenError) return `${err.reason}: ${err.message}`;
    throw err;
  }
}

test('init writes meta.json (0700 dir) and is idempotent; a different config is refused', async () => {
  const dir = path.join(await tempDir(), 'a', 'repo');
  const { repo, created } = await Repository.init(dir, opts());
  assert.equal(created, true);
  assert.deepEqual([repo.algorithm, repo.insecure, repo.erofsVersion, repo.readOnlyReason], ['sha512', true, 1, undefined]);
  repo.close();
  assert.deepEqual(listTree(dir), ['f meta.json 219']);
  assert.equal(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'), formatMetadata(newMetadata('sha512')));
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  const again = await Repository.init(dir, opts());
  assert.equal(again.created, false);
  again.repo.close();
});

test('re-init with a different algorithm or EROFS version names both configurations', async () => {
  const dir = path.join(await tempDir(), 'repo');
  (await Repository.init(dir, opts({ algorithm: 'sha256', erofsVersion: 2 }))).repo.close();
  await assert.rejects(Repository.init(dir, opts()), (err: unknown) => {
    const inner = err;
    assert.ok(inner instanceof RepositoryOpenError);
    assert.equal(inner.reason, 'config-mismatch');
    assert.equal(
      inner.message,
      `${dir}: repository already initialized with different configuration (algorithm: fsverity-sha256-12, erofs_version: V2); cannot re-initialize with (algorithm: fsverity-sha512-12, erofs_version: V1)`,
    );
    return true;
  });
});

test('a secure repository on a filesystem without fs-verity fails, names --insecure, and leaves nothing behind', async () => {
  const dir = path.join(await tempDir(), 'repo');
  await assert.rejects(Repository.init(dir, opts({ insecure: false })), (err: unknown) => {
    assert.ok(err instanceof RepositoryOpenError);
    assert.equal(err.reason, 'verity-unsupported');
    assert.equal(formatErrorChain(err), `${dir}: cannot create a secure repository: the filesystem does not support fs-verity (EOPNOTSUPP); use --insecure to create a repository without fs-verity`);
    return true;
  });
  assert.equal(fs.existsSync(dir), false);
});

test('secure repository: verity enabled on meta.json and every object; an insecure client may read but never write', async () => {
  const dir = path.join(await tempDir(), 'repo');
  const sys = fakeSyscalls({ verity: true });
  const { repo } = await Repository.init(dir, opts({ sys, insecure: false }));
  assert.equal(repo.insecure, false);
  const id = await repo.ensureObject(Buffer.from('hello world'));
  assert.equal(id, '18430270729d162d4e469daca123ae61893db4b0583d8f7081e3bf4f92b88ba514e7982f10733fb6aa895195c5ae8fd2eb2c47a8be05513ce5a0c51a6f570409');
  assert.deepEqual(sys.calls, ['enable-verity sha512', 'flock shared', 'enable-verity sha512']);
  assert.deepEqual(await repo.readObject(id), Buffer.from('hello world'));
  repo.close();
  const client = await Repository.open(dir, opts({ sys, insecure: true }));
  assert.equal(client.readOnlyReason, 'it requires fs-verity on every object and this client is --insecure');
  assert.deepEqual(await client.readObject(id), Buffer.from('hello world'));
  await assert.rejects(client.ensureObject(Buffer.from('x')), (err: unknown) => {
    const inner = (err as { cause?: unknown }).cause;
    assert.ok(inner instanceof RepositoryReadOnlyError);
    assert.equal(inner.message, `${dir}: repository is read-only: it requires fs-verity on every object and this client is --insecure`);
    return true;
  });
  client.close();
  // Without verity on the object, a secure reader refuses it.
  fs.rmSync(path.join(dir, 'objects', id.slice(0, 2), id.slice(2)));
  fs.writeFileSync(path.join(dir, 'objects', id.slice(0, 2), id.slice(2)), 'hello world');
  const again = await Repository.open(dir, opts({ sys, insecure: false }));
  await assert.rejects(again.readObject(id), (e: unknown) => /fs-verity digest \(not enabled\) does not match the object id$/.test(formatErrorChain(e)));
  again.close();
});

test('open errors carry a reason: missing, old format, unknown incompatible feature, unknown ro-compat opens read-only', async () => {
  const root = await tempDir();
  assert.equal(await reasonOf(Repository.open(path.join(root, 'none'), opts())), `metadata-missing: ${root}/none: repository directory does not exist; create it with \`init\``);
  fs.mkdirSync(path.join(root, 'empty'));
  assert.equal(await reasonOf(Repository.open(path.join(root, 'empty'), opts())), `metadata-missing: ${root}/empty: meta.json not found; this repository must be initialized with \`init\``);
  fs.mkdirSync(path.join(root, 'old', 'objects'), { recursive: true });
  assert.match(await reasonOf(Repository.open(path.join(root, 'old'), opts())), /^old-format: .*old: meta\.json not found; this appears to be an old-format repository/);
  fs.mkdirSync(path.join(root, 'incompat'));
  fs.writeFileSync(path.join(root, 'incompat', 'meta.json'), '{"version":1,"algorithm":"fsverity-sha256-12","features":{"incompatible":["x"]}}');
  assert.equal(await reasonOf(Repository.open(path.join(root, 'incompat'), opts())), `incompatible-features: ${root}/incompat: repository requires unknown incompatible features: "x"`);
  fs.mkdirSync(path.join(root, 'ro'));
  fs.writeFileSync(path.join(root, 'ro', 'meta.json'), '{"version":1,"algorithm":"fsverity-sha256-12","features":{"read-only-compatible":["y"]}}');
  const ro = await Repository.open(path.join(root, 'ro'), opts());
  assert.deepEqual([ro.algorithm, ro.erofsVersion, ro.readOnlyReason], ['sha256', 2, 'unknown read-only-compatible features: y']);
  await assert.rejects(ro.writeImage(Buffer.from('img')), (e: unknown) => {
    assert.equal(formatErrorChain(e), `Writing image: Storing object ${fsverityHex(Buffer.from('img'), 'sha256')}: ${root}/ro: repository is read-only: unknown read-only-compatible features: y`);
    return true;
  });
  ro.close();
});

test('ensure: created, then opened; an old repository without meta.json is upgraded as composefs-rs does', async () => {
  const root = await tempDir();
  const a = await Repository.ensure(path.join(root, 'new'), opts({ algorithm: 'sha256' }));
  assert.equal(a.status, 'created');
  a.repo.close();
  const b = await Repository.ensure(path.join(root, 'new'), opts());
  assert.deepEqual([b.status, b.repo.algorithm], ['opened', 'sha256']);
  b.repo.close();
  // A repository written by bootc <= 1.15: objects only, sha256 names (62 characters), no meta.json.
  const old = path.join(root, 'old');
  const data = Buffer.from('hello');
  const id = fsverityHex(data, 'sha256');
  fs.mkdirSync(path.join(old, 'objects', id.slice(0, 2)), { recursive: true });
  fs.writeFileSync(path.join(old, 'objects', id.slice(0, 2), id.slice(2)), data);
  const c = await Repository.ensure(old, opts());
  assert.deepEqual([c.status, c.repo.algorithm, c.repo.insecure, c.repo.erofsVersion], ['upgraded', 'sha256', true, 2]);
  assert.deepEqual(await c.repo.readObject(id), data);
  c.repo.close();
  assert.equal(fs.readFileSync(path.join(old, 'meta.json'), 'utf8'), formatMetadata(newMetadata('sha256', { default: 2, extra: [] })));
  fs.mkdirSync(path.join(root, 'noobj', 'objects'), { recursive: true });
  assert.match(await reasonOf(Repository.ensure(path.join(root, 'noobj'), opts())), /^old-format: .*no objects found in repository — cannot infer metadata$/);
});

test('objects, images and streams on disk: exact tree with symlink targets', async () => {
  const dir = path.join(await tempDir(), 'repo');
  const { repo } = await Repository.init(dir, opts({ algorithm: 'sha256' }));
  const hello = await repo.ensureObject(Buffer.from('hello'));
  assert.equal(hello, '555b589c26ee43b7a2510e6c67ced9fb3190b6da6e9e683984551f5d77a763de');
  assert.deepEqual(await repo.storeObject(Buffer.from('hello')), { id: hello, method: 'already-present' });
  const img = await repo.writeImage(Buffer.from('not really erofs'), 'a/b');
  const w = repo.createStream(CONTENT_TYPE.ociBlob);
  const ext = await repo.writeExternal(w, Buffer.from('x'.repeat(100)));
  w.writeInline(Buffer.from('tail'));
  const sid = await repo.writeStream(w, 'oci-blob-sha256:00', 'oci/docker:%2F%2Fq%2Fx:1');
  assert.equal(await repo.hasStream('oci-blob-sha256:00'), sid);
  assert.equal(await repo.hasStream('nope'), undefined);
  const catted: Buffer[] = [];
  await repo.catStream('refs/oci/docker:%2F%2Fq%2Fx:1', (d) => {
    catted.push(d);
  });
  assert.equal(Buffer.concat(catted).toString(), 'x'.repeat(100) + 'tail');
  const objs = [hello, img, ext, sid].sort();
  const sizes = new Map<string, number>([
    [hello, 5],
    [img, 16],
    [ext, 100],
    [sid, fs.statSync(repo.objectPath(sid)).size],
  ]);
  const expected = [
    `d images`,
    `l images/${img} -> ../objects/${img.slice(0, 2)}/${img.slice(2)}`,
    `d images/refs`,
    `d images/refs/a`,
    `l images/refs/a/b -> ../../${img}`,
    'f meta.json 219',
    'd objects',
    ...objs.flatMap((o, i) => [...(i > 0 && objs[i - 1]?.slice(0, 2) === o.slice(0, 2) ? [] : [`d objects/${o.slice(0, 2)}`]), `f objects/${o.slice(0, 2)}/${o.slice(2)} ${sizes.get(o)}`]),
    'd streams',
    `l streams/oci-blob-sha256:00 -> ../objects/${sid.slice(0, 2)}/${sid.slice(2)}`,
    'd streams/refs',
    'd streams/refs/oci',
    'l streams/refs/oci/docker:%2F%2Fq%2Fx:1 -> ../../oci-blob-sha256:00',
  ];
  assert.deepEqual(listTree(dir), expected);
  assert.deepEqual(await repo.listImageRefs(), [{ name: 'a/b', digest: img }]);
  assert.deepEqual((await repo.openImage(img)).data.toString(), 'not really erofs');
  assert.deepEqual((await repo.openImage('refs/a/b')).id, img);
  await assert.rejects(repo.openImage('missing'), (e: unknown) => e instanceof ImageNotFoundError && e.message === 'image not found: missing');
  // Re-pointing a ref replaces it atomically.
  await repo.nameImage(hello, 'a/b');
  assert.equal(fs.readlinkSync(path.join(dir, 'images/refs/a/b')), `../../${hello}`);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('.')), []);
  repo.close();
});

test('an object damaged on disk is replaced when stored again (verify on exists)', async () => {
  const dir = path.join(await tempDir(), 'repo');
  const { repo } = await Repository.init(dir, opts({ algorithm: 'sha256' }));
  const id = await repo.ensureObject(Buffer.from('hello'));
  fs.writeFileSync(repo.objectPath(id), 'jello');
  assert.deepEqual(await repo.storeObject(Buffer.from('hello')), { id, method: 'repaired' });
  assert.equal(fs.readFileSync(repo.objectPath(id), 'utf8'), 'hello');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'objects')).sort(), [id.slice(0, 2)]);
  repo.close();
});
