/**
 * Owns the install configuration: `bootc/install/*.toml` drop-ins under
 * /usr/lib, /usr/local/lib, /etc and /run (systemd semantics: a file in a later
 * base replaces the same name in an earlier one; files apply in name order,
 * later values override, kargs append), `[install]` with kebab-case keys, and
 * the canonical JSON `install print-configuration` prints.
 */
import TOML from '@iarna/toml';
import { FormatError, withContext } from '../util/errors.js';
import type { Root } from '../sys/root.js';

export const INSTALL_CONFIG_BASES = ['/usr/lib', '/usr/local/lib', '/etc', '/run'] as const;
export const INSTALL_CONFIG_SUBDIR = 'bootc/install';

export type Filesystem = 'xfs' | 'ext4' | 'btrfs';
export type BlockSetup = 'direct' | 'tpm2-luks';
export type BootloaderName = 'grub' | 'grub-cc' | 'systemd' | 'none';

export interface InstallConfig {
  'root-fs-type'?: Filesystem;
  block?: BlockSetup[];
  filesystem?: { root?: { type?: Filesystem } };
  kargs?: string[];
  'karg-deletes'?: string[];
  'match-architectures'?: string[];
  ostree?: { 'bls-append-except-default'?: string };
  stateroot?: string;
  'root-mount-spec'?: string;
  'boot-mount-spec'?: string;
  bootupd?: { 'skip-boot-uuid'?: boolean };
  bootloader?: BootloaderName;
  'discoverable-partitions'?: boolean;
  'enforce-container-sigpolicy'?: boolean;
}

const FILESYSTEMS: readonly string[] = ['xfs', 'ext4', 'btrfs'];
const BLOCKS: readonly string[] = ['direct', 'tpm2-luks'];
const BOOTLOADERS: readonly string[] = ['grub', 'grub-cc', 'systemd', 'none'];

type Check = (v: unknown, key: string) => unknown;
const str: Check = (v, k) => {
  if (typeof v !== 'string') throw new FormatError(`${k}: expected a string`);
  return v;
};
const bool: Check = (v, k) => {
  if (typeof v !== 'boolean') throw new FormatError(`${k}: expected a boolean`);
  return v;
};
const strArray: Check = (v, k) => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new FormatError(`${k}: expected an array of strings`);
  return [...v];
};
const oneOf = (allowed: readonly string[]): Check => (v, k) => {
  if (typeof v !== 'string' || !allowed.includes(v)) throw new FormatError(`${k}: unknown value ${JSON.stringify(v)}, expected one of ${allowed.join(', ')}`);
  return v;
};
const arrayOf = (allowed: readonly string[]): Check => (v, k) => (strArray(v, k) as string[]).map((x, i) => oneOf(allowed)(x, `${k}[${i}]`));
const table = (fields: Record<string, Check>): Check => (v, k) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormatError(`${k}: expected a table`);
  const out: Record<string, unknown> = {};
  for (const [key, val] of Object.entries(v)) {
    const check = fields[key];
    if (check === undefined) throw new FormatError(`unknown field \`${k}.${key}\``);
    out[key] = check(val, `${k}.${key}`);
  }
  return out;
};

const INSTALL_FIELDS: Record<string, Check> = {
  'root-fs-type': oneOf(FILESYSTEMS),
  block: arrayOf(BLOCKS),
  filesystem: table({ root: table({ type: oneOf(FILESYSTEMS) }) }),
  kargs: strArray,
  'karg-deletes': strArray,
  'match-architectures': strArray,
  ostree: table({ 'bls-append-except-default': str }),
  stateroot: str,
  'root-mount-spec': str,
  'boot-mount-spec': str,
  bootupd: table({ 'skip-boot-uuid': bool }),
  bootloader: oneOf(BOOTLOADERS),
  'discoverable-partitions': bool,
  'enforce-container-sigpolicy': bool,
};

/** Parses one drop-in; undefined when it has no `[install]` table. */
export function parseInstallConfig(text: string, fileName: string): InstallConfig | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new FormatError(`Parsing ${fileName}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  for (const key of Object.keys(doc)) if (key !== 'install') throw new FormatError(`Parsing ${fileName}: unknown field \`${key}\`, expected \`install\``);
  if (doc['install'] === undefined) return undefined;
  try {
    return table(INSTALL_FIELDS)(doc['install'], 'install') as InstallConfig;
  } catch (err) {
    throw new FormatError(`Parsing ${fileName}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function archMatches(c: InstallConfig, arch: string): boolean {
  return c['match-architectures'] === undefined || c['match-architectures'].includes(arch);
}

/** Merges `other` over `base` as bootc does (scalars override, nested tables merge, kargs append). */
export function mergeInstallConfig(base: InstallConfig, other: InstallConfig, arch: string): InstallConfig {
  if (!archMatches(other, arch)) return base;
  const out: InstallConfig = { ...base };
  const scalars = ['root-fs-type', 'block', 'stateroot', 'root-mount-spec', 'boot-mount-spec', 'bootloader', 'discoverable-partitions', 'enforce-container-sigpolicy'] as const;
  for (const k of scalars) if (other[k] !== undefined) (out as Record<string, unknown>)[k] = other[k];
  if (other.filesystem !== undefined) {
    const root = { ...(base.filesystem?.root ?? {}), ...(other.filesystem.root ?? {}) };
    out.filesystem = base.filesystem?.root !== undefined || other.filesystem.root !== undefined ? { ...base.filesystem, root } : { ...base.filesystem };
  }
  if (other.ostree !== undefined) out.ostree = { ...base.ostree, ...other.ostree };
  if (other.bootupd !== undefined) out.bootupd = { ...base.bootupd, ...other.bootupd };
  if (other.kargs !== undefined) out.kargs = [...(base.kargs ?? []), ...other.kargs];
  if (other['karg-deletes'] !== undefined) out['karg-deletes'] = [...(base['karg-deletes'] ?? []), ...other['karg-deletes']];
  return out;
}

/** Fills defaults and synchronizes `root-fs-type` with `filesystem.root.type` (the latter wins). */
export function canonicalizeInstallConfig(c: InstallConfig): InstallConfig {
  const out: InstallConfig = { ...c };
  const fsType = c.filesystem?.root?.type;
  if (fsType !== undefined) out['root-fs-type'] = fsType;
  else if (c['root-fs-type'] !== undefined) out.filesystem = { ...c.filesystem, root: { ...c.filesystem?.root, type: c['root-fs-type'] } };
  out.block ??= ['direct'];
  return out;
}

/** The drop-in files in effect: name → host path, later bases overriding, sorted by name. */
export async function listInstallConfigFiles(root: Root): Promise<Array<{ name: string; path: string }>> {
  const byName = new Map<string, string>();
  for (const base of INSTALL_CONFIG_BASES) {
    const dir = `${base}/${INSTALL_CONFIG_SUBDIR}`;
    for (const name of await root.listDir(dir)) if (name.endsWith('.toml')) byName.set(name, `${dir}/${name}`);
  }
  return [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, path]) => ({ name, path }));
}

/** Loads and merges the install configuration of a root; undefined when no file applies. */
export async function loadInstallConfig(root: Root, arch: string): Promise<InstallConfig | undefined> {
  return withContext('Loading install configuration', async () => {
    let config: InstallConfig | undefined;
    for (const f of await listInstallConfigFiles(root)) {
      const parsed = parseInstallConfig(await root.readText(f.path), f.path);
      if (parsed === undefined) continue;
      if (config === undefined) {
        if (archMatches(parsed, arch)) config = parsed;
      } else config = mergeInstallConfig(config, parsed, arch);
    }
    return config === undefined ? undefined : canonicalizeInstallConfig(config);
  });
}

/**
 * The value `install print-configuration` serializes: every field, null when unset,
 * except kargs/karg-deletes which are omitted when unset (and always without --all).
 */
export function printableInstallConfig(c: InstallConfig | undefined, all: boolean): Record<string, unknown> {
  const v = c ?? {};
  const out: Record<string, unknown> = {
    'root-fs-type': v['root-fs-type'] ?? null,
    block: v.block ?? null,
    filesystem: v.filesystem === undefined ? null : { root: v.filesystem.root === undefined ? null : { type: v.filesystem.root.type ?? null } },
    'match-architectures': v['match-architectures'] ?? null,
    ostree: v.ostree === undefined ? null : { 'bls-append-except-default': v.ostree['bls-append-except-default'] ?? null },
    stateroot: v.stateroot ?? null,
    'root-mount-spec': v['root-mount-spec'] ?? null,
    'boot-mount-spec': v['boot-mount-spec'] ?? null,
    bootupd: v.bootupd === undefined ? null : { 'skip-boot-uuid': v.bootupd['skip-boot-uuid'] ?? null },
    bootloader: v.bootloader ?? null,
    'discoverable-partitions': v['discoverable-partitions'] ?? null,
    'enforce-container-sigpolicy': v['enforce-container-sigpolicy'] ?? null,
  };
  if (all && v.kargs !== undefined) out['kargs'] = v.kargs;
  if (all && v['karg-deletes'] !== undefined) out['karg-deletes'] = v['karg-deletes'];
  return out;
}
