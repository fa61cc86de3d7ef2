/**
 * Owns bringing a host written by older bootc (1.12–1.15) or interrupted
 * tsbootc runs into the current shape, on every open (bootc.md §3.6):
 * completes an interrupted FAT entry commit; prefixes unprefixed kernel dirs
 * and UKIs (`bootc_composefs-`); renames old entry files to
 * `bootc_<os>-<ver>-<prio>.conf`; back-fills `[boot] digest` for UKIs.
 * Crash-safe: artifacts are *copied* to their prefixed names, the entries
 * switch over in one commit, and only then are the old names deleted, so
 * every entry always points at an existing file. Idempotent.
 */
import { formatBls, type BlsEntry } from '../boot/bls.js';
import { formatUserCfg, type MenuEntry } from '../boot/grub-cfg.js';
import { confFileName, isVerityHex, osIdFromSortKey, primarySortKey, secondarySortKey } from '../boot/entry-order.js';
import { commitStagedBls, commitStagedUserCfg, completePendingCommit, type ExchangeOpts } from '../boot/exchange.js';
import { parseOsRelease, ukiBootDigest } from '../boot/pe.js';
import { formatErrorChain, withContext } from '../util/errors.js';
import { listEntries, type BootState, type ListedEntry } from './boot-state.js';
import { listStateDirs, readOrigin, readStagedMarker } from './deployments.js';
import { formatOriginWithBootDigest } from './origin.js';
import { crashPoint } from '../util/crash-point.js';
import * as C from './constants.js';

export interface MigrationResult {
  changes: string[];
  warnings: string[];
}

export async function migrateLegacyLayout(st: BootState, xopts: ExchangeOpts = {}): Promise<MigrationResult> {
  const opts: ExchangeOpts = { crash: st.host.crash, ...xopts };
  const res: MigrationResult = { changes: [], warnings: [] };
  const root = st.host.root;
  if (!st.grubMenu && (await completePendingCommit(root, st.bootDir, opts))) res.changes.push(`completed the interrupted commit of ${st.bootDir}/${C.ENTRIES_STAGED_DIR}`);
  await removeStaleStagedSet(st, res);
  const entries = await listEntries(st, { strict: false });
  const uki = entries.live.some((e) => e.target.verity !== undefined && (e.bls?.efi !== undefined || e.menu !== undefined));
  const binDir = async () => (uki ? `${await st.esp()}/${C.BOOTC_UKI_DIR}` : st.grubMenu || st.bootloader === 'grub' ? `${C.SYSROOT}/${C.SYSROOT_BOOT}` : `${await st.esp()}/${C.EFI_LINUX}`);

  const plan = await planMigration(st, entries.live);
  if (plan.renames.length > 0 || plan.rewritten) {
    if ((await readStagedMarker(root).catch(() => undefined)) !== undefined) {
      res.warnings.push('Legacy boot layout migration postponed: a deployment is staged');
    } else if (entries.warnings.length > 0) {
      res.warnings.push(`Legacy boot layout migration postponed: ${entries.warnings[0]}`);
    } else {
      const dir = await binDir();
      const names = await root.listDir(dir);
      const copied: string[] = [];
      for (const d of plan.renames) {
        for (const n of names.filter((x) => !x.startsWith(C.ARTIFACT_PREFIX) && (uki ? x.includes(d) && (x.endsWith(C.UKI_EXT) || x.endsWith(C.UKI_ADDON_DIR_EXT)) : x === d))) {
          await root.copy(`${dir}/${n}`, `${dir}/${C.ARTIFACT_PREFIX}${n}`);
          copied.push(`${dir}/${n}`);
        }
      }
      await root.syncDir(dir);
      crashPoint(st.host, 'migrate:after-copy-artifacts');
      await writeStagedSet(st, plan.staged, opts);
      crashPoint(st.host, 'migrate:after-commit');
      res.changes.push(...plan.notes);
      for (const p of copied) {
        await root.remove(p);
        crashPoint(st.host, 'migrate:after-remove-old');
        res.changes.push(`removed ${p} (now ${C.ARTIFACT_PREFIX}…)`);
      }
    }
  }
  await removeMigratedLeftovers(st, await binDir(), res);
  await backfillUkiDigests(st, res);
  return res;
}

/**
 * A staged entry set without `/run/composefs/staged-deployment` is garbage
 * (§6.4, §10): the old set of an interrupted exchange or an interrupted stage.
 * So is one that does not name the marker's deployment: after an exchange
 * interrupted before the old set was removed (no reboot since, so the marker
 * is still there), committing it again would revert the finalization.
 */
async function removeStaleStagedSet(st: BootState, res: MigrationResult): Promise<void> {
  const root = st.host.root;
  if (await root.exists(C.STAGED_MARKER)) {
    const marker = await readStagedMarker(root).catch(() => undefined);
    const listed = await listEntries(st, { strict: false });
    const staged = listed.staged;
    if (marker === undefined || staged.length === 0 || staged.some((e) => e.target.verity === marker.deplId)) return;
    // An unreadable staged entry may be the one naming the marker's deployment: keep the set (status warns about it).
    const stagedFiles = [`Parsing ${st.bootDir}/${C.ENTRIES_STAGED_DIR}/`, `Parsing ${st.bootDir}/${C.USER_CFG_STAGED}:`];
    if (listed.warnings.some((w) => stagedFiles.some((f) => w.startsWith(f)))) return;
  }
  for (const rel of [C.ENTRIES_STAGED_DIR, C.USER_CFG_STAGED]) {
    const p = `${st.bootDir}/${rel}`;
    if (!(await root.exists(p))) continue;
    await root.remove(p);
    res.changes.push(`removed ${p} (no staged deployment)`);
  }
}

/**
 * After a migration interrupted between the entry commit and the deletes:
 * unprefixed kernel dirs / UKIs whose prefixed copy exists and that no entry
 * references any more.
 */
async function removeMigratedLeftovers(st: BootState, dir: string, res: MigrationResult): Promise<void> {
  const root = st.host.root;
  const after = await listEntries(st, { strict: false });
  // Staged entries count only with the /run marker; without it they are an old set left by an
  // interrupted exchange (or an interrupted stage), which bootc also treats as garbage.
  const marker = await readStagedMarker(root).catch(() => undefined);
  const referenced = new Set([...after.live, ...(marker !== undefined ? after.staged : [])].filter((e) => !e.target.prefixed).map((e) => e.target.artifact));
  for (const n of await root.listDir(dir)) {
    const stem = n.replace(/\.efi(\.extra\.d)?$/, '');
    if (n.startsWith(C.ARTIFACT_PREFIX) || !isVerityHex(stem) || referenced.has(stem)) continue;
    if (!(await root.exists(`${dir}/${C.ARTIFACT_PREFIX}${n}`))) continue;
    await root.remove(`${dir}/${n}`);
    res.changes.push(`removed ${dir}/${n} (now ${C.ARTIFACT_PREFIX}…)`);
  }
}

const CURRENT_NAME = /^bootc_[^-]+-.+-[01]\.conf$/;

interface Plan {
  renames: string[];
  rewritten: boolean;
  notes: string[];
  staged: Array<{ name: string; text: string } | { menu: MenuEntry }>;
}

async function planMigration(st: BootState, live: ListedEntry[]): Promise<Plan> {
  const plan: Plan = { renames: [], rewritten: false, notes: [], staged: [] };
  const osRel = await st.host.root.tryReadText(C.OS_RELEASE);
  const runningOs = osRel === undefined ? undefined : parseOsRelease(osRel).get('ID');
  const taken = new Set<string>();
  let rank = 0;
  for (const e of live) {
    const ours = e.target.verity !== undefined;
    if (!ours) {
      if (e.menu !== undefined) plan.staged.push({ menu: e.menu });
      else plan.staged.push({ name: e.fileName!, text: await st.host.root.readText(e.file) });
      continue;
    }
    const prio = rank++ === 0 ? C.PRIO_PRIMARY : C.PRIO_SECONDARY;
    const d = e.target.artifact;
    if (!e.target.prefixed && !plan.renames.includes(d)) plan.renames.push(d);
    if (e.menu !== undefined) {
      const m = e.target.prefixed ? e.menu : { ...e.menu, chainloader: `/${C.BOOTC_UKI_DIR}/${C.ARTIFACT_PREFIX}${d}${C.UKI_EXT}` };
      plan.staged.push({ menu: m });
      continue;
    }
    const bls: BlsEntry = { ...e.bls!, initrd: [...e.bls!.initrd] };
    if (!e.target.prefixed) {
      if (bls.efi !== undefined) bls.efi = `/${C.BOOTC_UKI_DIR}/${C.ARTIFACT_PREFIX}${d}${C.UKI_EXT}`;
      else {
        const fix = (p: string) => p.replace(`/${d}/`, `/${C.ARTIFACT_PREFIX}${d}/`);
        bls.linux = fix(bls.linux ?? '');
        bls.initrd = bls.initrd.map(fix);
      }
    }
    const os = osIdFromSortKey(bls.sortKey) ?? runningOs ?? C.DEFAULT_OS_ID;
    if (osIdFromSortKey(bls.sortKey) === undefined) bls.sortKey = prio === C.PRIO_PRIMARY ? primarySortKey(os) : secondarySortKey(os);
    // Only names that are not bootc's current pattern are renamed (never re-prioritized).
    let name = CURRENT_NAME.test(e.fileName!) ? e.fileName! : confFileName(os, bls.version, prio);
    if (taken.has(name)) name = e.fileName!;
    taken.add(name);
    const text = formatBls(bls);
    if (name !== e.fileName || !e.target.prefixed || bls.sortKey !== e.bls!.sortKey) {
      plan.rewritten = true;
      plan.notes.push(`rewrote ${e.file} as ${name}`);
    }
    plan.staged.push({ name, text });
  }
  return plan;
}

async function writeStagedSet(st: BootState, staged: Plan['staged'], opts: ExchangeOpts): Promise<void> {
  const root = st.host.root;
  if (st.grubMenu) {
    const menus = staged.flatMap((s) => ('menu' in s ? [s.menu] : []));
    await root.writeAtomic(`${st.bootDir}/${C.USER_CFG_STAGED}`, formatUserCfg(menus));
    await commitStagedUserCfg(root, st.bootDir, opts);
    return;
  }
  const dir = `${st.bootDir}/${C.ENTRIES_STAGED_DIR}`;
  await root.remove(dir);
  await root.mkdirp(dir);
  const order: string[] = [];
  for (const s of staged) {
    if ('menu' in s) continue;
    await root.writeAtomic(`${dir}/${s.name}`, s.text);
    order.push(s.name);
  }
  await commitStagedBls(root, st.bootDir, { ...opts, order });
}

/** `[boot] digest` for UKI deployments that lack it, computed from the UKI on the ESP. */
async function backfillUkiDigests(st: BootState, res: MigrationResult): Promise<void> {
  for (const v of await listStateDirs(st.sysroot)) {
    try {
      const origin = await readOrigin(st.sysroot, v).catch(() => undefined);
      if (origin === undefined || origin.bootType !== 'uki' || origin.bootDigest !== undefined) continue;
      const ukiPath = `${await st.esp()}/${C.BOOTC_UKI_DIR}/${C.ARTIFACT_PREFIX}${v}${C.UKI_EXT}`;
      const uki = await st.host.root.tryReadBytes(ukiPath);
      if (uki === undefined) continue;
      const digest = await withContext(`Reading ${ukiPath}`, async () => ukiBootDigest(uki));
      await st.sysroot.writeAtomic(C.originPathOf(v), formatOriginWithBootDigest(origin, digest));
      res.changes.push(`added [boot] digest to ${C.originPathOf(v)}`);
    } catch (err) {
      res.warnings.push(`Back-filling the boot digest of ${v}: ${formatErrorChain(err)}`);
    }
  }
}
