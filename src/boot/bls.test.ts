import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatBls, parseBls, type1Entry, ukiEntry } from './bls.js';
import { blsEntryTarget, confFileName, osIdFromSortKey, primarySortKey, rpmVerCmp, secondarySortKey, sortBlsEntries, splitNvr } from './entry-order.js';

const V = 'f'.repeat(128);
const TYPE1 =
  'title Fedora Linux 44 (Forty Four)\nversion 44\n' +
  `linux /boot/bootc_composefs-${V}/vmlinuz\ninitrd /boot/bootc_composefs-${V}/initrd\n` +
  `options root=UUID=1234 rw composefs=${V} console=ttyS0,115200n8\nsort-key bootc-fedora-0\n`;

test('bls: Type1 entry serializes in bootc field order', () => {
  const e = type1Entry({
    title: 'Fedora Linux 44 (Forty Four)',
    version: '44',
    linux: `/boot/bootc_composefs-${V}/vmlinuz`,
    initrd: [`/boot/bootc_composefs-${V}/initrd`],
    options: `root=UUID=1234 rw composefs=${V} console=ttyS0,115200n8`,
    sortKey: primarySortKey('fedora'),
  });
  assert.equal(formatBls(e), TYPE1);
  assert.equal(formatBls(parseBls(TYPE1)), TYPE1);
});

test('bls: UKI entry with uki and efi keys', () => {
  const e = ukiEntry({ title: 'Fedora Linux 44', version: '44', efi: `/EFI/Linux/bootc/bootc_composefs-${V}.efi`, efiKey: 'uki', sortKey: secondarySortKey('fedora') });
  const text = `title Fedora Linux 44\nversion 44\nuki /EFI/Linux/bootc/bootc_composefs-${V}.efi\nsort-key bootc-fedora-1\n`;
  assert.equal(formatBls(e), text);
  assert.equal(formatBls(parseBls(text.replace('uki ', 'efi '))), text.replace('uki ', 'efi '));
  assert.deepEqual(blsEntryTarget(parseBls(text)), { verity: V, artifact: V, prefixed: true, missingVerityAllowed: false });
});

test('bls: unknown keys, comments and field order on input are normalized; unknown keys are kept last', () => {
  const input = `# comment\nsort-key bootc-fedora-0\narchitecture x64\nversion 44\ntitle T\noptions composefs=?${V} rw\nlinux /EFI/Linux/bootc_composefs-abc/vmlinuz\ninitrd /a\ninitrd /b\nmachine-id 0123\ngrub_users $grub_users\n`;
  const e = parseBls(input);
  assert.equal(
    formatBls(e),
    `title T\nversion 44\nlinux /EFI/Linux/bootc_composefs-abc/vmlinuz\ninitrd /a\ninitrd /b\noptions composefs=?${V} rw\nmachine-id 0123\nsort-key bootc-fedora-0\narchitecture x64\ngrub_users $grub_users\n`,
  );
  assert.deepEqual(blsEntryTarget(e), { verity: V, artifact: 'abc', prefixed: true, missingVerityAllowed: true });
});

test('bls: malformed entries are rejected', () => {
  assert.throws(() => parseBls('title x\nlinux /v\n'), /missing version/);
  assert.throws(() => parseBls('version 1\n'), /neither linux nor efi\/uki/);
  assert.throws(() => parseBls('version 1\nlinux /a\nefi /b\n'), /both linux and efi/);
});

test('bls: legacy unprefixed artifacts and foreign entries', () => {
  const legacy = parseBls(`version 1\nlinux /boot/${V}/vmlinuz\noptions composefs=${V}\n`);
  assert.deepEqual(blsEntryTarget(legacy), { verity: V, artifact: V, prefixed: false, missingVerityAllowed: false });
  const fwupd = parseBls('title fwupd\nversion 1\nefi /EFI/fedora/fwupdx64.efi\n');
  assert.deepEqual(blsEntryTarget(fwupd), { verity: undefined, artifact: 'fwupdx64', prefixed: false, missingVerityAllowed: false });
});

test('entry names: file names replace dashes in os_id, sort keys keep them', () => {
  assert.equal(confFileName('centos-stream', '10.20250101', 1), 'bootc_centos_stream-10.20250101-1.conf');
  assert.equal(primarySortKey('centos-stream'), 'bootc-centos-stream-0');
  assert.equal(osIdFromSortKey('bootc-centos-stream-1'), 'centos-stream');
  assert.equal(osIdFromSortKey('fedora-1'), undefined);
  assert.deepEqual(splitNvr('bootc_fedora-44.1-1'), { name: 'bootc_fedora', version: '44.1', release: '1' });
});

test('rpmVerCmp follows rpm ordering', () => {
  const cases: Array<[string, string, number]> = [
    ['1.0', '1.0', 0], ['1.0', '1.1', -1], ['1.10', '1.9', 1], ['1.0a', '1.0', 1], ['1.0~rc1', '1.0', -1],
    ['44.20250101.0', '44.20241231.0', 1], ['a', '1', -1], ['001', '1', 0],
  ];
  for (const [a, b, want] of cases) assert.equal(Math.sign(rpmVerCmp(a, b)), want, `${a} vs ${b}`);
});

test('ordering: systemd-boot by sort-key then version; GRUB by file name NVR descending', () => {
  const mk = (fileName: string, sortKey: string | undefined, version: string) => ({ fileName, entry: { ...parseBls(`version ${version}\nlinux /x/vmlinuz\n`), sortKey } });
  const entries = [
    mk('bootc_fedora-43-0.conf', 'bootc-fedora-1', '43'),
    mk('memtest.conf', undefined, '7'),
    mk('bootc_fedora-44-1.conf', 'bootc-fedora-0', '44'),
  ];
  assert.deepEqual(sortBlsEntries(entries, 'systemd').map((e) => e.fileName), ['bootc_fedora-44-1.conf', 'bootc_fedora-43-0.conf', 'memtest.conf']);
  assert.deepEqual(sortBlsEntries(entries, 'grub').map((e) => e.fileName), ['memtest.conf', 'bootc_fedora-44-1.conf', 'bootc_fedora-43-0.conf']);
  // GRUB compares version before release: switching to a lower version makes the old entry the default (bootc issue material).
  const downgrade = [mk('bootc_fedora-43-1.conf', 'bootc-fedora-0', '43'), mk('bootc_fedora-44-0.conf', 'bootc-fedora-1', '44')];
  assert.deepEqual(sortBlsEntries(downgrade, 'grub').map((e) => e.fileName), ['bootc_fedora-44-0.conf', 'bootc_fedora-43-1.conf']);
  assert.deepEqual(sortBlsEntries(downgrade, 'systemd').map((e) => e.fileName), ['bootc_fedora-43-1.conf', 'bootc_fedora-44-0.conf']);
});
