import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { computeEtcDiff, formatEtcDiff } from './etc-merge.js';
import { applyEtcMerge, snapshotEtc } from '../sys/etc-tree.js';

type Spec = Record<string, string | { link: string } | { dir: true; mode?: number } | { file: string; mode: number }>;

function build(root: string, spec: Spec): string {
  fs.mkdirSync(root, { recursive: true });
  for (const [rel, v] of Object.entries(spec)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof v === 'string') fs.writeFileSync(p, v, { mode: 0o644 });
    else if ('link' in v) fs.symlinkSync(v.link, p);
    else if ('dir' in v) fs.mkdirSync(p, { recursive: true, mode: v.mode ?? 0o755 });
    else {
      fs.writeFileSync(p, v.file);
      fs.chmodSync(p, v.mode);
    }
    if (typeof v === 'object' && 'dir' in v && v.mode !== undefined) fs.chmodSync(p, v.mode);
  }
  return root;
}

/** The whole tree as sorted lines: path, type, mode, and content or target. */
function describe(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${rel}/ ${mode}`);
        walk(p);
      } else if (st.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(p)}`);
      else out.push(`${rel} ${mode} ${JSON.stringify(fs.readFileSync(p, 'utf8'))}`);
    }
  };
  walk(root);
  return out;
}

const PRISTINE: Spec = {
  'a/file1': 'a-file1',
  'a/file2': 'a-file2',
  'a/b/file1': 'ab-file1',
  'a/b/c/modify-perms': 'modify-perms',
  'a/b/c/to-be-removed': 'remove this',
  'to-be-removed': 'remove this 2',
  'gone-dir/x': 'x',
  link: { link: 'a/file1' },
  hostname: 'image',
};

function scenario() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-etc-'));
  const pristine = build(path.join(tmp, 'pristine'), PRISTINE);
  const current = build(path.join(tmp, 'current'), {
    ...PRISTINE,
    'a/file1': 'a-file1 edited locally',
    'a/b/c/modify-perms': { file: 'modify-perms', mode: 0o600 },
    'new/dir/file': 'added locally',
    'a/b/added': 'added in existing dir',
    link: { link: 'a/file2' },
  });
  fs.rmSync(path.join(current, 'a/b/c/to-be-removed'));
  fs.rmSync(path.join(current, 'to-be-removed'));
  fs.rmSync(path.join(current, 'gone-dir'), { recursive: true });
  const next = build(path.join(tmp, 'new'), {
    'a/file1': 'a-file1 new default',
    'a/file2': 'a-file2 new default',
    'a/b/file1': 'ab-file1',
    'a/b/c/modify-perms': 'modify-perms v2',
    'a/b/c/to-be-removed': 'remove this',
    'to-be-removed': 'remove this 2',
    'gone-dir/x': 'x2',
    link: { link: 'a/file1' },
    hostname: 'image',
    'new-in-image': 'shipped by v2',
  });
  return { tmp, pristine, current, next };
}

test('three-way /etc diff lists local additions, modifications and removals', async () => {
  const s = scenario();
  try {
    const diff = computeEtcDiff(await snapshotEtc(s.pristine), await snapshotEtc(s.current), await snapshotEtc(s.next));
    assert.deepEqual(diff, {
      added: ['a/b/added', 'new', 'new/dir', 'new/dir/file'],
      modified: ['a/b/c/modify-perms', 'a/file1', 'link'],
      removed: ['a/b/c/to-be-removed', 'gone-dir', 'to-be-removed'],
      unmergeable: [],
    });
    assert.equal(
      formatEtcDiff(diff),
      ['Added "a/b/added"', 'Added "new"', 'Added "new/dir"', 'Added "new/dir/file"', 'Modified "a/b/c/modify-perms"', 'Modified "a/file1"', 'Modified "link"', 'Removed "a/b/c/to-be-removed"', 'Removed "gone-dir"', 'Removed "to-be-removed"', ''].join('\n'),
    );
  } finally {
    fs.rmSync(s.tmp, { recursive: true, force: true });
  }
});

test('merging keeps local changes, takes new defaults elsewhere, keeps deletions', async () => {
  const s = scenario();
  try {
    const cur = await snapshotEtc(s.current);
    const nxt = await snapshotEtc(s.next);
    const diff = computeEtcDiff(await snapshotEtc(s.pristine), cur, nxt);
    await applyEtcMerge(s.current, cur, s.next, nxt, diff);
    assert.deepEqual(describe(s.next), [
      'a/ 755',
      'a/b/ 755',
      'a/b/added 644 "added in existing dir"',
      'a/b/c/ 755',
      'a/b/c/modify-perms 600 "modify-perms"',
      'a/b/file1 644 "ab-file1"',
      'a/file1 644 "a-file1 edited locally"',
      'a/file2 644 "a-file2 new default"',
      'hostname 644 "image"',
      'link -> a/file2',
      'new/ 755',
      'new/dir/ 755',
      'new/dir/file 644 "added locally"',
      'new-in-image 644 "shipped by v2"',
    ]);
  } finally {
    fs.rmSync(s.tmp, { recursive: true, force: true });
  }
});

test('file <-> directory changes are unmergeable and named', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-etc-'));
  try {
    const pristine = build(path.join(tmp, 'p'), { 'conf': 'x', 'dropins/a.conf': 'a', same: 's' });
    const current = build(path.join(tmp, 'c'), { 'conf': 'edited', 'dropins/a.conf': 'a', 'dropins/b.conf': 'local', same: 's' });
    const next = build(path.join(tmp, 'n'), { 'conf/default.conf': 'now a dir', dropins: 'now a file', same: 's' });
    const diff = computeEtcDiff(await snapshotEtc(pristine), await snapshotEtc(current), await snapshotEtc(next));
    assert.deepEqual(diff.unmergeable, [
      { path: 'conf', reason: "File 'conf' now defaults to a directory in new etc" },
      { path: 'dropins', reason: "Directory 'dropins' now defaults to a file in new etc" },
    ]);
    // A directory that is gone in the new /etc but gained local content is listed before its content.
    assert.deepEqual(diff.added, ['dropins', 'dropins/b.conf']);
    assert.deepEqual(diff.modified, ['conf']);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a missing pristine or current /etc is an empty tree; identical trees have no diff', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-etc-'));
  try {
    const a = build(path.join(tmp, 'a'), { x: '1', 'd/y': { link: '../x' } });
    const b = build(path.join(tmp, 'b'), { x: '1', 'd/y': { link: '../x' } });
    assert.deepEqual(computeEtcDiff(await snapshotEtc(a), await snapshotEtc(b), await snapshotEtc(b)), { added: [], modified: [], removed: [], unmergeable: [] });
    const none = await snapshotEtc(path.join(tmp, 'missing'));
    assert.deepEqual(computeEtcDiff(none, await snapshotEtc(a), none).added, ['d', 'd/y', 'x']);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
