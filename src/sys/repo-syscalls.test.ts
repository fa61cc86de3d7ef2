import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { realRepoSyscalls } from './repo-syscalls.js';
import { libzstdCodec } from './zstd.js';
import { CONTENT_TYPE, Repository, RepositoryOpenError, SplitStreamWriter } from '../composefs/repository/index.js';
import { fsverityHex } from '../composefs/index.js';
import { formatErrorChain } from '../util/errors.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-reposys-'));

test('an open repository holds LOCK_SH on its directory; GC takes LOCK_EX and returns to shared', async () => {
  const sys = realRepoSyscalls();
  const dir = path.join(tmp(), 'repo');
  const { repo } = await Repository.init(dir, { sys, insecure: true, zstd: libzstdCodec() });
  const probe = fs.openSync(dir, 'r');
  try {
    assert.equal(sys.tryFlockSync(probe, 'exclusive'), false, 'exclusive blocked by the open repository');
    assert.equal(sys.tryFlockSync(probe, 'shared'), true, 'shared is compatible');
    sys.tryFlockSync(probe, 'unlock');
    assert.deepEqual(await repo.gc(), { objectsRemoved: 0, objectsBytes: 0, imagesPruned: 0, streamsPruned: 0 });
    assert.equal(sys.tryFlockSync(probe, 'exclusive'), false, 'back to shared after GC');
    repo.close();
    assert.equal(sys.tryFlockSync(probe, 'exclusive'), true, 'closing releases the lock');
  } finally {
    fs.closeSync(probe);
  }
});

test('GC waits for other holders of the shared lock', async () => {
  const sys = realRepoSyscalls();
  const dir = path.join(tmp(), 'repo');
  const { repo } = await Repository.init(dir, { sys, insecure: true, zstd: libzstdCodec() });
  const other = await Repository.open(dir, { sys, insecure: true, zstd: libzstdCodec() });
  let done = false;
  const gc = repo.gc().then((r) => {
    done = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(done, false, 'GC is blocked while another handle is open');
  other.close();
  assert.deepEqual(await gc, { objectsRemoved: 0, objectsBytes: 0, imagesPruned: 0, streamsPruned: 0 });
  repo.close();
});

test('with the real syscalls: a secure repository where fs-verity is missing fails and names --insecure', async (t) => {
  const sys = realRepoSyscalls();
  const dir = path.join(tmp(), 'repo');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'probe'), 'x');
  const fd = fs.openSync(path.join(dir, 'probe'), 'r');
  let hasVerity = true;
  try {
    sys.enableVerity(fd, 'sha256');
  } catch {
    hasVerity = false;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true });
  }
  if (hasVerity) {
    t.skip('this filesystem supports fs-verity');
    return;
  }
  await assert.rejects(Repository.init(dir, { sys }), (err: unknown) => {
    assert.ok(err instanceof RepositoryOpenError && err.reason === 'verity-unsupported');
    assert.match(formatErrorChain(err), /^\/.*\/repo: cannot create a secure repository: the filesystem does not support fs-verity \((EOPNOTSUPP|ENOTSUP|ENOTTY)\); use --insecure to create a repository without fs-verity$/);
    return true;
  });
});

test('with libzstd: the spec 3.6 stream frame is byte-exact and a stored stream reads back', async () => {
  const zstd = libzstdCodec();
  const w = new SplitStreamWriter('sha256', CONTENT_TYPE.ociConfig, zstd);
  const cfg = Buffer.from('{}');
  w.writeExternalRef(fsverityHex(cfg, 'sha256'), 2);
  const bytes = w.finish();
  assert.equal(bytes.subarray(bytes.length - 17).toString('hex'), '28b52ffd0058410000' + '00'.repeat(8));
  assert.equal(bytes.subarray(144, 153).toString('hex'), '28b52ffd2000010000');
  const dir = path.join(tmp(), 'repo');
  const { repo } = await Repository.init(dir, { sys: realRepoSyscalls(), insecure: true, zstd, algorithm: 'sha256' });
  const s = repo.createStream(CONTENT_TYPE.ociLayer);
  s.writeInline(Buffer.alloc(512, 7));
  await repo.writeExternal(s, Buffer.alloc(5000, 9));
  s.writeInline(Buffer.alloc(1024));
  await repo.writeStream(s, 'oci-layer-sha256:00', 'mine');
  const out: Buffer[] = [];
  await repo.catStream('oci-layer-sha256:00', (d) => {
    out.push(d);
  });
  assert.ok(Buffer.concat(out).equals(Buffer.concat([Buffer.alloc(512, 7), Buffer.alloc(5000, 9), Buffer.alloc(1024)])));
  repo.close();
});
