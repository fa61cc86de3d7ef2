/**
 * Owns bootc's `do_upgrade` (bootc.md §6.3) shared by switch and upgrade:
 * fetch the image into a work dir on the sysroot, pull it into the
 * repository (bootable), take the boot EROFS id, refuse a collision with an
 * existing deployment, dry-run the /etc merge (conflicts abort before
 * anything is staged), compute the kernel arguments, stage (boot binaries →
 * staged entries → state dir + origin → marker), tag the image and collect
 * garbage. Also the "already pulled" id lookup used before fetching.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pullOciImage } from '../composefs/oci/store.js';
import { idForVersion, manifestStreamName, openStoredImage } from '../composefs/oci/stored.js';
import type { Repository } from '../composefs/repository/index.js';
import { newKargs, rustArch } from '../boot/kargs-d.js';
import { displayImageRef, formatOriginImageRef, type ImageRef } from '../image/ref.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { listEntries, liveEtcPath, type BootState } from './boot-state.js';
import { readStagedMarker } from './deployments.js';
import { checkEtcMerge, extractImageEtc, extractPristineEtc } from './etc-sync.js';
import { composefsGc, type GcResult } from './gc.js';
import { bootPayloadFromImage, openImageById, readImageKargs } from './image-content.js';
import type { ImageFetcher } from './image-fetcher.js';
import { bootcTag, repoGcWith } from './repo-gc.js';
import type { RepoAccess } from './repo-access.js';
import { stageDeployment } from './stage.js';
import { efiKeyFor } from '../boot/efi-key.js';
import { peSection, readPeSections } from '../boot/pe.js';
import { parseComposefsKargs } from './detect.js';
import { crashPoint } from '../util/crash-point.js';
import * as C from './constants.js';

export interface UpdateDeps {
  repo: RepoAccess;
  fetcher: ImageFetcher;
  /** Rust arch name for kargs.d `match-architectures` (default: this machine's). */
  arch?: string;
  /** The host's bootctl as the verb read it at its start (boot/efi-key.ts); absent: keep the booted entry's UKI key. */
  bootctl?: { version: number | undefined };
}

/** A deployment slot as bootc's Debug of `Option<Slot>` prints it. */
export type Slot = 'Some(Booted)' | 'Some(Staged)' | 'Some(Rollback)' | 'None';

/** Every deployment the host knows: booted, staged (marker), then the live entries in order. */
export async function existingDeployments(st: BootState): Promise<Map<string, Slot>> {
  const out = new Map<string, Slot>([[st.booted.digest, 'Some(Booted)']]);
  const marker = await readStagedMarker(st.host.root);
  if (marker !== undefined && !out.has(marker.deplId)) out.set(marker.deplId, 'Some(Staged)');
  const entries = await listEntries(st, { strict: true });
  let rollback = false;
  for (const e of entries.live) {
    const v = e.target.verity;
    if (v === undefined || out.has(v)) continue;
    out.set(v, rollback ? 'None' : 'Some(Rollback)');
    rollback = true;
  }
  return out;
}

export function collisionError(slot: Slot): TsbootcError {
  return new TsbootcError(`Target image has the same fs-verity digest as the existing ${slot} deployment.`);
}

/** The boot image id of an image the repository already holds completely, else undefined. */
export async function pulledBootId(repo: Repository, manifestDigest: string): Promise<string | undefined> {
  if ((await repo.hasStream(manifestStreamName(manifestDigest))) === undefined) return undefined;
  try {
    const img = await openStoredImage(repo, manifestDigest);
    const id = idForVersion(img.bootImageIds, repo.erofsVersion);
    return id !== undefined && (await repo.listImages()).includes(id) ? id : undefined;
  } catch {
    return undefined; // damaged: pull again
  }
}

export interface StageImageOpts {
  ref: ImageRef;
  isSwitch: boolean;
  downloadOnly: boolean;
}

export type StageImageResult =
  | { kind: 'staged'; verity: string; manifestDigest: string; gc: GcResult }
  | { kind: 'no-changes'; verity: string };

/**
 * A UKI boots the image its `.cmdline` names: it must be the new deployment
 * (bootc's UKIDigestMismatch), or the entry would boot another root.
 */
export function checkUkiComposefs(uki: Buffer, verity: string): void {
  const cmdline = peSection(readPeSections(uki), '.cmdline')?.toString('utf8').replace(/\0/g, ' ');
  const k = cmdline === undefined ? undefined : parseComposefsKargs(cmdline);
  if (k === undefined) throw new TsbootcError('No composefs image in UKI cmdline');
  if (k.digest !== verity) throw new TsbootcError(`The UKI has the wrong composefs= parameter (is '${k.digest}', should be '${verity}')`);
}

/** Work dir on the sysroot (same filesystem as the state dirs, so the new /etc is renamed into place). */
async function makeWorkDir(st: BootState): Promise<string> {
  await st.sysroot.mkdirp(C.WORK_DIR);
  const real = await fs.mkdtemp(path.join(st.sysroot.resolve(C.WORK_DIR), 'update-'));
  return `${C.WORK_DIR}/${path.basename(real)}`;
}

/** `do_upgrade`: the whole fetch → pull → check → stage → tag → GC sequence with one repository handle. */
export async function stageImage(st: BootState, repo: Repository, deps: UpdateDeps, opts: StageImageOpts): Promise<StageImageResult> {
  const display = displayImageRef(opts.ref);
  const work = await makeWorkDir(st);
  const workReal = st.sysroot.resolve(work);
  try {
    const src = await deps.fetcher.fetch(opts.ref, path.join(workReal, 'fetch'));
    const pulled = await withContext(`Pulling ${display} into ${deps.repo.path}`, () => pullOciImage(repo, src.store, { bootable: true, zstd: deps.repo.zstd }));
    const verity = pulled.bootImageId;
    if (verity === undefined) throw new TsbootcError(`${display} is not a container image`);
    await fs.rm(path.join(workReal, 'fetch'), { recursive: true, force: true });
    const slot = (await existingDeployments(st)).get(verity);
    if (slot !== undefined) {
      if (opts.isSwitch) throw collisionError(slot);
      return { kind: 'no-changes', verity };
    }
    const ociId = idForVersion(pulled.imageIds, repo.erofsVersion) ?? verity;
    const next = await openImageById(repo, ociId);
    const booted = await openImageById(repo, st.booted.digest);
    const owners = st.host.isRoot;
    const pristine = await extractPristineEtc(booted, workReal, owners);
    const newEtc = path.join(workReal, 'new-etc');
    await extractImageEtc(next, newEtc, owners);
    await checkEtcMerge(pristine, st.host.root.resolve(liveEtcPath(st)), newEtc);
    const entries = await listEntries(st, { strict: true });
    const bootedEntry = entries.live.find((e) => e.target.verity === st.booted.digest);
    const arch = deps.arch ?? rustArch(process.arch);
    const options = newKargs(bootedEntry?.bls?.options ?? '', verity, await readImageKargs(booted, arch), await readImageKargs(next, arch));
    const payload = await bootPayloadFromImage(next, options);
    if (payload.kind === 'uki') checkUkiComposefs(Buffer.from(payload.uki.buffer, payload.uki.byteOffset, payload.uki.byteLength), verity);
    await armFinalizeUnit(st);
    await stageDeployment(
      st,
      { verity, imageReference: formatOriginImageRef(opts.ref), manifestDigest: pulled.manifestDigest, payload, etcSource: { root: st.sysroot, path: `${work}/new-etc`, move: true } },
      deps.bootctl === undefined ? { downloadOnly: opts.downloadOnly } : { downloadOnly: opts.downloadOnly, efiKey: efiKeyFor(st.bootloader, deps.bootctl.version) },
    );
    await repo.tagImage(pulled.manifestDigest, bootcTag(pulled.manifestDigest));
    crashPoint(st.host, 'stage:after-tag');
    const gc = await composefsGc(st, { dryRun: false, pruneRepo: true, repoGc: repoGcWith(repo) });
    return { kind: 'staged', verity, manifestDigest: pulled.manifestDigest, gc };
  } finally {
    await st.sysroot.remove(work);
    await removeWorkRoot(st);
  }
}

/** The unit whose ExecStop finalizes at shutdown (systemd/tsbootc-finalize-staged.service). */
export const FINALIZE_UNIT = 'tsbootc-finalize-staged.service';

/** Starts the finalize unit so its ExecStop runs at shutdown; only on the running system (not with --root). */
export async function armFinalizeUnit(st: BootState): Promise<void> {
  if (!st.host.root.isHostRoot || st.offline === true) return;
  await withContext(`Starting ${FINALIZE_UNIT}`, () => st.host.run.run(['systemctl', 'start', '--quiet', FINALIZE_UNIT]));
}

/** Removes the (empty) work root, so a finished verb leaves no trace; another run's dirs keep it. */
export async function removeWorkRoot(st: BootState): Promise<void> {
  await fs.rmdir(st.sysroot.resolve(C.WORK_DIR)).catch(() => undefined);
}
