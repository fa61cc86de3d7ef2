/**
 * Owns which containers configuration a fetch uses, resolved under the Root:
 * the registries.conf handed to skopeo (mirrors, insecure registries), the
 * auth file found in bootc's order, and the signature policy (policy.json only
 * with --enforce-container-sigpolicy). Credentials are never read or logged
 * here: only the *path* of an auth file leaves this module.
 */
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import TOML from '@iarna/toml';
import type { Host } from '../sys/host.js';
import { FormatError, TsbootcError, withContext } from '../util/errors.js';
import { splitRegistryName, type ImageRef } from './ref.js';

export const REGISTRIES_CONF = '/etc/containers/registries.conf';
export const POLICY_JSON = '/etc/containers/policy.json';

/**
 * The global auth files bootc (ostree-ext `globals.rs`, uid 0) consults, in order:
 * runtime, persistent, system. skopeo's own default `${XDG_RUNTIME_DIR}/containers/auth.json`
 * comes after them, resolved under the Root too.
 */
export const GLOBAL_AUTHFILES = ['/run/ostree/auth.json', '/etc/ostree/auth.json', '/usr/lib/ostree/auth.json'] as const;

export type PolicyChoice = { kind: 'insecure' } | { kind: 'file'; path: string };

/** Everything about the containers configuration a skopeo invocation needs (real paths). */
export interface ContainersConfig {
  /** Real path of the registries.conf to pass with `--registries-conf`. */
  registriesConf: string;
  /** Host path it came from, for messages (`/etc/containers/registries.conf`), or undefined when none exists. */
  registriesConfHostPath: string | undefined;
  /** Real path of the auth file, when one was given or found. */
  authfile: string | undefined;
  /**
   * No auth file and the Root is not `/`: tell skopeo not to look for the running
   * system's credentials, which belong to another root.
   */
  noCreds: boolean;
  policy: PolicyChoice;
}

export interface ResolveConfigOptions {
  /** `--authfile` as the user gave it: a path on the running system, not under the Root. */
  authfile?: string | undefined;
  enforceSigpolicy?: boolean | undefined;
  /**
   * Real path of an empty file to use when the Root has no registries.conf, so
   * that skopeo never falls back to the running system's /etc.
   */
  emptyRegistriesConf: string;
}

/** Finds the auth file in bootc's order; undefined when there is none. */
export async function findAuthfile(host: Host, explicit: string | undefined): Promise<string | undefined> {
  if (explicit !== undefined) {
    const real = path.resolve(explicit);
    if (!(await isFile(real))) throw new TsbootcError(`auth file ${explicit} does not exist`);
    return real;
  }
  const candidates: string[] = [...GLOBAL_AUTHFILES];
  const xdg = host.env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg.startsWith('/')) candidates.push(`${xdg}/containers/auth.json`);
  for (const c of candidates) {
    const st = await host.root.tryLstat(c);
    if (st !== undefined && (st.isFile() || st.isSymbolicLink())) return host.root.resolve(c);
  }
  return undefined;
}

/** Resolves registries.conf, the auth file and the policy for one fetch. */
export async function resolveContainersConfig(host: Host, opts: ResolveConfigOptions): Promise<ContainersConfig> {
  return withContext('Reading the containers configuration', async () => {
    const hasConf = await host.root.exists(REGISTRIES_CONF);
    const authfile = await findAuthfile(host, opts.authfile);
    let policy: PolicyChoice = { kind: 'insecure' };
    if (opts.enforceSigpolicy === true) {
      if (!(await host.root.exists(POLICY_JSON))) {
        throw new TsbootcError(`--enforce-container-sigpolicy: ${POLICY_JSON} does not exist`);
      }
      policy = { kind: 'file', path: host.root.resolve(POLICY_JSON) };
    }
    return {
      registriesConf: hasConf ? host.root.resolve(REGISTRIES_CONF) : opts.emptyRegistriesConf,
      registriesConfHostPath: hasConf ? REGISTRIES_CONF : undefined,
      authfile,
      noCreds: authfile === undefined && !host.root.isHostRoot,
      policy,
    };
  });
}

/**
 * The registry host of a `registry` transport name, as containers-image
 * normalizes it (`quay.io/x:y` → `quay.io`, `fedora:40` → `docker.io`).
 */
export function registryHost(image: string): string {
  const { repository } = splitRegistryName(image);
  const slash = repository.indexOf('/');
  const first = slash >= 0 ? repository.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
  return 'docker.io';
}

/** A short name for messages: the registry for `registry`, else the transport. */
export function sourceName(ref: Pick<ImageRef, 'transport' | 'image'>): string {
  return ref.transport === 'registry' ? `registry ${registryHost(ref.image)}` : `${ref.transport} source`;
}

interface RegistryEntry {
  location?: unknown;
  prefix?: unknown;
  insecure?: unknown;
}

/**
 * Whether registries.conf (v2 syntax) marks `host` insecure: the `[[registry]]`
 * whose prefix/location is the longest match of the repository name wins.
 * Used only to explain TLS failures; skopeo reads the file itself.
 * @throws FormatError when the text is not TOML.
 */
export function isRegistryInsecure(registriesConfText: string, image: string): boolean {
  let doc: Record<string, unknown>;
  try {
    doc = TOML.parse(registriesConfText) as Record<string, unknown>;
  } catch (err) {
    throw new FormatError('registries.conf is not valid TOML', { cause: err });
  }
  const regs = Array.isArray(doc['registry']) ? (doc['registry'] as RegistryEntry[]) : [];
  const { repository } = splitRegistryName(image);
  let best: { len: number; insecure: boolean } | undefined;
  for (const r of regs) {
    const prefix = typeof r.prefix === 'string' ? r.prefix : typeof r.location === 'string' ? r.location : undefined;
    if (prefix === undefined) continue;
    const matches = repository === prefix || repository.startsWith(prefix + '/');
    if (matches && (best === undefined || prefix.length > best.len)) best = { len: prefix.length, insecure: r.insecure === true };
  }
  return best?.insecure ?? false;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
