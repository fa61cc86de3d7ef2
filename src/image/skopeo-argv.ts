/**
 * Owns the skopeo command lines tsbootc runs to fetch images: `inspect --raw`
 * for manifests and `copy … dir:` for whole images. Pure: the containers
 * configuration comes in already resolved (containers-config.ts).
 *
 * Choices, each pinned by a golden test:
 *  - `--registries-conf FILE` always (global flag; skopeo 1.9 ignores the
 *    CONTAINERS_REGISTRIES_CONF env var), so mirrors and `insecure = true`
 *    come from the Root's registries.conf and never from the running system's.
 *  - `--src-tls-verify` / `--tls-verify` never: an explicit value overrides the
 *    per-registry (and per-mirror) `insecure` setting, so TLS is verified
 *    exactly unless registries.conf says otherwise.
 *  - `--insecure-policy` unless the signature policy is enforced, then
 *    `--policy FILE` (the Root's policy.json).
 *  - credentials only for the registry transport: `--authfile FILE`, or
 *    `--no-creds` when none was found and the Root is not `/`.
 */
import type { ContainersConfig } from './containers-config.js';
import { splitRegistryName, toContainersImageRef, type ImageRef } from './ref.js';

export const SKOPEO = 'skopeo';

export interface PlatformOverride {
  /** GOARCH spelling (`amd64`, `arm64`); undefined = skopeo's own (the running machine's). */
  arch?: string | undefined;
}

function globalFlags(cfg: ContainersConfig, platform: PlatformOverride, withPolicy: boolean): string[] {
  const out = ['--registries-conf', cfg.registriesConf];
  if (withPolicy) {
    if (cfg.policy.kind === 'file') out.push('--policy', cfg.policy.path);
    else out.push('--insecure-policy');
  }
  if (platform.arch !== undefined) out.push('--override-arch', platform.arch);
  return out;
}

function credFlags(cfg: ContainersConfig, ref: Pick<ImageRef, 'transport'>, flag: string, noCredsFlag: string): string[] {
  if (ref.transport !== 'registry') return [];
  if (cfg.authfile !== undefined) return [flag, cfg.authfile];
  return cfg.noCreds ? [noCredsFlag] : [];
}

/**
 * The image to copy: registry images by digest when one is known, so the copy is
 * exactly what was inspected. A name with both a tag and a digest (which
 * containers-image refuses) is used by its digest.
 */
export function sourceImageRef(ref: Pick<ImageRef, 'transport' | 'image'>, digest: string | undefined): string {
  if (ref.transport === 'registry') {
    const parts = splitRegistryName(ref.image);
    const pin = digest ?? parts.digest;
    if (pin !== undefined) return `docker://${parts.repository}@${pin}`;
  }
  return toContainersImageRef(ref);
}

/** `skopeo inspect --raw`: the raw manifest (or index) bytes on stdout. */
export function inspectRawArgv(cfg: ContainersConfig, ref: Pick<ImageRef, 'transport' | 'image'>, digest?: string): string[] {
  return [SKOPEO, ...globalFlags(cfg, {}, false), 'inspect', '--raw', ...credFlags(cfg, ref, '--authfile', '--no-creds'), sourceImageRef(ref, digest)];
}

/** `skopeo copy SRC dir:DEST`: blobs stay compressed and manifest.json keeps the source's bytes. */
export function copyToDirArgv(
  cfg: ContainersConfig,
  ref: Pick<ImageRef, 'transport' | 'image'>,
  destDir: string,
  opts: { digest?: string | undefined } & PlatformOverride = {},
): string[] {
  return [
    SKOPEO,
    ...globalFlags(cfg, { arch: opts.arch }, true),
    'copy',
    '--quiet',
    ...credFlags(cfg, ref, '--src-authfile', '--src-no-creds'),
    sourceImageRef(ref, opts.digest),
    `dir:${destDir}`,
  ];
}
