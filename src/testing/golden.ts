/**
 * Owns golden files for tests (src/testdata/): compare, or rewrite them when
 * TSBOOTC_UPDATE_GOLDEN=1; and the host-v1 schema validator (ajv, 2020-12).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { packagePath } from '../sys/package-data.js';

export function goldenPath(name: string): string {
  return packagePath('src', 'testdata', name);
}

export function assertGolden(name: string, actual: string): void {
  const p = goldenPath(name);
  if (process.env['TSBOOTC_UPDATE_GOLDEN'] === '1') {
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, actual);
    return;
  }
  let want: string;
  try {
    want = readFileSync(p, 'utf8');
  } catch {
    assert.fail(`missing golden file ${p} (run with TSBOOTC_UPDATE_GOLDEN=1 and review it)`);
  }
  assert.equal(actual, want, `golden ${name} differs`);
}

let validator: ReturnType<Ajv2020['compile']> | undefined;
/** Validates a Host against data/schemas/host-v1.schema.json; returns the errors as text ('' = valid). */
export function hostSchemaErrors(host: unknown): string {
  if (validator === undefined) {
    const schema = JSON.parse(readFileSync(packagePath('data', 'schemas', 'host-v1.schema.json'), 'utf8')) as object;
    validator = new Ajv2020({ strict: false }).compile(schema);
  }
  return validator(host) ? '' : JSON.stringify(validator.errors);
}
