import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../helpers/run-cli.js';

test('install print-configuration prints the merged configuration of --root as canonical JSON', () => {
  const root = tempDir();
  fs.mkdirSync(path.join(root, 'usr/lib/bootc/install'), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/lib/bootc/install/00-os.toml'), '[install]\nkargs = ["console=ttyS0"]\n[install.filesystem.root]\ntype = "ext4"\n');
  const r = runCli(['--root', root, 'install', 'print-configuration', '--all']);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(
    r.stdout,
    '{"block":["direct"],"boot-mount-spec":null,"bootloader":null,"bootupd":null,"discoverable-partitions":null,"enforce-container-sigpolicy":null,"filesystem":{"root":{"type":"ext4"}},"kargs":["console=ttyS0"],"match-architectures":null,"ostree":null,"root-fs-type":"ext4","root-mount-spec":null,"stateroot":null}\n',
  );
  fs.writeFileSync(path.join(root, 'usr/lib/bootc/install/01-bad.toml'), '[install]\nbootloader = "lilo"\n');
  const bad = runCli(['--root', root, 'install', 'print-configuration']);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, 'error: Loading install configuration: Parsing /usr/lib/bootc/install/01-bad.toml: install.bootloader: unknown value "lilo", expected one of grub, grub-cc, systemd, none\n');
});
