/**
 * Owns Boot Loader Specification Type #1 entry files (`loader/entries/*.conf`):
 * a pure parse/format pair matching bootc's `parsers/bls_config.rs` (§3.2).
 * Output field order: title, version, then either linux/initrd…/options or
 * efi|uki, then machine-id, sort-key, then unknown keys in the order read.
 */
import { FormatError } from '../util/errors.js';

export type EfiKey = 'efi' | 'uki';

export interface BlsEntry {
  title: string | undefined;
  version: string;
  /** Type1: kernel path (absolute within the partition holding it). */
  linux: string | undefined;
  initrd: string[];
  options: string | undefined;
  /** UKI path and the key it was written with (`uki` for systemd ≥ 258, else `efi`). */
  efi: string | undefined;
  efiKey: EfiKey;
  machineId: string | undefined;
  sortKey: string | undefined;
  /** Keys bootc does not know, kept in order. */
  extra: Array<[string, string]>;
}

export function parseBls(text: string): BlsEntry {
  const e: BlsEntry = {
    title: undefined,
    version: '',
    linux: undefined,
    initrd: [],
    options: undefined,
    efi: undefined,
    efiKey: 'efi',
    machineId: undefined,
    sortKey: undefined,
    extra: [],
  };
  let version: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.search(/\s/);
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1).trim();
    switch (key) {
      case 'title':
        e.title = value;
        break;
      case 'version':
        version = value;
        break;
      case 'linux':
        e.linux = value;
        break;
      case 'initrd':
        e.initrd.push(value);
        break;
      case 'options':
        e.options = e.options === undefined ? value : `${e.options} ${value}`;
        break;
      case 'efi':
      case 'uki':
        e.efi = value;
        e.efiKey = key;
        break;
      case 'machine-id':
        e.machineId = value;
        break;
      case 'sort-key':
        e.sortKey = value;
        break;
      default:
        e.extra.push([key, value]);
    }
  }
  if (version === undefined) throw new FormatError('missing version');
  e.version = version;
  if (e.linux === undefined && e.efi === undefined) throw new FormatError('neither linux nor efi/uki given');
  if (e.linux !== undefined && e.efi !== undefined) throw new FormatError(`both linux and ${e.efiKey} given`);
  return e;
}

export function formatBls(e: BlsEntry): string {
  const lines: string[] = [];
  if (e.title !== undefined) lines.push(`title ${e.title}`);
  lines.push(`version ${e.version}`);
  if (e.linux !== undefined) {
    lines.push(`linux ${e.linux}`);
    for (const i of e.initrd) lines.push(`initrd ${i}`);
    if (e.options !== undefined) lines.push(`options ${e.options}`);
  } else if (e.efi !== undefined) {
    lines.push(`${e.efiKey} ${e.efi}`);
  }
  if (e.machineId !== undefined) lines.push(`machine-id ${e.machineId}`);
  if (e.sortKey !== undefined) lines.push(`sort-key ${e.sortKey}`);
  for (const [k, v] of e.extra) lines.push(v === '' ? k : `${k} ${v}`);
  return lines.join('\n') + '\n';
}

export function isUkiEntry(e: BlsEntry): boolean {
  return e.efi !== undefined;
}

/** A fresh Type1 entry. */
export function type1Entry(f: { title: string; version: string; linux: string; initrd: string[]; options: string; sortKey: string }): BlsEntry {
  return { title: f.title, version: f.version, linux: f.linux, initrd: f.initrd, options: f.options, efi: undefined, efiKey: 'efi', machineId: undefined, sortKey: f.sortKey, extra: [] };
}

/** A fresh UKI entry. */
export function ukiEntry(f: { title: string; version: string; efi: string; efiKey: EfiKey; sortKey: string }): BlsEntry {
  return { title: f.title, version: f.version, linux: undefined, initrd: [], options: undefined, efi: f.efi, efiKey: f.efiKey, machineId: undefined, sortKey: f.sortKey, extra: [] };
}
