/**
 * Owns choosing the BLS key of a UKI entry (bootc.md §3.2, bootc
 * `EFIKey::for_bootloader`, test readonly/053-test-efi-uki-key): `uki` when
 * the host's `bootctl --version` reports systemd ≥ 258, else `efi`; a
 * missing or failing bootctl means `efi`; grub-cc always uses `efi`. A verb
 * reads the version once at its start (readBootctlVersion) and passes the
 * number down as a value; nothing here caches it (style.md §5).
 */
import type { Runner } from '../sys/runner.js';
import type { EfiKey } from './bls.js';
import type { Bootloader } from './constants.js';

/** The first systemd release whose systemd-boot understands the `uki` key. */
export const UKI_KEY_MIN_SYSTEMD = 258;

/** The systemd major version from `bootctl --version` (`systemd 257 (257.7-1.fc44)`), if the text has one. */
export function parseBootctlVersion(stdout: string): number | undefined {
  const m = /^systemd (\d+)\b/m.exec(stdout);
  return m === null ? undefined : Number(m[1]);
}

/** The systemd version of the host's bootctl; undefined when bootctl is missing, fails or prints no version. */
export async function readBootctlVersion(run: Runner): Promise<number | undefined> {
  try {
    const r = await run.run(['bootctl', '--version'], { allowFailure: true });
    return r.exitCode === 0 ? parseBootctlVersion(r.stdout) : undefined;
  } catch {
    return undefined; // not installed
  }
}

export function efiKeyFor(bootloader: Bootloader, systemdVersion: number | undefined): EfiKey {
  if (bootloader !== 'systemd') return 'efi';
  return systemdVersion !== undefined && systemdVersion >= UKI_KEY_MIN_SYSTEMD ? 'uki' : 'efi';
}
