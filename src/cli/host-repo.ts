/**
 * Owns the composition of the host's composefs repository handle: the real
 * syscalls (flock, fs-verity) and libzstd from src/sys, at
 * `/sysroot/composefs` under the host Root. Opening upgrades a pre-meta.json
 * repository (as bootc does on every storage open); creating falls back to an
 * insecure repository when the filesystem has no fs-verity.
 */
import * as fs from 'node:fs';
import type { Host } from '../sys/host.js';
import { realRepoSyscalls } from '../sys/repo-syscalls.js';
import { libzstdCodec, libzstdDecompressor } from '../sys/zstd.js';
import { Repository, RepositoryOpenError, type RepositoryOptions } from '../composefs/repository/index.js';
import type { RepoAccess } from '../deploy/repo-access.js';
import { SYSROOT, COMPOSEFS_DIR } from '../deploy/constants.js';

export function hostRepoAccess(host: Host): RepoAccess {
  const hostPath = `${SYSROOT}/${COMPOSEFS_DIR}`;
  const real = host.root.resolve(hostPath);
  const opts = (): RepositoryOptions => ({
    sys: realRepoSyscalls(),
    zstd: libzstdCodec(),
    log: (e) => host.log.debug({ kind: 'message', message: `composefs: ${JSON.stringify(e)}` }),
    crash: host.crash,
  });
  return {
    path: hostPath,
    zstd: libzstdDecompressor,
    async open() {
      await host.root.guard(hostPath, true); // never a repository reached through a planted link
      if (!fs.existsSync(real)) return undefined;
      try {
        return (await Repository.openUpgrade(real, opts())).repo;
      } catch (err) {
        // A directory that was never initialized (no meta.json, no objects) is no repository.
        if (err instanceof RepositoryOpenError && err.reason === 'metadata-missing') return undefined;
        throw err;
      }
    },
    async openOrCreate() {
      await host.root.guard(hostPath, true);
      if (fs.existsSync(real)) return (await Repository.openUpgrade(real, opts())).repo;
      try {
        return (await Repository.init(real, opts())).repo;
      } catch (err) {
        if (!(err instanceof RepositoryOpenError) || err.reason !== 'verity-unsupported') throw err;
        host.log.warn({ kind: 'warning', message: `${hostPath}: the filesystem has no fs-verity; creating an insecure repository` });
        return (await Repository.init(real, { ...opts(), insecure: true })).repo;
      }
    },
  };
}
