/**
 * Owns reading a booted host's boot state: where the boot dir and ESP are,
 * and the bootloader entries (BLS `loader/entries[.staged]` or GRUB
 * `grub2/user.cfg[.staged]`) with the deployment each one points at, in the
 * order the bootloader shows them. Status reads leniently (bad files become
 * warnings); mutating verbs read strictly (the error names the file).
 */
import type { Host } from '../sys/host.js';
import type { Root } from '../sys/root.js';
import type { Bootloader } from './host-spec.js';
import { parseBls, type BlsEntry } from '../boot/bls.js';
import { parseUserCfg, type MenuEntry } from '../boot/grub-cfg.js';
import { blsEntryTarget, menuEntryTarget, sortBlsEntries, type EntryTarget } from '../boot/entry-order.js';
import { formatErrorChain, withContext } from '../util/errors.js';
import { detectBootloader, detectBooted, type BootedComposefs, type MountInfo } from './detect.js';
import { espScope } from './esp-scope.js';
import * as C from './constants.js';

export interface BootState {
  host: Host;
  /** The physical root (`/sysroot`). */
  sysroot: Root;
  booted: BootedComposefs;
  bootloader: Bootloader;
  mounts: MountInfo[];
  /** Host path of the dir holding `loader/` (BLS) or `grub2/` (GRUB). */
  bootDir: string;
  /** GRUB classic with a `grub2/user.cfg` (UKI menu) instead of BLS entries. */
  grubMenu: boolean;
  /** Host path of the ESP; resolved on first use (may mount it until `release`). */
  esp(): Promise<string>;
  /** Unmounts an ESP that `esp()` mounted. Every opener calls it (see withBootState). */
  release(): Promise<void>;
  /** Set when the ESP could not be located and `bootDir` is only the conventional /boot (read-only use). */
  espUnverified: string | undefined;
  warnings: string[];
  /**
   * Set for an offline tree (offline.ts): `booted` is then the default entry's
   * deployment, its /etc is the state dir's, and staged deployments are
   * finalized at once.
   */
  offline?: true;
}

/** Host path of the /etc the local changes live in: `/etc`, or the default deployment's state dir offline. */
export function liveEtcPath(st: BootState): string {
  return st.offline === true ? `${C.SYSROOT}/${C.stateDirOf(st.booted.digest)}/etc` : '/etc';
}

/** Undefined when the host is not booted from a composefs deployment. */
export async function openBootState(host: Host): Promise<BootState | undefined> {
  const det = await detectBooted(host);
  if (det.booted === undefined) return undefined;
  const bootloader = await detectBootloader(host);
  const scope = espScope(host, det.mounts);
  let espPath: string | undefined;
  const esp = async () => (espPath ??= await scope.path());
  const warnings = [...det.warnings];
  let bootDir = `${C.SYSROOT}/${C.SYSROOT_BOOT}`;
  let espUnverified: string | undefined;
  if (bootloader !== 'grub') {
    try {
      bootDir = await esp();
    } catch (err) {
      // Keep going (status must not fail here); /boot is where systemd mounts the ESP.
      bootDir = C.CONVENTIONAL_ESP_MOUNT;
      espPath = bootDir;
      espUnverified = formatErrorChain(err);
      warnings.push(`Locating the ESP failed (${espUnverified}); reading boot entries from ${bootDir}`);
    }
  }
  const grubMenu = bootloader === 'grub' && (await host.root.exists(`${bootDir}/${C.USER_CFG}`));
  const release = () => scope.release();
  return { host, sysroot: host.root.sub(C.SYSROOT), booted: det.booted, bootloader, mounts: det.mounts, bootDir, grubMenu, esp, release, espUnverified, warnings };
}

/** openBootState for the length of `fn`; an ESP mounted meanwhile is unmounted afterwards, also on error. */
export async function withBootState<T>(host: Host, fn: (st: BootState | undefined) => Promise<T>): Promise<T> {
  const st = await openBootState(host);
  try {
    return await fn(st);
  } finally {
    await st?.release();
  }
}

export interface ListedEntry {
  staged: boolean;
  /** Host path of the `.conf` or the `user.cfg` holding it. */
  file: string;
  /** BLS file name (undefined for GRUB menuentries). */
  fileName: string | undefined;
  bls: BlsEntry | undefined;
  menu: MenuEntry | undefined;
  target: EntryTarget;
}

export interface Entries {
  /** Live entries in boot order (first = default). */
  live: ListedEntry[];
  staged: ListedEntry[];
  warnings: string[];
}

export async function listEntries(st: BootState, opts: { strict: boolean }): Promise<Entries> {
  const warnings: string[] = [];
  const lenient = async <T>(what: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await withContext(what, fn);
    } catch (err) {
      if (opts.strict) throw err;
      warnings.push(formatErrorChain(err));
      return fallback;
    }
  };
  const root = st.host.root;
  if (st.grubMenu) {
    const read = async (rel: string, staged: boolean): Promise<ListedEntry[]> => {
      const file = `${st.bootDir}/${rel}`;
      const text = await root.tryReadText(file);
      if (text === undefined) return [];
      const menu = await lenient(`Parsing ${file}`, async () => parseUserCfg(text), [] as MenuEntry[]);
      return menu.map((m) => ({ staged, file, fileName: undefined, bls: undefined, menu: m, target: menuEntryTarget(m.chainloader) }));
    };
    return { live: await read(C.USER_CFG, false), staged: await read(C.USER_CFG_STAGED, true), warnings };
  }
  const read = async (rel: string, staged: boolean): Promise<ListedEntry[]> => {
    const dir = `${st.bootDir}/${rel}`;
    const out: ListedEntry[] = [];
    for (const fileName of await root.listDir(dir)) {
      if (!fileName.endsWith(C.CONF_EXT) || fileName.startsWith('.')) continue;
      const file = `${dir}/${fileName}`;
      const bls = await lenient(`Parsing ${file}`, async () => parseBls(await root.readText(file)), undefined);
      if (bls !== undefined) out.push({ staged, file, fileName, bls, menu: undefined, target: blsEntryTarget(bls) });
    }
    return out;
  };
  const live = await read(C.ENTRIES_DIR, false);
  const sorted = sortBlsEntries(live.map((e) => ({ fileName: e.fileName ?? '', entry: e.bls!, listed: e })), st.bootloader).map((x) => x.listed);
  return { live: sorted, staged: await read(C.ENTRIES_STAGED_DIR, true), warnings };
}
