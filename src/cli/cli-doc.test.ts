import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderCliDoc } from './cli-doc.js';
import { packagePath } from '../sys/package-data.js';

test('docs/cli.md is current (run `npm run docs:cli` to regenerate)', () => {
  assert.equal(readFileSync(packagePath('docs', 'cli.md'), 'utf8'), renderCliDoc());
});
