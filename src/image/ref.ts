/**
 * Owns container image references as bootc spells them: the spec form
 * `{image, transport, signature}`, the containers-image form used by skopeo
 * (`docker://NAME`, `oci:/dir:tag`, …), the ostree-ext origin form written in
 * `.origin` files (`ostree-unverified-image:docker://NAME`), and tag edits.
 * Pure: no I/O.
 */
import { UsageError, FormatError } from '../util/errors.js';

export const TRANSPORTS = ['registry', 'containers-storage', 'oci', 'oci-archive', 'docker-daemon', 'dir'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export type SignatureSource = { kind: 'insecure' } | { kind: 'containerPolicy' } | { kind: 'ostreeRemote'; remote: string };

export interface ImageRef {
  transport: Transport;
  /** The name in that transport: `quay.io/x/y:tag`, `/path/to/layout:tag`, … */
  image: string;
  signature: SignatureSource;
}

export function isTransport(s: string): s is Transport {
  return (TRANSPORTS as readonly string[]).includes(s);
}

/** `docker://` for registry, `<transport>:` for the others (containers-image syntax). */
export function transportPrefix(t: Transport): string {
  return t === 'registry' ? 'docker://' : `${t}:`;
}

/** containers-image form, as skopeo takes it: `docker://quay.io/x:1`, `oci:/srv/layout:tag`. */
export function toContainersImageRef(r: Pick<ImageRef, 'transport' | 'image'>): string {
  return transportPrefix(r.transport) + r.image;
}

/** Parses a containers-image reference (`docker://…`, `oci:…`, …). */
export function parseContainersImageRef(s: string): Pick<ImageRef, 'transport' | 'image'> {
  if (s.startsWith('docker://')) return { transport: 'registry', image: nonEmpty(s.slice('docker://'.length), s) };
  if (s.startsWith('registry:')) return { transport: 'registry', image: nonEmpty(s.slice('registry:'.length), s) };
  const colon = s.indexOf(':');
  if (colon > 0) {
    const t = s.slice(0, colon);
    if (isTransport(t)) return { transport: t, image: nonEmpty(s.slice(colon + 1), s) };
  }
  throw new FormatError(`invalid image reference '${s}': expected TRANSPORT:NAME (docker://, containers-storage:, oci:, oci-archive:, docker-daemon:)`);
}

function nonEmpty(name: string, whole: string): string {
  if (name.length === 0) throw new FormatError(`invalid image reference '${whole}': empty name`);
  return name;
}

/**
 * The image ref for `switch TARGET --transport T`, as bootc builds it.
 * `--enforce-container-sigpolicy` selects the containers policy; otherwise unverified.
 */
export function imageRefForSwitch(target: string, transport: string, enforceSigpolicy: boolean): ImageRef {
  if (!isTransport(transport)) throw new UsageError(`switch: unknown transport '${transport}'`);
  if (target.length === 0) throw new UsageError('switch: empty image reference');
  let image = target;
  // Accept a containers-image form too when it names the same transport (docker://quay.io/...).
  const prefix = transportPrefix(transport);
  if (image.startsWith(prefix)) image = image.slice(prefix.length);
  return { transport, image, signature: enforceSigpolicy ? { kind: 'containerPolicy' } : { kind: 'insecure' } };
}

/**
 * The `[origin] container-image-reference` value (ostree-ext OstreeImageReference).
 * bootc always writes `ostree-unverified-image:`; tsbootc writes `ostree-image-signed:`
 * when the signature policy is enforced so later upgrades keep enforcing it
 * (ostree-ext and therefore bootc parse both).
 */
export function formatOriginImageRef(r: ImageRef): string {
  const inner = toContainersImageRef(r);
  switch (r.signature.kind) {
    case 'insecure':
      return `ostree-unverified-image:${inner}`;
    case 'containerPolicy':
      return `ostree-image-signed:${inner}`;
    case 'ostreeRemote':
      return `ostree-remote-image:${r.signature.remote}:${inner}`;
  }
}

/** Parses an origin image reference in any of ostree-ext's spellings. */
export function parseOriginImageRef(s: string): ImageRef {
  const take = (prefix: string) => (s.startsWith(prefix) ? s.slice(prefix.length) : undefined);
  let rest: string | undefined;
  if ((rest = take('ostree-unverified-image:')) !== undefined) return { ...parseContainersImageRef(rest), signature: { kind: 'insecure' } };
  if ((rest = take('ostree-unverified-registry:')) !== undefined) return { transport: 'registry', image: nonEmpty(rest, s), signature: { kind: 'insecure' } };
  if ((rest = take('ostree-image-signed:')) !== undefined) return { ...parseContainersImageRef(rest), signature: { kind: 'containerPolicy' } };
  for (const p of ['ostree-remote-image:', 'ostree-remote-registry:']) {
    if ((rest = take(p)) !== undefined) {
      const c = rest.indexOf(':');
      if (c <= 0) throw new FormatError(`invalid image reference '${s}': missing ostree remote name`);
      const remote = rest.slice(0, c);
      const name = rest.slice(c + 1);
      const base = p === 'ostree-remote-registry:' ? { transport: 'registry' as const, image: nonEmpty(name, s) } : parseContainersImageRef(name);
      return { ...base, signature: { kind: 'ostreeRemote', remote } };
    }
  }
  throw new FormatError(`invalid image reference '${s}': expected an ostree-unverified-image:, ostree-image-signed: or ostree-remote-image: prefix`);
}

/** The Host spec form (`status` JSON): `{image, transport[, signature]}`. */
export function toSpecImageRef(r: ImageRef): { image: string; transport: string; signature?: { ostreeRemote: string } | 'containerPolicy' } {
  const out: { image: string; transport: string; signature?: { ostreeRemote: string } | 'containerPolicy' } = { image: r.image, transport: r.transport };
  if (r.signature.kind === 'containerPolicy') out.signature = 'containerPolicy';
  if (r.signature.kind === 'ostreeRemote') out.signature = { ostreeRemote: r.signature.remote };
  return out;
}

/** Human form in `status`: the bare name for registry images, `transport:name` otherwise. */
export function displayImageRef(r: Pick<ImageRef, 'transport' | 'image'>): string {
  return r.transport === 'registry' ? r.image : `${r.transport}:${r.image}`;
}

export function sameImageRef(a: ImageRef, b: ImageRef): boolean {
  return a.transport === b.transport && a.image === b.image && a.signature.kind === b.signature.kind &&
    (a.signature.kind !== 'ostreeRemote' || (b.signature.kind === 'ostreeRemote' && a.signature.remote === b.signature.remote));
}

/** Splits a registry name into repository, tag and digest (`host:5000/a/b:tag@sha256:…`). */
export function splitRegistryName(name: string): { repository: string; tag: string | undefined; digest: string | undefined } {
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { repository: rest, tag, digest };
}

/** `upgrade --tag T`: the same image with its tag (and any digest) replaced. */
export function withTag(r: ImageRef, tag: string): ImageRef {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new UsageError(`upgrade: invalid tag '${tag}'`);
  switch (r.transport) {
    case 'registry':
    case 'containers-storage':
    case 'docker-daemon': {
      const { repository } = splitRegistryName(r.image);
      return { ...r, image: `${repository}:${tag}` };
    }
    case 'oci':
    case 'oci-archive': {
      // PATH[:REFERENCE]; paths may not contain ':' in containers-image's oci transport.
      const c = r.image.indexOf(':');
      const path = c >= 0 ? r.image.slice(0, c) : r.image;
      return { ...r, image: `${path}:${tag}` };
    }
    case 'dir':
      throw new UsageError(`upgrade --tag: the dir transport has no tags (${r.image})`);
  }
}
