/**
 * Owns building the Host status model of a composefs-booted host (bootc.md
 * §4.2): the bootloader entries are the source of truth; each referenced
 * deployment is read from its state dir and slotted as booted, staged,
 * rollback or other. One bad deployment or file never takes status down: it
 * becomes a warning and status reports what it can. Nothing here prints.
 */
import { createHash } from 'node:crypto';
import type { Host as HostCaps } from '../sys/host.js';
import { formatErrorChain } from '../util/errors.js';
import { splitCmdline } from '../boot/cmdline.js';
import { peSection, readPeSections } from '../boot/pe.js';
import { defaultHost, type BootEntry, type Host } from './host-spec.js';
import { withBootState, listEntries, type BootState, type Entries, type ListedEntry } from './boot-state.js';
import { usrOverlayOf } from './usr-overlay.js';
import { deploymentEntry, readOrigin, readStagedMarker, type DeploymentInfo } from './deployments.js';
import { noImageMetadata, type ImageMetadataSource } from './image-metadata.js';
import { migrateLegacyLayout } from './migrate.js';
import * as C from './constants.js';

export interface StatusOpts {
  /** Only the booted deployment: staged and rollback are nulled. */
  bootedOnly: boolean;
  /** Run the legacy-layout migration first (bootc does on every open). Default true. */
  migrate?: boolean;
}

export interface StatusDeps {
  images: ImageMetadataSource;
}

export interface StatusResult {
  host: Host;
  /** False when the system is not deployed via bootc/tsbootc. */
  deployed: boolean;
  warnings: string[];
}

export async function getStatus(caps: HostCaps, opts: StatusOpts, deps: StatusDeps = { images: noImageMetadata }): Promise<StatusResult> {
  return withBootState(caps, async (st) => {
    if (st === undefined) return { host: defaultHost(), deployed: false, warnings: [] };
    return statusOf(st, opts, deps);
  });
}

async function statusOf(st: BootState, opts: StatusOpts, deps: StatusDeps): Promise<StatusResult> {
  const warnings = [...st.warnings];
  if (opts.migrate !== false) {
    try {
      warnings.push(...(await migrateLegacyLayout(st)).warnings);
    } catch (err) {
      warnings.push(`Migrating the legacy boot layout failed: ${formatErrorChain(err)}`);
    }
  }
  const host = await buildHost(st, deps, warnings);
  if (opts.bootedOnly) {
    host.status.staged = null;
    host.status.rollback = null;
  }
  return { host, deployed: true, warnings };
}

/** The Host model of an opened boot state without image metadata or migration (soft-reboot checks). */
export async function hostOfBootState(st: BootState, warnings: string[] = []): Promise<Host> {
  return buildHost(st, { images: noImageMetadata }, warnings);
}

async function buildHost(st: BootState, deps: StatusDeps, warnings: string[]): Promise<Host> {
  const warn = (m: string) => warnings.push(m);
  let entries: Entries = { live: [], staged: [], warnings: [] };
  try {
    entries = await listEntries(st, { strict: false });
    warnings.push(...entries.warnings);
  } catch (err) {
    warn(`Reading boot entries: ${formatErrorChain(err)}`);
  }
  const all = [...entries.live, ...entries.staged];
  const verities: string[] = [];
  for (const e of all) if (e.target.verity !== undefined && !verities.includes(e.target.verity)) verities.push(e.target.verity);
  if (!verities.includes(st.booted.digest)) {
    warn(`The booted deployment ${st.booted.digest} has no boot entry`);
    verities.unshift(st.booted.digest);
  }

  const infos = new Map<string, DeploymentInfo>();
  for (const v of verities) {
    try {
      const origin = await readOrigin(st.sysroot, v);
      if (origin === undefined) {
        warn(`No origin file for deployment ${v} (MESSAGE_ID=${C.MISSING_ORIGIN_MESSAGE_ID})`);
        continue;
      }
      infos.set(v, await deploymentEntry(st.sysroot, v, origin, { bootloader: st.bootloader, missingVerityAllowed: st.booted.missingVerityAllowed, images: deps.images, warn }));
    } catch (err) {
      warn(`Deployment ${v}: ${formatErrorChain(err)}`);
    }
  }
  const bootTypes = new Set([...infos.values()].map((i) => i.origin.bootType));
  if (bootTypes.size > 1) warn(`Conflicting boot types among deployments: ${[...bootTypes].sort().join(', ')}`);

  let marker;
  try {
    marker = await readStagedMarker(st.host.root);
  } catch (err) {
    warn(formatErrorChain(err));
  }

  const booted = infos.get(st.booted.digest);
  const stagedInfo = marker !== undefined && marker.deplId !== st.booted.digest ? infos.get(marker.deplId) : undefined;
  if (stagedInfo !== undefined) stagedInfo.entry.downloadOnly = marker?.finalizationLocked ?? false;
  if (marker !== undefined && stagedInfo === undefined) warn(`${C.STAGED_MARKER} names ${marker.deplId}, which has no staged boot entry or origin`);

  const ranked: DeploymentInfo[] = [];
  for (const e of entries.live) {
    const v = e.target.verity;
    const info = v === undefined ? undefined : infos.get(v);
    if (info === undefined || info === booted || info === stagedInfo || ranked.includes(info)) continue;
    ranked.push(info);
  }
  // The default is the first entry the bootloader shows that is one of our deployments.
  const defaultEntry = entries.live.find((e) => e.target.verity !== undefined && infos.has(e.target.verity));
  const first = entries.live[0];
  if (first !== undefined && first !== defaultEntry) warn(`The bootloader's first entry ${first.fileName ?? first.menu?.title ?? first.file} is not a deployment; it may boot by default`);
  const rollbackQueued = defaultEntry !== undefined && defaultEntry.target.verity !== st.booted.digest;

  const bootedEntryOf = (v: string) => all.find((e) => e.target.verity === v);
  for (const info of [stagedInfo, ...ranked]) {
    if (info !== undefined && booted !== undefined) info.entry.softRebootCapable = await softRebootCapable(st, booted, info, bootedEntryOf, warn);
  }

  const host = defaultHost();
  host.spec.image = (stagedInfo ?? booted)?.imageRef ?? null;
  host.spec.bootOrder = rollbackQueued ? 'rollback' : 'default';
  host.status.booted = booted?.entry ?? null;
  host.status.staged = stagedInfo?.entry ?? null;
  host.status.rollback = ranked[0]?.entry ?? null;
  const others: BootEntry[] = ranked.slice(1).map((i) => i.entry);
  if (others.length > 0) host.status.otherDeployments = others;
  host.status.rollbackQueued = rollbackQueued;
  host.status.usrOverlay = usrOverlayOf(st.host.root, st.mounts);
  return host;
}

/** Same kernel+initrd, same cmdline apart from composefs=, compatible SELinux policy (§4.2 step 9). */
async function softRebootCapable(
  st: BootState,
  booted: DeploymentInfo,
  other: DeploymentInfo,
  entryOf: (v: string) => ListedEntry | undefined,
  warn: (m: string) => void,
): Promise<boolean> {
  const a = booted.origin.bootDigest;
  if (a === undefined || a !== other.origin.bootDigest) return false;
  try {
    const ca = await entryCmdline(st, entryOf(booted.verity));
    const cb = await entryCmdline(st, entryOf(other.verity));
    if (ca === undefined || cb === undefined || ca !== cb) return false;
    return (await policyHash(st, undefined)) === (await policyHash(st, other.verity));
  } catch (err) {
    warn(`Checking soft-reboot capability of ${other.verity}: ${formatErrorChain(err)}`);
    return false;
  }
}

async function entryCmdline(st: BootState, e: ListedEntry | undefined): Promise<string | undefined> {
  if (e === undefined) return undefined;
  let cmdline: string | undefined = e.bls?.options;
  if (e.bls?.efi !== undefined || e.menu !== undefined) {
    const uki = await st.host.root.readBytes(`${await st.esp()}/${C.BOOTC_UKI_DIR}/${C.ARTIFACT_PREFIX}${e.target.artifact}${C.UKI_EXT}`);
    cmdline = peSection(readPeSections(uki), '.cmdline')?.toString('utf8');
  }
  if (cmdline === undefined) return undefined;
  return splitCmdline(cmdline.replace(/\0/g, ' ')).filter((a) => a !== 'composefs' && !a.startsWith('composefs=')).join(' ');
}

/** sha256 of the highest `policy.N` of the configured SELinux type; '' when SELinux is not set up. */
async function policyHash(st: BootState, verity: string | undefined): Promise<string> {
  const selinux = verity === undefined ? C.SELINUX_CONFIG_DIR : `${C.SYSROOT}/${C.stateDirOf(verity)}${C.SELINUX_CONFIG_DIR}`;
  const cfg = await st.host.root.tryReadText(`${selinux}/config`);
  const type = cfg === undefined ? undefined : /^\s*SELINUXTYPE\s*=\s*(\S+)/m.exec(cfg)?.[1];
  if (type === undefined) return '';
  const dir = `${selinux}/${type}/policy`;
  const best = (await st.host.root.listDir(dir)).filter((n) => /^policy\.\d+$/.test(n)).sort((x, y) => Number(y.slice(7)) - Number(x.slice(7)))[0];
  if (best === undefined) return '';
  return createHash('sha256').update(await st.host.root.readBytes(`${dir}/${best}`)).digest('hex');
}
