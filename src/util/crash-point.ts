/**
 * Owns the registry of crash points: every named step between two mutations
 * of on-disk state (docs/decisions/0011-sysroot-lock.md). Mutating code calls
 * `crashPoint(site, name)` after a step; the site (the Host, a repository
 * core, exchange options) carries an optional hook that src/sys/crash.ts
 * provides from `TSBOOTC_CRASH_AT`. Without a hook a crash point is a no-op.
 * The fault-injection test (tests-integration/cli/crash-points.test.ts)
 * crashes at each of them and fails when one is never reached.
 */

/** Called at each crash point; may kill the process. */
export type CrashHook = (name: CrashPointName) => void;

/** Anything that may carry the hook. */
export interface CrashSite {
  readonly crash?: CrashHook | undefined;
}

/** Every crash point, in the order its verb reaches it, with the step it follows. */
export const CRASH_POINTS = {
  // switch / upgrade staging (bootc.md §6.3, §6.4)
  'stage:after-drop-previous': 'previous staged marker and stale state dir of the new id removed',
  'stage:after-boot-binaries': 'kernel dir / UKI of the new deployment written',
  'stage:after-staged-entries': 'loader/entries.staged written',
  'stage:after-state-etc': 'state dir with its /etc written, origin not yet',
  'stage:after-origin': 'origin written, /run marker not yet',
  'stage:after-marker': '/run/composefs/staged-deployment written (staged)',
  'stage:after-tag': 'bootc tag of the new image written, GC not yet',
  // finalize (bootc.md §6.5)
  'finalize:after-etc-merge-step': 'one live /etc change merged into (or removed from) the staged state dir',
  'finalize:after-etc-merge': 'live /etc changes merged into the staged state dir',
  'finalize:after-commit': 'staged entries committed, GC not yet',
  // boot entry exchange (boot/exchange.ts, decision 0004)
  'exchange:after-exchange': 'renameat2(RENAME_EXCHANGE) done, old set not yet removed',
  'exchange:fat-after-marker': 'FAT roll-forward: commit marker written',
  'exchange:fat-after-copy': 'FAT roll-forward: one staged entry copied into loader/entries',
  'exchange:fat-after-delete': 'FAT roll-forward: one stale live entry deleted',
  'exchange:fat-before-cleanup': 'FAT roll-forward: live set complete, staged set not yet removed',
  // rollback (bootc.md §6.8)
  'rollback:after-drop-staged': 'staged entries and marker dropped',
  'rollback:after-staged-entries': 'the reordered set written to loader/entries.staged',
  // delete-deployment (bootc.md §6.9)
  'delete:after-remove-entry': 'one boot entry of the deployment removed',
  // legacy layout migration (bootc.md §3.6)
  'migrate:after-copy-artifacts': 'prefixed copies of the kernel dirs / UKIs written',
  'migrate:after-commit': 'entries switched to the prefixed names, old names not yet deleted',
  'migrate:after-remove-old': 'one unprefixed kernel dir / UKI removed',
  // boot-side GC (bootc.md §7)
  'gc:after-remove': 'one boot binary, state dir or marker removed',
  'gc:before-repo-gc': 'boot side collected, repository GC not yet',
  // composefs repository writes and GC (composefs.md)
  'repo:after-object-publish': 'an object linked into objects/XX/',
  'repo:after-stream-publish': 'streams/<id> symlink created',
  'repo:after-image-publish': 'images/<id> symlink created',
  'repo:after-tag': 'streams/refs/oci/<tag> symlink created',
  'repo:after-untag': 'a tag removed',
  'repo-gc:after-object-delete': 'one unreferenced object deleted',
  'repo-gc:after-prune': 'one dangling image/stream symlink removed',
  // install to-disk / to-filesystem / to-existing-root (bootc.md §5.3; decision 0012 for the order)
  'install:after-disk': 'to-disk: partitioned and formatted (loop device attached when an image file; without root: the root filesystem written from the staged directory)',
  'install:after-repository': 'composefs/ and ostree/bootc created on the target root (mounted)',
  'install:after-pull': 'the image copied into the target repository and tagged',
  'install:after-bootloader': 'systemd-boot on the ESP, or bootupctl run',
  'install:after-kernel': 'kernel dir or UKI (with addons) written',
  'install:after-state': 'state dir with etc, var and origin written',
  'install:after-entries': 'the boot entry written: the install is complete',
} as const;

export type CrashPointName = keyof typeof CRASH_POINTS;

export function crashPointNames(): CrashPointName[] {
  return Object.keys(CRASH_POINTS) as CrashPointName[];
}

export function isCrashPointName(s: string): s is CrashPointName {
  return Object.hasOwn(CRASH_POINTS, s);
}

/** Marks the end of a mutation step; the hook (if any) may end the process here. */
export function crashPoint(site: CrashSite | undefined, name: CrashPointName): void {
  site?.crash?.(name);
}
