/**
 * Owns laying down a new deployment on a booted host and finalizing it, in
 * bootc's crash-consistent order (bootc.md §6.3–§6.5): boot binaries →
 * staged entries → state dir and origin → `/run/composefs/staged-deployment`
 * last. Anything interrupted before the marker is garbage the next run
 * removes. Finalization commits the staged entries (exchange, or the FAT
 * roll-forward of boot/exchange.ts). The /etc merge and the repository
 * (pull, EROFS) belong to other modules and happen before this is called.
 */
import type { Root } from '../sys/root.js';
import { StateCorruptError, TsbootcError, withContext } from '../util/errors.js';
import { writeBootArtifacts, writeInstallEntries, writeStagedEntries, type BootPayload, type BootTarget } from '../boot/entries.js';
import { commitStagedBls, commitStagedUserCfg, type ExchangeOpts } from '../boot/exchange.js';
import type { EfiKey } from '../boot/bls.js';
import { listEntries, type BootState } from './boot-state.js';
import { formatStagedMarker, readStagedMarker } from './deployments.js';
import { formatNewOrigin } from './origin.js';
import { crashPoint, type CrashSite } from '../util/crash-point.js';
import * as C from './constants.js';

export interface NewDeployment {
  /** Boot EROFS fs-verity digest (the deployment id). */
  verity: string;
  /** `[origin] container-image-reference` value (see image/ref.ts formatOriginImageRef). */
  imageReference: string;
  manifestDigest: string;
  payload: BootPayload;
  /**
   * The new image's /etc to seed `state/deploy/<id>/etc`; empty dir when absent.
   * `move`: `path` is a sysroot path on the same filesystem, renamed into place
   * (keeps owners and modes exactly as extracted).
   */
  etcSource?: { root: Root; path: string; move?: boolean };
}

export async function bootTargetFor(st: BootState, uki: boolean, efiKey: EfiKey = 'efi', grubBootPrefix = '/boot'): Promise<BootTarget> {
  const needsEsp = st.bootloader !== 'grub' || uki;
  return { root: st.host.root, bootloader: st.bootloader, bootDir: st.bootDir, esp: needsEsp ? await st.esp() : '', efiKey, grubBootPrefix };
}

/** `state/deploy/<id>/{etc/, var -> ../../os/default/var, <id>.origin}` (origin written last, atomically). */
export async function writeDeploymentState(sysroot: Root, dep: NewDeployment, bootDigest: string, site?: CrashSite): Promise<void> {
  const dir = C.stateDirOf(dep.verity);
  await withContext(`Writing ${dir}`, async () => {
    await sysroot.mkdirp(C.STATE_OS_VAR);
    await sysroot.mkdirp(dir);
    if (dep.etcSource?.move === true) await sysroot.rename(dep.etcSource.path, `${dir}/etc`);
    else if (dep.etcSource !== undefined) await sysroot.copyFrom(dep.etcSource.root, dep.etcSource.path, `${dir}/etc`);
    else await sysroot.mkdirp(`${dir}/etc`);
    if ((await sysroot.tryLstat(`${dir}/var`)) === undefined) await sysroot.symlink(C.STATE_VAR_LINK, `${dir}/var`);
    crashPoint(site, 'stage:after-state-etc');
    const origin = formatNewOrigin({ imageReference: dep.imageReference, bootType: dep.payload.kind === 'uki' ? 'uki' : 'bls', bootDigest, manifestDigest: dep.manifestDigest });
    await sysroot.writeAtomic(C.originPathOf(dep.verity), origin);
  });
}

/** Install-time: the deployment becomes the only entry. */
export async function installDeployment(t: BootTarget, sysroot: Root, dep: NewDeployment, espUuid?: string): Promise<void> {
  const w = await writeBootArtifacts(t, dep.verity, dep.payload);
  await writeInstallEntries(t, w, espUuid);
  await writeDeploymentState(sysroot, dep, w.bootDigest);
}

export interface StageOpts {
  downloadOnly: boolean;
  efiKey?: EfiKey;
}

export async function stageDeployment(st: BootState, dep: NewDeployment, opts: StageOpts): Promise<void> {
  await withContext(`Staging deployment ${dep.verity}`, async () => {
    if (dep.verity === st.booted.digest) throw new TsbootcError(`The new deployment ${dep.verity} is the booted one`);
    const entries = await listEntries(st, { strict: true });
    if (entries.live.some((e) => e.target.verity === dep.verity)) throw new TsbootcError(`Deployment ${dep.verity} already has a boot entry`);
    const booted = entries.live.find((e) => e.target.verity === st.booted.digest);
    if (booted === undefined) throw new StateCorruptError(`No boot entry for the booted deployment ${st.booted.digest}`);
    // Drop any previous staged deployment and a stale state dir of this id (§6.1 step 6).
    await st.host.root.remove(C.STAGED_MARKER);
    await st.sysroot.remove(C.stateDirOf(dep.verity));
    crashPoint(st.host, 'stage:after-drop-previous');
    // The UKI entry key follows the host: what the booted entry uses (bootc picks `uki` for systemd ≥ 258).
    const efiKey = opts.efiKey ?? (booted.bls?.efi !== undefined ? booted.bls.efiKey : 'efi');
    const t = await bootTargetFor(st, dep.payload.kind === 'uki', efiKey);
    const w = await writeBootArtifacts(t, dep.verity, dep.payload);
    crashPoint(st.host, 'stage:after-boot-binaries');
    await writeStagedEntries(t, w, { bls: booted.bls, menu: booted.menu });
    crashPoint(st.host, 'stage:after-staged-entries');
    await writeDeploymentState(st.sysroot, dep, w.bootDigest, st.host);
    crashPoint(st.host, 'stage:after-origin');
    await st.host.root.mkdirp(C.RUN_COMPOSEFS);
    await st.host.root.writeAtomic(C.STAGED_MARKER, formatStagedMarker({ deplId: dep.verity, finalizationLocked: opts.downloadOnly }));
    crashPoint(st.host, 'stage:after-marker');
  });
}

/**
 * The barrier before the entries become live: the state dir and merged /etc,
 * the origin and the repository (sysroot), and the boot binaries (boot dir,
 * ESP) must be on disk before any entry names them.
 */
async function syncForCommit(st: BootState): Promise<void> {
  await st.sysroot.syncFs('/');
  await st.host.root.syncFs(st.bootDir);
  if (st.grubMenu) await st.host.root.syncFs(await st.esp());
}

export type FinalizeResult = 'nothing-staged' | 'download-only' | 'finalized';

/** Shutdown-time finalization: commit the staged entries unless download-only. */
export async function finalizeStaged(st: BootState, opts: ExchangeOpts = {}): Promise<FinalizeResult> {
  return withContext('Finalizing the staged deployment', async () => {
    const marker = await readStagedMarker(st.host.root);
    if (marker === undefined) return 'nothing-staged';
    if (marker.finalizationLocked) return 'download-only';
    const xo = { crash: st.host.crash, ...opts };
    await syncForCommit(st);
    if (st.grubMenu) await commitStagedUserCfg(st.host.root, st.bootDir, xo);
    else await commitStagedBls(st.host.root, st.bootDir, xo);
    return 'finalized';
  });
}
