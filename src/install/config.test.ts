import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadInstallConfig, mergeInstallConfig, parseInstallConfig, printableInstallConfig } from './config.js';
import { Root } from '../sys/root.js';
import { canonicalJson } from '../util/canonical-json.js';

function fakeRoot(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbootc-icfg-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

test('drop-ins merge in name order; later bases replace same-named files; kargs append', async () => {
  const dir = fakeRoot({
    'usr/lib/bootc/install/00-base.toml': '[install]\nroot-fs-type = "xfs"\nkargs = ["a"]\nbootloader = "grub"\n',
    'usr/lib/bootc/install/10-arch.toml': '[install]\nmatch-architectures = ["aarch64"]\nbootloader = "none"\n',
    'usr/lib/bootc/install/20-over.toml': '[install]\nkargs = ["b"]\n[install.filesystem.root]\ntype = "ext4"\n',
    'etc/bootc/install/20-over.toml': '[install]\nkargs = ["c"]\n[install.bootupd]\nskip-boot-uuid = true\n',
    'usr/lib/bootc/install/README': 'ignored',
  });
  try {
    const c = await loadInstallConfig(new Root(dir), 'x86_64');
    assert.deepEqual(c, { 'root-fs-type': 'xfs', kargs: ['a', 'c'], bootloader: 'grub', bootupd: { 'skip-boot-uuid': true }, filesystem: { root: { type: 'xfs' } }, block: ['direct'] });
    assert.equal(
      canonicalJson(printableInstallConfig(c, false)),
      '{"block":["direct"],"boot-mount-spec":null,"bootloader":"grub","bootupd":{"skip-boot-uuid":true},"discoverable-partitions":null,"enforce-container-sigpolicy":null,"filesystem":{"root":{"type":"xfs"}},"match-architectures":null,"ostree":null,"root-fs-type":"xfs","root-mount-spec":null,"stateroot":null}',
    );
    assert.deepEqual(printableInstallConfig(c, true)['kargs'], ['a', 'c']);
    const arm = await loadInstallConfig(new Root(dir), 'aarch64');
    assert.equal(arm?.bootloader, 'none');
    assert.equal(await loadInstallConfig(new Root(path.join(dir, 'nothing')), 'x86_64'), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('filesystem.root.type wins over root-fs-type', () => {
  const a = parseInstallConfig('[install]\nroot-fs-type = "xfs"', 'a.toml') ?? {};
  const b = parseInstallConfig('[install.filesystem.root]\ntype = "btrfs"', 'b.toml') ?? {};
  assert.deepEqual(mergeInstallConfig(a, b, 'x86_64'), { 'root-fs-type': 'xfs', filesystem: { root: { type: 'btrfs' } } });
});

test('bad drop-ins name the file and the key', () => {
  assert.throws(() => parseInstallConfig('[install]\nfrobnicate = 1', '/usr/lib/bootc/install/x.toml'), { message: 'Parsing /usr/lib/bootc/install/x.toml: unknown field `install.frobnicate`' });
  assert.throws(() => parseInstallConfig('[install]\nroot-fs-type = "zfs"', 'y.toml'), { message: 'Parsing y.toml: install.root-fs-type: unknown value "zfs", expected one of xfs, ext4, btrfs' });
  assert.throws(() => parseInstallConfig('[install]\nblock = ["direct", "lvm"]', 'z.toml'), { message: 'Parsing z.toml: install.block[1]: unknown value "lvm", expected one of direct, tpm2-luks' });
  assert.throws(() => parseInstallConfig('[other]\nx = 1', 'w.toml'), { message: 'Parsing w.toml: unknown field `other`, expected `install`' });
  assert.equal(parseInstallConfig('', 'empty.toml'), undefined);
});
