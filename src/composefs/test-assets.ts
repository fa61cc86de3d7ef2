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
