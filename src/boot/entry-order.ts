/**
 * Owns the names and the order of boot entries (bootc.md §3.1, §3.5):
 * `bootc_<os>-<version>-<prio>.conf` file names, `bootc-<os>-<0|1>` sort
 * keys, which deployment (verity) and which boot artifact an entry points at,
 * and the order each bootloader shows entries in (its first = the default).
 */
import * as path from 'node:path';
import type { Bootloader } from './constants.js';
import { ARTIFACT_PREFIX, CONF_EXT, UKI_EXT } from './constants.js';
import { findKarg } from './cmdline.js';
import type { BlsEntry } from './bls.js';

export function confFileName(osId: string, version: string, prio: number): string {
  return `bootc_${osId.replace(/-/g, '_')}-${version}-${prio}${CONF_EXT}`;
}

export function primarySortKey(osId: string): string {
  return `bootc-${osId}-0`;
}
export function secondarySortKey(osId: string): string {
  return `bootc-${osId}-1`;
}

/** The os_id of a bootc sort key (`bootc-<os>-<n>`), keeping its dashes. */
export function osIdFromSortKey(sortKey: string | undefined): string | undefined {
  const m = sortKey === undefined ? null : /^bootc-(.+)-[01]$/.exec(sortKey);
  return m?.[1];
}

/** The artifact name (kernel dir or UKI stem, prefix removed) an entry references. */
export function artifactOfPath(p: string, uki: boolean): { name: string; prefixed: boolean } {
  const base = uki ? path.posix.basename(p).replace(/\.efi$/, '') : path.posix.basename(path.posix.dirname(p));
  return base.startsWith(ARTIFACT_PREFIX) ? { name: base.slice(ARTIFACT_PREFIX.length), prefixed: true } : { name: base, prefixed: false };
}

export interface EntryTarget {
  /** The deployment id (`composefs=` value or UKI name). */
  verity: string | undefined;
  /** Kernel dir / UKI name minus prefix; may differ from verity (shared kernels). */
  artifact: string;
  prefixed: boolean;
  missingVerityAllowed: boolean;
}

/** What a BLS entry points at. UKI verity comes from the file name (bootc `get_verity`). */
export function blsEntryTarget(e: BlsEntry): EntryTarget {
  if (e.efi !== undefined) {
    const a = artifactOfPath(e.efi, true);
    return { verity: a.prefixed || isVerityHex(a.name) ? a.name : undefined, artifact: a.name, prefixed: a.prefixed, missingVerityAllowed: false };
  }
  const a = artifactOfPath(e.linux ?? '', false);
  const v = findKarg(e.options ?? '', 'composefs');
  const missing = v?.startsWith('?') ?? false;
  const verity = v === undefined || v === '' ? undefined : missing ? v.slice(1) : v;
  return { verity, artifact: a.name, prefixed: a.prefixed, missingVerityAllowed: missing };
}

/** A deployment id: 128 hex digits (64 for the sha256 repos of early bootc). */
export function isVerityHex(s: string): boolean {
  return /^(?:[0-9a-f]{64}|[0-9a-f]{128})$/.test(s);
}

/** What a GRUB menuentry points at (`chainloader …/<name>.efi`). */
export function menuEntryTarget(chainloader: string): EntryTarget {
  const a = artifactOfPath(chainloader, true);
  return { verity: a.prefixed || isVerityHex(a.name) ? a.name : undefined, artifact: a.name, prefixed: a.prefixed, missingVerityAllowed: false };
}

/** rpmvercmp: segments of digits compare numerically, letters lexically, `~` sorts first. */
export function rpmVerCmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !/[A-Za-z0-9~^]/.test(a[i]!)) i++;
    while (j < b.length && !/[A-Za-z0-9~^]/.test(b[j]!)) j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = /[0-9]/.test(a[i]!);
    const re = numeric ? /^[0-9]+/ : /^[A-Za-z]+/;
    const sa = re.exec(a.slice(i))?.[0] ?? '';
    const sb = re.exec(b.slice(j))?.[0] ?? '';
    if (sb === '') return numeric ? 1 : -1;
    i += sa.length;
    j += sb.length;
    if (numeric) {
      const na = sa.replace(/^0+/, '');
      const nb = sb.replace(/^0+/, '');
      if (na.length !== nb.length) return na.length > nb.length ? 1 : -1;
      if (na !== nb) return na > nb ? 1 : -1;
    } else if (sa !== sb) return sa > sb ? 1 : -1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** Splits `name-version-release` the way GRUB's blscfg does (from the right). */
export function splitNvr(stem: string): { name: string; version: string; release: string } {
  const r = stem.lastIndexOf('-');
  if (r < 0) return { name: stem, version: '', release: '' };
  const v = stem.lastIndexOf('-', r - 1);
  if (v < 0) return { name: '', version: stem.slice(0, r), release: stem.slice(r + 1) };
  return { name: stem.slice(0, v), version: stem.slice(v + 1, r), release: stem.slice(r + 1) };
}

function nvrCmp(a: string, b: string): number {
  const x = splitNvr(a.replace(/\.conf$/, ''));
  const y = splitNvr(b.replace(/\.conf$/, ''));
  return rpmVerCmp(x.name, y.name) || rpmVerCmp(x.version, y.version) || rpmVerCmp(x.release, y.release);
}

export interface NamedBlsEntry {
  fileName: string;
  entry: BlsEntry;
}

/**
 * Entries in the order the bootloader shows them; the first is what it boots
 * by default. systemd-boot: entries with a sort-key first, by sort-key
 * ascending, then version descending; GRUB (blscfg) and grub-cc: by file name
 * parsed as name-version-release, descending (sort-key ignored).
 */
export function sortBlsEntries<T extends NamedBlsEntry>(entries: readonly T[], bootloader: Bootloader): T[] {
  const out = [...entries];
  if (bootloader === 'systemd') {
    out.sort((a, b) => {
      const ka = a.entry.sortKey;
      const kb = b.entry.sortKey;
      if ((ka === undefined) !== (kb === undefined)) return ka === undefined ? 1 : -1;
      if (ka !== undefined && kb !== undefined && ka !== kb) return ka < kb ? -1 : 1;
      return rpmVerCmp(b.entry.version, a.entry.version) || (a.fileName < b.fileName ? 1 : a.fileName > b.fileName ? -1 : 0);
    });
  } else {
    out.sort((a, b) => nvrCmp(b.fileName, a.fileName));
  }
  return out;
}

export function isUkiPath(p: string): boolean {
  return p.endsWith(UKI_EXT);
}
