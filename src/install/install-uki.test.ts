import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { buildPe } from '../boot/pe.js';
import type { UkiAddon } from '../deploy/image-content.js';
import { selectUkiAddons, ukiAddonEspPath, ukiComposefsArg } from './install-source.js';
import { usableBytes } from './space.js';

const ID = 'ab'.repeat(64);

test('ukiComposefsArg reads composefs=[?]<id> from the .cmdline section', () => {
  const pe = (cmdline: string) => buildPe([{ name: '.cmdline', data: Buffer.from(cmdline) }, { name: '.linux', data: Buffer.from('k') }]);
  assert.deepEqual(ukiComposefsArg(pe(`rw composefs=?${ID} quiet\0`), '/u.efi'), { id: ID, insecure: true });
  assert.deepEqual(ukiComposefsArg(pe(`composefs=${ID}`), '/u.efi'), { id: ID, insecure: false });
  assert.throws(() => ukiComposefsArg(pe('rw quiet'), '/boot/EFI/Linux/u.efi'), { message: 'install: the UKI /boot/EFI/Linux/u.efi has no composefs= in its .cmdline ("rw quiet")' });
  assert.throws(() => ukiComposefsArg(Buffer.from('not a PE file at all, just text that is long enough to look at'), '/u.efi'), { message: 'install: /u.efi is not a valid UKI: not a PE file (no MZ header)' });
});

test('selectUkiAddons picks the named NAME.addon.efi files and refuses unknown names', () => {
  const leaf = {} as UkiAddon['leaf'];
  const all: UkiAddon[] = [
    { path: 'u.efi.extra.d/debug.addon.efi', leaf },
    { path: 'u.efi.extra.d/quiet.addon.efi', leaf },
    { path: 'loader/addons/global.addon.efi', leaf },
    { path: 'u.efi.extra.d/other.efi', leaf },
  ];
  assert.deepEqual(selectUkiAddons(all, ['quiet', 'global'], 'oci:x').map((a) => a.path), ['u.efi.extra.d/quiet.addon.efi', 'loader/addons/global.addon.efi']);
  assert.deepEqual(selectUkiAddons(all, [], 'oci:x'), []);
  assert.throws(() => selectUkiAddons(all, ['nope'], 'oci:x'), { message: 'install: --uki-addon nope: oci:x has no nope.addon.efi next to its UKI (it has debug, quiet, global)' });
  assert.throws(() => selectUkiAddons([], ['nope'], 'oci:x'), { message: 'install: --uki-addon nope: oci:x has no nope.addon.efi next to its UKI (it has no addons)' });
});

test('ukiAddonEspPath renames a *.efi.extra.d parent to the deployment, as bootc does', () => {
  assert.equal(ukiAddonEspPath('u.efi.extra.d/debug.addon.efi', ID), `bootc_composefs-${ID}.efi.extra.d/debug.addon.efi`);
  assert.equal(ukiAddonEspPath('sub/u.efi.extra.d/debug.addon.efi', ID), `sub/bootc_composefs-${ID}.efi.extra.d/debug.addon.efi`);
  assert.equal(ukiAddonEspPath('loader/addons/global.addon.efi', ID), 'loader/addons/global.addon.efi');
});

test('usableBytes: the share of a new root partition a fresh filesystem leaves for files', () => {
  const MiB = 1024 * 1024;
  assert.deepEqual([usableBytes('ext4', 512 * MiB), usableBytes('xfs', 512 * MiB), usableBytes('btrfs', 512 * MiB)], [Math.floor(512 * MiB * 0.92), Math.floor(512 * MiB * 0.78), Math.floor(512 * MiB * 0.8)]);
});
