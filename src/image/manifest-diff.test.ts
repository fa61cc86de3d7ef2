import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { diffManifests, formatManifestDiff, formatSize } from './manifest-diff.js';

test('layer diff and report as ostree-ext prints it', () => {
  const from = { layers: [{ digest: 'sha256:aa', size: 1000 }, { digest: 'sha256:bb', size: 2_500_000 }] };
  const to = { layers: [{ digest: 'sha256:aa', size: 1000 }, { digest: 'sha256:dd', size: 10 }, { digest: 'sha256:cc', size: 1_234_567_890 }] };
  const d = diffManifests(from, to);
  assert.deepEqual(d.added.map((l) => l.digest), ['sha256:cc', 'sha256:dd']);
  assert.deepEqual(d.removed.map((l) => l.digest), ['sha256:bb']);
  assert.equal(
    formatManifestDiff(d),
    'Total new layers: 3     Size: 1.2 GB\nRemoved layers:   1     Size: 2.5 MB\nAdded layers:     2     Size: 1.2 GB\n',
  );
  assert.equal(formatManifestDiff(diffManifests(to, to)), 'Total new layers: 3     Size: 1.2 GB\nRemoved layers:   0     Size: 0 bytes\nAdded layers:     0     Size: 0 bytes\n');
});

test('GLib size formatting', () => {
  assert.deepEqual([0, 1, 999, 1000, 1049, 999_949, 1_000_000, 5_400_000_000].map(formatSize), ['0 bytes', '1 byte', '999 bytes', '1.0 kB', '1.0 kB', '999.9 kB', '1.0 MB', '5.4 GB']);
});
