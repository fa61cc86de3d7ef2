import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyKargsDelta, collectKargs, parseKargsToml, readKargsD, rustArch } from './kargs-d.js';
import { Root } from '../sys/root.js';

test('kargs.d files: architecture matching and strict fields', () => {
  assert.deepEqual(parseKargsToml('kargs = ["console=tty0", "nosmt"]', 'x86_64', 'a.toml'), ['console=tty0', 'nosmt']);
  assert.deepEqual(parseKargsToml('kargs = ["a"]\nmatch-architectures = ["x86_64"]', 'x86_64', 'a.toml'), ['a']);
  assert.equal(parseKargsToml('kargs = ["a"]\nmatch-architectures = ["aarch64"]', 'x86_64', 'a.toml'), undefined);
  assert.deepEqual(parseKargsToml('kargs = ["a b", "c=\\"d e\\""]\nmatch-architectures = ["x86_64", "aarch64"]', 'aarch64', 'a.toml'), ['a', 'b', 'c="d e"']);
  assert.throws(() => parseKargsToml('kargs = ["a"]\nfoo = 1', 'x86_64', '10-x.toml'), { message: 'Parsing 10-x.toml: unknown field `foo`, expected `kargs` or `match-architectures`' });
  assert.throws(() => parseKargsToml('match-architectures = ["x86_64"]', 'x86_64', 'b.toml'), { message: 'Parsing b.toml: missing field `kargs`' });
  assert.throws(() => parseKargsToml('kargs = "a"', 'x86_64', 'c.toml'), { message: 'Parsing c.toml: `kargs` must be an array of strings' });
  assert.throws(() => parseKargsToml('kargs = [', 'x86_64', 'd.toml'), { message: 'Parsing d.toml: Unterminated inline array at row 1, col 11, pos 10:' });
  assert.equal(rustArch('x64'), 'x86_64');
  assert.equal(rustArch('arm64'), 'aarch64');
});

test('files are read in name order, non-toml ignored', async () => {
  assert.deepEqual(collectKargs([{ name: '20-b.toml', text: 'kargs = ["b"]' }, { name: '10-a.toml', text: 'kargs = ["a"]' }, { name: 'README', text: 'junk' }], 'x86_64'), ['a', 'b']);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-kargs-'));
  try {
    const d = path.join(tmp, 'usr/lib/bootc/kargs.d');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, '02-bar.toml'), 'kargs = ["bar", "bar2"]');
    fs.writeFileSync(path.join(d, '01-foo.toml'), 'kargs = ["foo=1"]');
    fs.writeFileSync(path.join(d, 'other.conf'), 'not toml');
    assert.deepEqual(await readKargsD(new Root(tmp), 'x86_64'), ['foo=1', 'bar', 'bar2']);
    assert.deepEqual(await readKargsD(new Root(path.join(tmp, 'nothing')), 'x86_64'), []);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('upgrade delta: image kargs follow the image, user kargs stay', () => {
  const booted = ['root=UUID=1', 'rw', 'composefs=abc', 'quiet', 'old=1', 'mine=x'];
  assert.deepEqual(applyKargsDelta(booted, ['quiet', 'old=1'], ['quiet', 'new=2']), ['root=UUID=1', 'rw', 'composefs=abc', 'quiet', 'mine=x', 'new=2']);
  assert.deepEqual(applyKargsDelta(['a', 'b'], [], ['b', 'c']), ['a', 'b', 'c']);
  assert.deepEqual(applyKargsDelta(['a', 'b'], ['a', 'b'], []), []);
});
