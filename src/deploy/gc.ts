/**
 * Owns the boot side of garbage collection (bootc.md §7 steps 2–6): boot
 * binaries no entry references (Type1 kernel dirs keyed by the directory an
 * entry names, not by its composefs= digest — shared kernels, bootc #2102;
 * UKIs with their `.efi.extra.d`), and with `pruneRepo` the orphan state
 * dirs (no entry) and the staged marker of orphans. Anything of the booted
 * deployment among the garbage means the state is inconsistent: refuse and
 * delete nothing. The repository GC is injected (`repoGc`) so it can be wired
 * when the composefs repository lands; its roots are computed here.
 */
import { StateCorruptError, withContext } from '../util/errors.js';
import { listEntries, type BootState } from './boot-state.js';
import { listStateDirs, readOrigin, readStagedMarker } from './deployments.js';
import { crashPoint } from '../util/crash-point.js';
import * as C from './constants.js';

export interface RepoGcRoots {
  /** EROFS image ids (deployment verities) to keep. */
  verities: string[];
  /** Live OCI manifest digests (bootc tags `localhost/bootc-<digest>`). */
  manifestDigests: string[];
  /** Live deployments whose origin names no manifest (pre-1.16): their manifests are found by a tag scan. */
  untracked?: string[];
}

export interface RepoGcResult {
  objectsRemoved: number;
  bytesRemoved: number;
  prunedImages: number;
  prunedStreams: number;
}

/** Undefined when the host has no repository. */
export type RepoGc = (roots: RepoGcRoots, dryRun: boolean) => Promise<RepoGcResult | undefined>;

export interface GcOpts {
  dryRun: boolean;
  pruneRepo: boolean;
  repoGc?: RepoGc;
}

export interface GcResult {
  /** Host paths removed (or that would be), in order. */
  removed: string[];
  /** Orphan entries (no state dir); bootc leaves the file, so do we. */
  orphanEntries: string[];
  roots: RepoGcRoots | undefined;
  repo: RepoGcResult | undefined;
}

export async function composefsGc(st: BootState, opts: GcOpts): Promise<GcResult> {
  return withContext('Garbage-collecting deployments', async () => {
    const root = st.host.root;
    const entries = await listEntries(st, { strict: true });
    const all = [...entries.live, ...entries.staged].filter((e) => e.target.verity !== undefined);
    const referenced = new Set(all.map((e) => e.target.artifact));
    const uki = all.some((e) => e.bls?.efi !== undefined || e.menu !== undefined);
    const binDir = uki ? `${await st.esp()}/${C.BOOTC_UKI_DIR}` : st.bootloader === 'grub' ? `${C.SYSROOT}/${C.SYSROOT_BOOT}` : `${await st.esp()}/${C.EFI_LINUX}`;
    const garbage: string[] = [];
    for (const name of await root.listDir(binDir)) {
      if (!name.startsWith(C.ARTIFACT_PREFIX)) continue;
      const isUki = name.endsWith(C.UKI_EXT);
      if (uki !== isUki || (!uki && !(await root.isDir(`${binDir}/${name}`)))) continue;
      const id = name.slice(C.ARTIFACT_PREFIX.length, isUki ? -C.UKI_EXT.length : undefined);
      if (referenced.has(id)) continue;
      if (id === st.booted.digest) throw new StateCorruptError(`Inconsistent state. Booted binaries '${id}' found for cleanup`);
      garbage.push(`${binDir}/${name}`);
      if (isUki && (await root.exists(`${binDir}/${name}.extra.d`))) garbage.push(`${binDir}/${name}.extra.d`);
    }
    const orphanEntries: string[] = [];
    let roots: RepoGcRoots | undefined;
    let removeMarker = false;
    if (opts.pruneRepo) {
      const withEntry = new Set(all.map((e) => e.target.verity!));
      const stateDirs = await listStateDirs(st.sysroot);
      const marker = await readStagedMarker(root).catch(() => undefined);
      for (const v of stateDirs) {
        if (withEntry.has(v)) continue;
        if (v === st.booted.digest) throw new StateCorruptError(`Inconsistent state. Booted deployment '${v}' has no boot entry`);
        garbage.push(`${C.SYSROOT}/${C.stateDirOf(v)}`);
        if (marker?.deplId === v) removeMarker = true;
      }
      for (const e of all) if (!stateDirs.includes(e.target.verity!)) orphanEntries.push(e.fileName === undefined ? `${e.file}: ${e.menu?.title}` : e.file);
      if (marker !== undefined && orphanEntries.length > 0 && all.some((e) => e.target.verity === marker.deplId && !stateDirs.includes(marker.deplId))) removeMarker = true;
      const live = stateDirs.filter((v) => withEntry.has(v));
      const manifests: string[] = [];
      const untracked: string[] = [];
      for (const v of live) {
        const o = await readOrigin(st.sysroot, v).catch(() => undefined);
        if (o?.manifestDigest !== undefined && !manifests.includes(o.manifestDigest)) manifests.push(o.manifestDigest);
        else if (o !== undefined && o.manifestDigest === undefined) untracked.push(v);
      }
      roots = untracked.length > 0 ? { verities: live, manifestDigests: manifests, untracked } : { verities: live, manifestDigests: manifests };
    }
    if (removeMarker) garbage.push(C.STAGED_MARKER);
    if (!opts.dryRun) {
      for (const p of garbage) {
        await root.remove(p);
        crashPoint(st.host, 'gc:after-remove');
      }
      if (garbage.length > 0) await root.syncDir(binDir);
      if (opts.repoGc !== undefined && roots !== undefined) crashPoint(st.host, 'gc:before-repo-gc');
    }
    const repo = roots !== undefined && opts.repoGc !== undefined ? await opts.repoGc(roots, opts.dryRun) : undefined;
    return { removed: garbage, orphanEntries, roots, repo };
  });
}
