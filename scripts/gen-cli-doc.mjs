#!/usr/bin/env node
// Regenerates docs/cli.md from the command table (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { renderCliDoc } from '../dist/src/cli/cli-doc.js';
const target = new URL('../docs/cli.md', import.meta.url);
writeFileSync(target, renderCliDoc());
console.error('wrote docs/cli.md');
