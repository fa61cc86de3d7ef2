/**
 * The `internals cfs oci` verbs and `container compute-composefs-digest` as a
 * subprocess: pulling oci:, oci-archive: and dir: sources (with a tar+zstd
 * layer through libzstd), listing, inspecting, tagging, dumping and
 * reassembling layers, in cfsctl's output formats.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';
import { parseDumpfile, writeErofs, fsverityHex } from '../../src/composefs/index.js';
import { rawEntry, sha256, TAR_END, writeOciLayout } from '../../src/composefs/oci/test-fixtures.js';
import { zstdCompress } from '../../src/sys/zstd.js';

const cfs = (repo: string, ...args: string[]) => runCli(['internals', 'cfs', '--repo', repo, ...args]);

function layers(): Buffer[] {
  const c = { mtime: 1700000000 };
  const base = Buffer.concat([
    rawEntry({ ...c, name: 'usr/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/bin/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'usr/bin/hello', mode: 0o755, data: '#!/bin/sh\n' + 'echo hello\n'.repeat(20) }),
    rawEntry({ ...c, name: 'etc/', type: '5', mode: 0o755 }),
    rawEntry({ ...c, name: 'etc/gone', data: 'bye\n' }),
    TAR_END,
  ]);
  const top = Buffer.concat([rawEntry({ ...c, name: 'etc/.wh.gone' }), rawEntry({ ...c, name: 'etc/motd', data: 'hi\n' }), TAR_END]);
  return [base, top];
}

const DUMP = String.raw`/ 0 40755 4 0 0 0 1700000000.0 - - -
/etc 0 40755 2 0 0 0 1700000000.0 - - -
/etc/motd 3 100644 1 0 0 0 1700000000.0 - hi\n -
/usr 0 40755 3 0 0 0 1700000000.0 - - -
/usr/bin 0 40755 2 0 0 0 1700000000.0 - - -
/usr/bin/hello 230 100755 1 0 0 0 1700000000.0 HASH - HASH
`;

test('oci pull from oci:DIR:TAG with a zstd layer, then images, inspect, compute-id, dump, layer, tag, untag', () => {
  const tmp = tempDir('tsbootc-cli-oci-');
  const repo = path.join(tmp, 'repo');
  const src = path.join(tmp, 'layout');
  const tars = layers();
  const l = writeOciLayout(src, tars, { tag: 'v1', zstd: (t) => zstdCompress(t) });
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const pull = cfs(repo, 'oci', 'pull', `oci:${src}:v1`, 'localhost/test:v1');
  assert.equal(pull.stderr, '');
  assert.equal(pull.status, 0);
  const verity = /^verity   ([0-9a-f]{128})$/m.exec(pull.stdout)?.[1] ?? '';
  assert.equal(
    pull.stdout,
    `manifest ${l.manifest}\nconfig   ${l.config}\nverity   ${verity}\ntagged   localhost/test:v1\nobjects  1 new + 0 already present objects; 230 B stored, ${/stored, (.*) inlined/.exec(pull.stdout)?.[1]} inlined\n`,
  );
  assert.ok(fs.existsSync(path.join(repo, 'streams/refs/oci/localhost%2Ftest:v1')));

  const images = cfs(repo, 'oci', 'images', '--json');
  assert.deepEqual(JSON.parse(images.stdout), {
    images: [{ name: 'localhost/test:v1', manifest_digest: l.manifest, is_container: true, architecture: 'amd64', os: 'linux', created: '2009-02-13T23:31:30Z', layer_count: 2, referrer_count: 0 }],
  });
  const table = cfs(repo, 'oci', 'images').stdout.split('\n');
  assert.equal(table[1], `│ NAME              ┆ DIGEST       ┆ ARCH  ┆ LAYERS ┆ REFS │`);
  assert.equal(table[3], `│ localhost/test:v1 ┆ ${l.manifest.slice(7, 19)} ┆ amd64 ┆ 2      ┆ 0    │`);

  const inspect = JSON.parse(cfs(repo, 'oci', 'inspect', 'localhost/test:v1').stdout) as Record<string, unknown>;
  const rawConfig = fs.readFileSync(path.join(src, 'blobs/sha256', l.config.slice(7)), 'utf8');
  assert.equal(inspect['config'], rawConfig);
  assert.equal(cfs(repo, 'oci', 'inspect', `@${l.manifest}`, '--config').stdout, rawConfig + '\n');
  const imageId = inspect['composefs_erofs'] as string;
  assert.match(imageId, /^[0-9a-f]{128}$/);
  assert.equal(inspect['composefs_boot_erofs'], null);
  assert.equal(cfs(repo, 'oci', 'compute-id', 'localhost/test:v1').stdout, imageId + '\n');
  assert.equal(cfs(repo, 'oci', 'compute-id', `@${l.config}`).stdout, imageId + '\n');
  assert.ok(fs.existsSync(path.join(repo, 'images', imageId)));

  const dump = cfs(repo, 'oci', 'dump', 'localhost/test:v1').stdout;
  const hash = /\/usr\/bin\/hello 230 100755 1 0 0 0 1700000000\.0 (\S+) - \S+/.exec(dump)?.[1] ?? '';
  assert.equal(dump, DUMP.replace('HASH - HASH', `${hash} - ${hash.replace('/', '')}`));

  const tar = cfs(repo, 'oci', 'layer', sha256(tars[0]!)).stdoutBytes;
  assert.equal(sha256(tar), sha256(tars[0]!));
  const info = JSON.parse(cfs(repo, 'oci', 'layer', sha256(tars[0]!), '--json').stdout) as Record<string, unknown>;
  assert.deepEqual({ ...info, verity: '' }, { diffId: sha256(tars[0]!), verity: '', size: tars[0]!.length, entryCount: 5, splitstream: { externalObjects: 1, externalSize: 230, inlineSize: tars[0]!.length - 230 } });

  assert.deepEqual([cfs(repo, 'oci', 'tag', l.manifest, 'other').stdout, cfs(repo, 'oci', 'untag', 'localhost/test:v1').stdout], [`Tagged ${l.manifest} as other\n`, 'Removed tag localhost/test:v1\n']);
  assert.deepEqual(cfs(repo, 'oci', 'images', '--json').stdout.includes('"name": "other"'), true);
  const missing = cfs(repo, 'oci', 'inspect', 'localhost/test:v1');
  assert.deepEqual([missing.status, missing.stderr], [1, 'error: OCI reference not found: localhost/test:v1\n']);
  assert.deepEqual(cfs(repo, 'fsck').status, 0);
});

test('oci pull of the same image from oci-archive: and dir: gives the same digests; the second pull stores nothing', () => {
  const tmp = tempDir('tsbootc-cli-oci-src-');
  const repo = path.join(tmp, 'repo');
  const src = path.join(tmp, 'layout');
  const l = writeOciLayout(src, layers(), { gzip: true });
  const archive = path.join(tmp, 'image.tar');
  assert.equal(spawnSync('tar', ['-C', src, '-cf', archive, '.']).status, 0);
  const dir = path.join(tmp, 'dir');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(src, 'blobs/sha256', l.manifest.slice(7)), path.join(dir, 'manifest.json'));
  for (const d of [l.config, ...l.layers]) fs.copyFileSync(path.join(src, 'blobs/sha256', d.slice(7)), path.join(dir, d.slice(7)));
  fs.writeFileSync(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  assert.equal(runCli(['internals', 'cfs', 'init', '--insecure', repo]).status, 0);
  const a = cfs(repo, 'oci', 'pull', `oci-archive:${archive}`);
  assert.deepEqual([a.status, a.stderr], [0, '']);
  assert.match(a.stdout, new RegExp(`^manifest ${l.manifest}\nconfig   ${l.config}\nverity   [0-9a-f]{128}\ntagged   oci-archive:${archive}\nobjects  1 new \\+ 0 already present objects; 230 B stored, `));
  const d = cfs(repo, 'oci', 'pull', `dir:${dir}`, 'from-dir');
  assert.deepEqual([d.status, d.stderr], [0, '']);
  assert.match(d.stdout, new RegExp(`^manifest ${l.manifest}\nconfig   ${l.config}\nverity   [0-9a-f]{128}\ntagged   from-dir\nobjects  0 new \\+ 0 already present objects; 0 B stored, 0 B inlined\n$`));
  const bad = cfs(repo, 'oci', 'pull', 'docker://quay.io/x/y:z');
  assert.equal(bad.status, 2);
});

test('container compute-composefs-digest prints the boot EROFS id of a tree and writes its dumpfile', () => {
  const tmp = tempDir('tsbootc-cli-digest-');
  const root = path.join(tmp, 'root');
  for (const d of ['usr/bin', 'boot/loader', 'sysroot/ostree', 'etc']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/bin/tool'), 'x'.repeat(100), { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'boot/loader/entry.conf'), 'title x\n');
  for (const p of ['usr/bin/tool', 'usr/bin', 'usr', 'boot/loader/entry.conf', 'boot/loader', 'boot', 'sysroot/ostree', 'sysroot', 'etc', '']) fs.utimesSync(path.join(root, p), 1700000000, 1700000000);
  fs.chmodSync(root, 0o755);
  const dumpFile = path.join(tmp, 'dump');
  const r = runCli(['container', 'compute-composefs-digest', root, '--write-dumpfile-to', dumpFile]);
  assert.deepEqual([r.status, r.stderr], [0, '']);
  const dump = fs.readFileSync(dumpFile, 'utf8');
  const hash = /\/usr\/bin\/tool 100 100755 1 0 0 0 1700000000\.0 (\S+) /.exec(dump)?.[1] ?? '';
  assert.equal(
    dump,
    [
      '/ 0 40755 6 0 0 0 1700000000.0 - - -',
      '/boot 0 40755 2 0 0 0 1700000000.0 - - -',
      '/etc 0 40755 2 0 0 0 1700000000.0 - - -',
      '/sysroot 0 40755 2 0 0 0 1700000000.0 - - -',
      '/usr 0 40755 3 0 0 0 1700000000.0 - - -',
      '/usr/bin 0 40755 2 0 0 0 1700000000.0 - - -',
      `/usr/bin/tool 100 100755 1 0 0 0 1700000000.0 ${hash} - ${hash.replace('/', '')}`,
      '',
    ].join('\n'),
  );
  assert.equal(r.stdout, fsverityHex(writeErofs(parseDumpfile(Buffer.from(dump)), { version: 1 }), 'sha512') + '\n');
});
