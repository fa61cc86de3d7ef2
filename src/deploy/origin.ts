/**
 * Owns the `.origin` INI of a deployment (bootc.md §2.1) and the legacy
 * `.imginfo` JSON (§2.2): pure parse/format pairs plus the typed view status,
 * rollback and GC need. The format is what bootc's `tini` writes: sections in
 * insertion order, `key = value`, one blank line between sections and no
 * trailing newline. Reading is tolerant (`key=value`, comments, CRLF).
 */
import { createHash } from 'node:crypto';
import { FormatError } from '../util/errors.js';
import {
  ORIGIN_KEY_BOOT_DIGEST,
  ORIGIN_KEY_BOOT_TYPE,
  ORIGIN_KEY_IMAGE,
  ORIGIN_KEY_MANIFEST_DIGEST,
  ORIGIN_SECTION_BOOT,
  ORIGIN_SECTION_IMAGE,
  ORIGIN_SECTION_ORIGIN,
} from './constants.js';

export interface IniSection {
  name: string;
  entries: Array<[string, string]>;
}

/** An ordered INI document; unknown sections and keys survive a round trip. */
export interface IniDoc {
  sections: IniSection[];
}

export function parseIni(text: string): IniDoc {
  const sections: IniSection[] = [];
  let cur: IniSection | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (line.startsWith('[')) {
      if (!line.endsWith(']') || line.length < 3) throw new FormatError(`line ${i + 1}: malformed section header '${line}'`);
      const name = line.slice(1, -1).trim();
      cur = sections.find((s) => s.name === name);
      if (cur === undefined) {
        cur = { name, entries: [] };
        sections.push(cur);
      }
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new FormatError(`line ${i + 1}: expected 'key = value', got '${line}'`);
    if (cur === undefined) throw new FormatError(`line ${i + 1}: key outside of a section`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const existing = cur.entries.findIndex(([k]) => k === key);
    if (existing >= 0) cur.entries[existing] = [key, value];
    else cur.entries.push([key, value]);
  });
  return { sections };
}

/** bootc's byte format: `key = value`, blank line between sections, no trailing newline. */
export function formatIni(doc: IniDoc): string {
  return doc.sections
    .filter((s) => s.entries.length > 0)
    .map((s) => [`[${s.name}]`, ...s.entries.map(([k, v]) => `${k} = ${v}`)].join('\n'))
    .join('\n\n');
}

export function iniGet(doc: IniDoc, section: string, key: string): string | undefined {
  return doc.sections.find((s) => s.name === section)?.entries.find(([k]) => k === key)?.[1];
}

/** Sets a key in place (bootc `add_update_in_origin`): existing keys keep their position. */
export function iniSet(doc: IniDoc, section: string, key: string, value: string): IniDoc {
  const sections = doc.sections.map((s) => ({ name: s.name, entries: s.entries.map(([k, v]) => [k, v] as [string, string]) }));
  let sec = sections.find((s) => s.name === section);
  if (sec === undefined) {
    sec = { name: section, entries: [] };
    sections.push(sec);
  }
  const i = sec.entries.findIndex(([k]) => k === key);
  if (i >= 0) sec.entries[i] = [key, value];
  else sec.entries.push([key, value]);
  return { sections };
}

export type OriginBootType = 'bls' | 'uki';

/** The typed view of a deployment's origin. */
export interface Origin {
  /** `[origin] container-image-reference`, e.g. `ostree-unverified-image:docker://quay.io/x:y`. */
  imageReference: string | undefined;
  bootType: OriginBootType;
  /** `[boot] digest`: hex sha256(vmlinuz ‖ initrd) or of the UKI's .linux ‖ .initrd. */
  bootDigest: string | undefined;
  /** `[image] manifest_digest` (`sha256:<hex>`), absent before bootc 1.16. */
  manifestDigest: string | undefined;
  /** The document as read, so unknown keys survive rewrites. */
  doc: IniDoc;
}

/** Parses an origin; a missing or unknown `[boot] boot_type` is an error, as in bootc. */
export function parseOrigin(text: string): Origin {
  const doc = parseIni(text);
  const bt = iniGet(doc, ORIGIN_SECTION_BOOT, ORIGIN_KEY_BOOT_TYPE);
  if (bt === undefined) throw new FormatError(`missing [${ORIGIN_SECTION_BOOT}] ${ORIGIN_KEY_BOOT_TYPE}`);
  const bootType = bt.toLowerCase();
  if (bootType !== 'bls' && bootType !== 'uki') throw new FormatError(`unknown ${ORIGIN_KEY_BOOT_TYPE} '${bt}' (expected bls or uki)`);
  return {
    imageReference: iniGet(doc, ORIGIN_SECTION_ORIGIN, ORIGIN_KEY_IMAGE),
    bootType,
    bootDigest: iniGet(doc, ORIGIN_SECTION_BOOT, ORIGIN_KEY_BOOT_DIGEST),
    manifestDigest: iniGet(doc, ORIGIN_SECTION_IMAGE, ORIGIN_KEY_MANIFEST_DIGEST),
    doc,
  };
}

export interface NewOrigin {
  imageReference: string;
  bootType: OriginBootType;
  bootDigest?: string;
  manifestDigest?: string;
}

/** The origin bootc's `write_composefs_state` writes for a new deployment. */
export function formatNewOrigin(o: NewOrigin): string {
  let doc: IniDoc = { sections: [] };
  doc = iniSet(doc, ORIGIN_SECTION_ORIGIN, ORIGIN_KEY_IMAGE, o.imageReference);
  doc = iniSet(doc, ORIGIN_SECTION_BOOT, ORIGIN_KEY_BOOT_TYPE, o.bootType);
  if (o.bootDigest !== undefined) doc = iniSet(doc, ORIGIN_SECTION_BOOT, ORIGIN_KEY_BOOT_DIGEST, o.bootDigest);
  if (o.manifestDigest !== undefined) doc = iniSet(doc, ORIGIN_SECTION_IMAGE, ORIGIN_KEY_MANIFEST_DIGEST, o.manifestDigest);
  return formatIni(doc);
}

/** Re-serializes an origin after setting `[boot] digest` (UKI back-fill). */
export function formatOriginWithBootDigest(o: Origin, digest: string): string {
  return formatIni(iniSet(o.doc, ORIGIN_SECTION_BOOT, ORIGIN_KEY_BOOT_DIGEST, digest));
}

/** Legacy `.imginfo` (bootc 1.12–1.15): `{config, manifest}`. */
export interface ImgInfo {
  config: Record<string, unknown>;
  manifest: Record<string, unknown>;
  /**
   * bootc's quirk: hex sha256 of the manifest *re-serialized* (serde_json
   * compact, struct field order) with no `sha256:` prefix. We hash the compact
   * JSON of the manifest as stored, which is what bootc's re-serialization
   * yields for manifests bootc itself wrote.
   */
  imageDigest: string;
}

export function parseImgInfo(text: string): ImgInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new FormatError('invalid JSON', { cause: err });
  }
  const o = v as { config?: unknown; manifest?: unknown } | null;
  if (o === null || typeof o !== 'object' || typeof o.config !== 'object' || o.config === null || typeof o.manifest !== 'object' || o.manifest === null) {
    throw new FormatError('expected an object with "config" and "manifest"');
  }
  const manifest = o.manifest as Record<string, unknown>;
  return {
    config: o.config as Record<string, unknown>,
    manifest,
    imageDigest: createHash('sha256').update(JSON.stringify(manifest)).digest('hex'),
  };
}
