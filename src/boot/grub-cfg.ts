/**
 * Owns GRUB classic + UKI configuration: `grub2/user.cfg` (a header that
 * sources `efiuuid.cfg`, then one chainloading menuentry per deployment; the
 * first is the default) and `grub2/efiuuid.cfg`. Pure parse/format pairs,
 * byte-compatible with bootc's `parsers/grub_menuconfig.rs` (§3.2).
 */
import { FormatError } from '../util/errors.js';
import { BOOTC_UKI_DIR, EFI_UUID_FILE, UKI_EXT, ARTIFACT_PREFIX } from './constants.js';

export interface MenuEntry {
  title: string;
  insmod: string[];
  search: string;
  chainloader: string;
  /** Other `key value` lines, kept in order. */
  extra: Array<[string, string]>;
}

/** What bootc writes before the menuentries. */
export const USER_CFG_HEADER = `\nif [ -f \${config_directory}/${EFI_UUID_FILE} ]; then\n        source \${config_directory}/${EFI_UUID_FILE}\nfi\n`;
export const EFI_PART_SEARCH = '--no-floppy --set=root --fs-uuid "${EFI_PART_UUID}"';

export function newMenuEntry(bootLabel: string, verity: string): MenuEntry {
  return {
    title: `${bootLabel}: (${verity})`,
    insmod: ['fat', 'chain'],
    search: EFI_PART_SEARCH,
    chainloader: `/${BOOTC_UKI_DIR}/${ARTIFACT_PREFIX}${verity}${UKI_EXT}`,
    extra: [],
  };
}

export function formatMenuEntry(m: MenuEntry): string {
  const lines = [`menuentry "${m.title}" {`, ...m.insmod.map((i) => `insmod ${i}`), `search ${m.search}`, `chainloader ${m.chainloader}`];
  for (const [k, v] of m.extra) lines.push(`${k} ${v}`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

export function formatUserCfg(entries: readonly MenuEntry[]): string {
  return USER_CFG_HEADER + entries.map(formatMenuEntry).join('');
}

/** Parses every `menuentry "title" { … }` block; anything outside blocks is ignored. */
export function parseUserCfg(text: string): MenuEntry[] {
  const out: MenuEntry[] = [];
  let i = 0;
  for (;;) {
    const at = text.indexOf('menuentry', i);
    if (at < 0) break;
    let p = at + 'menuentry'.length;
    while (p < text.length && /\s/.test(text[p] ?? '')) p++;
    if (text[p] !== '"') throw new FormatError(`menuentry at offset ${at}: expected a quoted title`);
    const endTitle = text.indexOf('"', p + 1);
    if (endTitle < 0) throw new FormatError(`menuentry at offset ${at}: unterminated title`);
    const title = text.slice(p + 1, endTitle);
    p = endTitle + 1;
    while (p < text.length && /\s/.test(text[p] ?? '')) p++;
    if (text[p] !== '{') throw new FormatError(`menuentry "${title}": expected '{'`);
    const close = findBalanced(text, p + 1);
    if (close < 0) throw new FormatError(`menuentry "${title}": unbalanced braces`);
    out.push(parseBody(title, text.slice(p + 1, close)));
    i = close + 1;
  }
  return out;
}

function findBalanced(text: string, from: number): number {
  let depth = 0;
  for (let p = from; p < text.length; p++) {
    const c = text[p];
    if (c === '\\') p++;
    else if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return p;
      depth--;
    }
  }
  return -1;
}

function parseBody(title: string, body: string): MenuEntry {
  const m: MenuEntry = { title, insmod: [], search: '', chainloader: '', extra: [] };
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const key = line.slice(0, sp);
    const value = line.slice(sp + 1).trim();
    if (key === 'insmod') m.insmod.push(value);
    else if (key === 'search') m.search = value;
    else if (key === 'chainloader') m.chainloader = value;
    else if (key !== 'set') m.extra.push([key, value]);
  }
  return m;
}

export function formatEfiUuidCfg(uuid: string): string {
  return `set EFI_PART_UUID="${uuid.trim()}"`;
}

export function parseEfiUuidCfg(text: string): string {
  const m = /^\s*set\s+EFI_PART_UUID="([^"]*)"\s*$/m.exec(text);
  if (m === null || m[1] === undefined) throw new FormatError('expected set EFI_PART_UUID="<uuid>"');
  return m[1];
}
