import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { rawEntry, TAR_END, writeOciLayout } from './test-fixtures.js';
import { printDumpfile } from '../dumpfile.js';
import { erofsImageId, writeErofs } from '../erofs/writer.js';
import { MemoryObjectSink } from './sink.js';
import { openOciLayout } from './layout.js';
import { importOciImage } from './import.js';
import { transformForOci } from './merge.js';

// composefs.md §5.8 C: composefs-rs cli.rs create_oci_layout, pinned in OCI_LAYOUT_COMPOSEFS_ID(_V1_ID).
const EXPECTED_V1 = 'd06f1f6a73f62ed48e05ce9442ff045cdf2a9f5ba1ec623795de3d6177a253d91076459795d94f55d8c3d71dab458bb3fc0071255a50c0a4896d86ffdc870b9a';
const EXPECTED_V2 = 'f7684c21050615c02cec250e0c7d4118fb0ff6340af5039e06f2f372a7614fff25dfd38cf7f28ad67d8b86e86371b7deafa9ae4bf543630322aee6196417de92';

/** The fixture's one layer: GNU headers, everything at mtime 1234567890, owned by 0:0. */
function fixtureLayer(): Buffer {
  const common = { uid: 0, gid: 0, mtime: 1234567890, gnu: true };
  return Buffer.concat([
    rawEntry({ ...common, name: 'usr/', type: '5', mode: 0o755 }),
    rawEntry({ ...common, name: 'hello.txt', mode: 0o644, data: 'hello from test layer\n' }),
    rawEntry({ ...common, name: 'hello-link.txt', type: '1', mode: 0, linkname: 'hello.txt' }),
    TAR_END,
  ]);
}

test('the §5.8 C OCI-layout fixture imports to the pinned sha512 V1 and V2 image ids', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-oci-c-'));
  writeOciLayout(dir, [fixtureLayer()], { gzip: true, tag: 'latest' });
  const got = await importOciImage(openOciLayout(dir), { tag: 'latest', algorithm: 'sha512', sink: new MemoryObjectSink() });
  transformForOci(got.root);
  assert.equal(
    printDumpfile(got.root).toString('latin1'),
    String.raw`/ 0 40755 3 0 0 0 1234567890.0 - - -
/hello-link.txt 22 100644 2 0 0 0 1234567890.0 - hello\x20from\x20test\x20layer\n -
/hello.txt 0 @120000 - - - - 0.0 /hello-link.txt - -
/usr 0 40755 2 0 0 0 1234567890.0 - - -
`,
  );
  assert.equal(erofsImageId(writeErofs(got.root, { version: 1 }), 'sha512'), EXPECTED_V1);
  assert.equal(erofsImageId(writeErofs(got.root, { version: 2 }), 'sha512'), EXPECTED_V2);
});
