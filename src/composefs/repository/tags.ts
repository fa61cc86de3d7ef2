/**
 * Owns OCI tags in the repository (composefs.md §4.2): `streams/refs/oci/<enc(tag)>`
 * → `streams/oci-manifest-<digest>`, with composefs-rs's escaping (`%` → `%25`,
 * `/` → `%2F`), resolution back to the manifest digest and stream, listing and
 * removal. Tags are GC roots.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { FormatError, TsbootcError } from '../../util/errors.js';
import { assertWritable, errnoCode, type ObjectId, type RepoCore } from './core.js';
import { escapeTag, listRefs, targetBasename, unescapeTag } from './refs.js';
import { hasStream, nameStream } from './streams.js';

const MANIFEST_PREFIX = 'oci-manifest-';

function checkTag(tag: string): void {
  if (tag.length === 0 || tag.startsWith('@') || tag.includes('\0')) {
    throw new FormatError(`tag ${JSON.stringify(tag)}: tags must be non-empty and must not start with @ (reserved for @sha256:… digests)`);
  }
}

/** `tag_image`: points tag at the manifest stream `oci-manifest-<manifestDigest>` (which must exist). */
export async function tagImage(core: RepoCore, manifestDigest: string, tag: string): Promise<void> {
  checkTag(tag);
  const cid = MANIFEST_PREFIX + manifestDigest;
  if ((await hasStream(core, cid)) === undefined) throw new TsbootcError(`cannot tag ${tag}: stream ${cid} does not exist`);
  await nameStream(core, cid, `oci/${escapeTag(tag)}`);
  core.crash?.('repo:after-tag');
}

export interface ResolvedTag {
  manifestDigest: string;
  /** The manifest splitstream's object id. */
  streamId: ObjectId;
}

/** `resolve_ref`: the manifest a tag names, or undefined when there is no such tag. */
export async function resolveTag(core: RepoCore, tag: string): Promise<ResolvedTag | undefined> {
  checkTag(tag);
  let target: string;
  try {
    target = await fsp.readlink(path.join(core.path, 'streams/refs/oci', escapeTag(tag)));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const base = targetBasename(target) ?? '';
  if (!base.startsWith(MANIFEST_PREFIX)) throw new FormatError(`tag ${tag}: target ${JSON.stringify(target)} is not an oci-manifest stream`);
  const streamId = await hasStream(core, base);
  if (streamId === undefined) throw new TsbootcError(`tag ${tag}: manifest stream ${base} is missing`);
  return { manifestDigest: base.slice(MANIFEST_PREFIX.length), streamId };
}

/** `list_refs`: every tag (decoded) with the manifest digest it names, sorted by file name. */
export async function listTags(core: RepoCore): Promise<{ tag: string; manifestDigest: string }[]> {
  return (await listRefs(core, 'streams', 'oci')).map((r) => {
    const base = targetBasename(r.target) ?? '';
    return { tag: unescapeTag(r.name.slice('oci/'.length)), manifestDigest: base.startsWith(MANIFEST_PREFIX) ? base.slice(MANIFEST_PREFIX.length) : base };
  });
}

/** `untag`: removes the tag's link; false when there was none. */
export async function untag(core: RepoCore, tag: string): Promise<boolean> {
  checkTag(tag);
  assertWritable(core);
  try {
    await fsp.unlink(path.join(core.path, 'streams/refs/oci', escapeTag(tag)));
    core.crash?.('repo:after-untag');
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
