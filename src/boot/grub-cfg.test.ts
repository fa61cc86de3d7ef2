import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatEfiUuidCfg, formatUserCfg, newMenuEntry, parseEfiUuidCfg, parseUserCfg } from './grub-cfg.js';
import { buildPe, parseOsRelease, readPeSections, ukiBootDigest, ukiBootLabel } from './pe.js';
import { createHash } from 'node:crypto';

const A = 'a'.repeat(128);
const B = 'b'.repeat(128);
const GOLDEN =
  '\nif [ -f ${config_directory}/efiuuid.cfg ]; then\n        source ${config_directory}/efiuuid.cfg\nfi\n' +
  `menuentry "Fedora Linux 44 44: (${A})" {\ninsmod fat\ninsmod chain\nsearch --no-floppy --set=root --fs-uuid "\${EFI_PART_UUID}"\nchainloader /EFI/Linux/bootc/bootc_composefs-${A}.efi\n}\n` +
  `menuentry "Fedora Linux 43 43: (${B})" {\ninsmod fat\ninsmod chain\nsearch --no-floppy --set=root --fs-uuid "\${EFI_PART_UUID}"\nchainloader /EFI/Linux/bootc/bootc_composefs-${B}.efi\n}\n`;

test('user.cfg: bootc bytes and round trip', () => {
  const text = formatUserCfg([newMenuEntry('Fedora Linux 44 44', A), newMenuEntry('Fedora Linux 43 43', B)]);
  assert.equal(text, GOLDEN);
  assert.equal(formatUserCfg(parseUserCfg(text)), GOLDEN);
});

test('user.cfg: indented input, comments, nested braces, set lines and extra keys', () => {
  const input = `  # c\n  menuentry "X: (${A})" {\n    insmod fat\n    # skipped\n    set foo=1\n    if [ x ]; then { echo } fi\n    search --fs-uuid "\${EFI_PART_UUID}"\n    chainloader /EFI/Linux/bootc/bootc_composefs-${A}.efi\n  }\n`;
  const [m] = parseUserCfg(input);
  assert.deepEqual(m, { title: `X: (${A})`, insmod: ['fat'], search: '--fs-uuid "${EFI_PART_UUID}"', chainloader: `/EFI/Linux/bootc/bootc_composefs-${A}.efi`, extra: [['if', '[ x ]; then { echo } fi']] });
  assert.throws(() => parseUserCfg('menuentry "x" {\ninsmod fat\n'), /unbalanced braces/);
  assert.throws(() => parseUserCfg('menuentry x {}'), /expected a quoted title/);
});

test('efiuuid.cfg: bootc bytes (no trailing newline)', () => {
  assert.equal(formatEfiUuidCfg('ABCD-1234\n'), 'set EFI_PART_UUID="ABCD-1234"');
  assert.equal(parseEfiUuidCfg('set EFI_PART_UUID="ABCD-1234"'), 'ABCD-1234');
  assert.throws(() => parseEfiUuidCfg('set X=1'), /expected set EFI_PART_UUID/);
});

test('pe: sections, UKI boot digest and boot label', () => {
  const osrel = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=44\nPRETTY_NAME="Fedora Linux 44 (Forty Four)"\n';
  const pe = buildPe([
    { name: '.osrel', data: Buffer.from(osrel) },
    { name: '.cmdline', data: Buffer.from(`composefs=${A} rw`) },
    { name: '.linux', data: Buffer.from('KERNEL') },
    { name: '.initrd', data: Buffer.from('INITRD') },
  ]);
  assert.deepEqual(readPeSections(pe).map((s) => [s.name, s.data.toString()]), [['.osrel', osrel], ['.cmdline', `composefs=${A} rw`], ['.linux', 'KERNEL'], ['.initrd', 'INITRD']]);
  assert.equal(ukiBootDigest(pe), createHash('sha256').update('KERNELINITRD').digest('hex'));
  assert.equal(ukiBootLabel(parseOsRelease(osrel)), 'Fedora Linux 44 (Forty Four) 44');
  assert.throws(() => readPeSections(Buffer.alloc(100)), /not a PE file/);
});
