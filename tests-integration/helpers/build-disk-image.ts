/**
 * Builds a disk image with the disk layer as whoever runs it (the privileged
 * tests run it as nobody): prepareDisk by offsets, systemd-boot and one boot
 * entry on the ESP with mtools. Input: one JSON argument; output: the
 * PreparedDisk and timings as JSON on stdout.
 */
import { prepareDisk, type PrepareDiskOptions } from '../../src/install/disk.js';
import { installSystemdBoot, writeBootEntries, type BootEntryFiles } from '../../src/install/esp-bootloader.js';
import { realHost } from '../../src/sys/host.js';
import { Root } from '../../src/sys/root.js';
import { formatErrorChain } from '../../src/util/errors.js';
import { createLogger } from '../../src/util/log.js';

interface Args {
  disk: PrepareDiskOptions;
  imageRoot: string;
  boot: BootEntryFiles;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const lines: string[] = [];
const host = realHost({ rootDir: '/', env: process.env, log: createLogger('debug', (l) => lines.push(l.trimEnd())), uid: process.getuid?.() ?? -1 });
try {
  const t0 = performance.now();
  const disk = await prepareDisk(host, args.disk);
  const t1 = performance.now();
  if (disk.esp === undefined) throw new Error('no ESP');
  const sd = await installSystemdBoot(host, disk.esp, { imageRoot: new Root(args.imageRoot), arch: args.disk.arch, generic: true });
  await writeBootEntries(host, disk.esp, args.boot);
  const t2 = performance.now();
  process.stdout.write(JSON.stringify({ disk, systemdBoot: sd, prepareMs: Math.round(t1 - t0), espMs: Math.round(t2 - t1), log: lines }) + '\n');
} catch (err) {
  process.stderr.write(`error: ${formatErrorChain(err)}\n${lines.join('\n')}\n`);
  process.exitCode = 1;
}
