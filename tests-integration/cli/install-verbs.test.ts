/**
 * The install verbs through the built CLI, without privileges: usage errors
 * (one line, exit 2) are decided before anything is read or written,
 * to-existing-root checks its source and ROOT_PATH first, ensure-completion has nothing
 * to do on the composefs backend, and finalize refuses a non-install.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';

test('install to-disk without --source-imgref says tsbootc is not in a container, and writes nothing', () => {
  const dir = tempDir();
  const img = path.join(dir, 'disk.img');
  const r = runCli(['install', 'to-disk', '--via-loopback', '--filesystem', 'ext4', img]);
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    'error: install to-disk: --source-imgref is required: bootc installs its own container image when run inside podman, but tsbootc runs on the host, not in a container (pass e.g. --source-imgref oci:/path/to/layout:tag or docker://quay.io/org/image:tag)\n',
  );
  assert.equal(existsSync(img), false);
  assert.deepEqual(readdirSync(dir), []);
});

test('install to-disk rejects an unknown filesystem and a bad --root-size as usage errors', () => {
  const fs = runCli(['install', 'to-disk', '--source-imgref', 'oci:/x', '--filesystem', 'zfs', '/dev/null']);
  assert.equal(fs.status, 2);
  assert.match(fs.stderr, /^error: .*zfs.*\n$/);
  const size = runCli(['install', 'to-disk', '--source-imgref', 'oci:/x', '--filesystem', 'ext4', '--root-size', '10X', '/dev/null']);
  assert.equal(size.status, 2);
  assert.equal(size.stderr, "error: invalid size '10X': expected N[M|G|T]\n");
});

test('install to-disk refuses --block-setup tpm2-luks before reading the source', () => {
  const r = runCli(['install', 'to-disk', '--source-imgref', 'oci:/nonexistent:x', '--filesystem', 'ext4', '--block-setup', 'tpm2-luks', '/dev/null']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'error: install to-disk: --block-setup tpm2-luks is not supported yet (/dev/null)\n');
});

test('install to-existing-root refuses a missing source and a ROOT_PATH that is not mounted; ensure-completion has nothing to do; finalize refuses a non-install', () => {
  const ex = runCli(['install', 'to-existing-root']);
  assert.equal(ex.status, 2);
  assert.match(ex.stderr, /^error: install to-existing-root: --source-imgref is required: .*\n$/);
  const notMounted = tempDir();
  const nm = runCli(['install', 'to-existing-root', '--source-imgref', 'oci:/x', notMounted]);
  assert.equal(nm.status, 1);
  assert.equal(nm.stderr, `error: Inspecting the target filesystem ${notMounted}: install to-existing-root: ${notMounted} is not a mount point; mount the target root filesystem there\n`);
  const ec = runCli(['install', 'ensure-completion'], { env: { TSBOOTC_LOG: 'info' } });
  assert.equal(ec.status, 0);
  assert.equal(ec.stdout, '');
  const dir = tempDir();
  const fin = runCli(['install', 'finalize', dir]);
  assert.equal(fin.status, 1);
  assert.equal(fin.stderr, `error: Inspecting the target filesystem ${dir}: install to-filesystem: ${dir} is not a mount point; mount the target root filesystem there\n`);
});
