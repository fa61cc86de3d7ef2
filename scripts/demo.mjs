#!/usr/bin/env node
// The README's main job on its built-in default: build a sample root filesystem,
// turn it into a composefs EROFS image with its object store, and print the image's
// fs-verity digest (the id a deployment would boot as: composefs=<digest>).
// Later issues widen this to installing a bootable disk image.
import { mkdirSync, writeFileSync, symlinkSync, rmSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const out = process.env.TSBOOTC_DEMO_DIR ?? join(repo, 'demo-output');
rmSync(out, { recursive: true, force: true });
const rootfs = join(out, 'rootfs');
for (const d of ['usr/bin', 'usr/lib', 'etc', 'var/tmp']) mkdirSync(join(rootfs, d), { recursive: true });
writeFileSync(join(rootfs, 'usr/lib/os-release'), 'ID=tsbootc-demo\nNAME="tsbootc demo"\nVERSION_ID=1\n');
symlinkSync('../usr/lib/os-release', join(rootfs, 'etc/os-release'));
writeFileSync(join(rootfs, 'etc/hostname'), 'demo\n');
writeFileSync(join(rootfs, 'usr/bin/hello'), '#!/bin/sh\n' + 'echo "hello from a composefs image"\n'.repeat(4), { mode: 0o755 });
writeFileSync(join(rootfs, 'usr/lib/big.bin'), Buffer.alloc(256 * 1024, 0x5a));

const image = join(out, 'demo.cfs');
const objects = join(out, 'objects');
const r = spawnSync(process.execPath, [join(repo, 'bin/tsbootc.js'), 'internals', 'cfs', 'mkcomposefs', '--digest-store', objects, '--print-digest', rootfs, image], { stdio: ['ignore', 'pipe', 'inherit'] });
if (r.status !== 0) process.exit(r.status ?? 1);
const digest = r.stdout.toString().trim();
let count = 0;
if (existsSync(objects)) for (const d of readdirSync(objects)) count += readdirSync(join(objects, d)).length;
console.log(`demo: rootfs   ${rootfs}`);
console.log(`demo: image    ${image} (${statSync(image).size} bytes)`);
console.log(`demo: objects  ${objects} (${count} external files)`);
console.log(`demo: digest   ${digest}`);
console.log(`demo: boot it with the kernel argument composefs=${digest}`);
