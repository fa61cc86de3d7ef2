/**
 * Owns where composefs unit tests find the shared conformance assets
 * (../shared/reference/conformance beside the repository).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from dist/src/composefs/. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const C_ASSETS = path.resolve(REPO_ROOT, '..', 'shared', 'reference', 'conformance', 'composefs-c');
export const C_MKCOMPOSEFS = path.resolve(REPO_ROOT, '..', 'shared', 'tools', 'mkcomposefs', 'mkcomposefs');
export const C_TOOLS = path.resolve(REPO_ROOT, '..', 'shared', 'tools', 'mkcomposefs');
export const C_COMPOSEFS_INFO = path.join(C_TOOLS, 'composefs-info');
export const C_GEN_DUMP = path.join(C_TOOLS, 'gen-dump.py');
/** Assets the C harness parses without CFS_PARSE_STRICT (composefs.md §5.8). */
export const NON_STRICT_ASSETS: ReadonlySet<string> = new Set(['no-newline.dump', 'longlink.dump', 'honggfuzz-longlink-unterminated.dump']);
