import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkArchitecture, formatViolation } from './testing/architecture.js';
import { packagePath } from './sys/package-data.js';

test('the source tree follows the architecture rules', () => {
  const violations = checkArchitecture(packagePath('src')).map(formatViolation);
  assert.deepEqual(violations, []);
});

test('the checker catches bad imports and process edges in a fixture tree', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-arch-'));
  try {
    const w = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
    };
    w('composefs/ok.ts', "import * as fs from 'node:fs';\nimport { x } from './erofs/writer.js';\nimport { y } from '../util/errors.js';\nimport tar from 'tar-stream';\n");
    w('composefs/bad.ts', "import { a } from './ok.js';\nimport { Root } from '../sys/root.js';\nimport yargs from 'yargs';\nconst m = await import('../deploy/x.js');\n// import { z } from '../cli/main.js';\n");
    w('deploy/noisy.ts', "export function f() {\n  console.log('hi');\n  process.exit(3);\n  return process.argv;\n}\n");
    w('cli/main.ts', "process.stdout.write('fine here');\n");
    w('sys/host.ts', "console.error('fine here too');\n");
    w('deploy/noisy.test.ts', "console.log('tests may print');\n");
    w('composefs/prop.test.ts', "import fc from 'fast-check';\n");
    w('composefs/prop.ts', "import fc from 'fast-check';\n");
    const got = checkArchitecture(dir).map(formatViolation);
    assert.deepEqual(got, [
      'composefs/bad.ts:2: composefs-import: imports ../sys/root.js',
      'composefs/bad.ts:3: composefs-import: imports yargs',
      'composefs/bad.ts:4: composefs-import: imports ../deploy/x.js',
      'composefs/prop.ts:1: composefs-import: imports fast-check',
      'deploy/noisy.ts:2: process-edge: uses console.',
      'deploy/noisy.ts:3: process-edge: uses process.exit',
      'deploy/noisy.ts:4: process-edge: uses process.argv',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
