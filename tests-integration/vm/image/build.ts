/**
 * Owns the project's bootable test images: `buildTestImage(opts)` and its CLI
 * (`node dist/tests-integration/vm/image/build.js --out DIR --variant v1|v2|v3`).
 * Each build writes one tag (the variant name unless --tag) of the OCI layout DIR:
 * a Debian kernel with only the modules the initramfs needs, a busybox initramfs
 * that mounts a composefs root (initramfs.ts), and a busybox userspace that prints
 * boot markers and powers off (rootfs.ts). Offline apart from the kernel .deb,
 * which is cached in $TSBOOTC_TEST_IMAGE_CACHE (default /var/cache/tsbootc-test-image).
 * Reproducible: the same variant, kernel and SOURCE_DATE_EPOCH give the same manifest digest.
 *
 * Variants: v1 is the base; v2 changes userspace only (/usr/share/tsbootc-test/version,
 * os-release VERSION_ID); v3 changes the kernel as well: it uses the newest
 * linux-image-6.1.0-N-amd64 where v1/v2 use the one before it. If only one ABI is
 * available, v3 keeps the kernel and its initramfs differs (etc/tsbootc-initramfs), so
 * sha256(vmlinuz‖initrd), the boot-entry identity, still changes.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { buildInitramfs } from './initramfs.js';
import { chooseKernelPackages, defaultCacheDir, extractKernel } from './kernel.js';
import { readBlob, writeOciImage, type OciDescriptor } from './oci.js';
import { execText } from './exec.js';
import { computeComposefsId, findMkcomposefs, type MkcomposefsCommand } from './composefs-id.js';
import { buildUki } from './uki.js';
import { formatOsRelease, populateRootfs, setTreeMtime, VARIANTS, type Variant } from './rootfs.js';

/** The filesystem UUID the UKI's root= names: VM tests create the physical root with it. */
export const TEST_ROOT_UUID = '7e57b007-0000-4000-8000-000000000001';

/** The UKI's file name in /usr/lib/modules/<kver>/. */
export const UKI_NAME = 'tsbootc-test.efi';

/** The default SOURCE_DATE_EPOCH: 2025-01-01T00:00:00Z. */
export const DEFAULT_SOURCE_DATE_EPOCH = 1735689600;

export interface BuildTestImageOptions {
  /** OCI image layout directory (created if absent; other tags are kept). */
  out: string;
  variant: Variant;
  /** Tag to write (default: the variant name). */
  tag?: string;
  /** .deb cache (default: defaultCacheDir()). */
  cacheDir?: string;
  /** File mtimes and image timestamps (default: $SOURCE_DATE_EPOCH or DEFAULT_SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /** The static busybox to use (default /bin/busybox from busybox-static). */
  busybox?: string;
  /** Keep the rootfs here instead of building it in a temporary directory. */
  rootfsDir?: string;
  /** Add node and the built tsbootc package (about 120 MB more; default false). */
  withNode?: boolean;
  /**
   * Also build a UKI at /usr/lib/modules/<kver>/tsbootc-test.efi whose .cmdline is
   * `composefs=<id> root=UUID=<TEST_ROOT_UUID> rw console=ttyS0 panic=-1`, where id is the
   * composefs id of the rootfs without the UKI (needs mkcomposefs and objcopy).
   */
  uki?: boolean;
  /** mkcomposefs for --uki (default: findMkcomposefs()). */
  mkcomposefs?: MkcomposefsCommand;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface BuildTestImageResult {
  layout: string;
  tag: string;
  manifest: OciDescriptor;
  variant: Variant;
  kernelPackage: string;
  kver: string;
  vmlinuzBytes: number;
  initramfsBytes: number;
  /** Compressed size of the image's one layer. */
  layerBytes: number;
  /** Apparent size of the unpacked rootfs (du -sb). */
  rootfsBytes: number;
  /** Set when v3 could not get a different kernel and perturbed the initramfs instead. */
  kernelChange: 'kernel-package' | 'initramfs-only' | 'none';
  /** With --uki: the UKI's path in the image, the composefs id it names and its whole .cmdline. */
  uki?: { path: string; composefsId: string; cmdline: string };
  durationMs: number;
}

/** Builds one variant of the test image into opts.out (see the module comment). */
export async function buildTestImage(opts: BuildTestImageOptions): Promise<BuildTestImageResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const envEpoch = process.env['SOURCE_DATE_EPOCH'];
  const mtime = opts.sourceDateEpoch ?? (envEpoch !== undefined && envEpoch !== '' ? Number(envEpoch) : DEFAULT_SOURCE_DATE_EPOCH);
  if (!Number.isInteger(mtime) || mtime < 0) throw new Error(`invalid SOURCE_DATE_EPOCH ${String(mtime)}`);
  const busybox = opts.busybox ?? '/bin/busybox';
  if (!existsSync(busybox)) throw new Error(`${busybox} not found (apt-get install busybox-static)`);

  const pkgs = await chooseKernelPackages(cacheDir);
  const pkg = opts.variant === 'v3' ? pkgs.v3 : pkgs.base;
  const kernelChange = opts.variant !== 'v3' ? 'none' : pkgs.v3 !== pkgs.base ? 'kernel-package' : 'initramfs-only';
  log(`test-image: ${opts.variant}: kernel ${pkg}`);
  const kernel = await extractKernel(cacheDir, pkg);
  const variantNote = kernelChange === 'initramfs-only' ? 'initramfs-variant=v3' : 'initramfs-variant=base';
  const initramfs = buildInitramfs({ kernel, busybox, mtime, variantNote });

  const work = opts.rootfsDir === undefined ? mkdtempSync(path.join(tmpdir(), 'tsbootc-test-image-')) : undefined;
  const rootfs = opts.rootfsDir ?? path.join(work ?? '', 'rootfs');
  try {
    if (existsSync(rootfs)) rmSync(rootfs, { recursive: true, force: true });
    await populateRootfs({ dir: rootfs, variant: opts.variant, kernel, initramfs, busybox, mtime, withNode: opts.withNode === true });
    let uki: BuildTestImageResult['uki'];
    if (opts.uki === true) {
      const mkcomposefs = opts.mkcomposefs ?? (await findMkcomposefs());
      if (mkcomposefs === undefined) throw new Error('--uki needs mkcomposefs (set TSBOOTC_MKCOMPOSEFS)');
      const composefsId = await computeComposefsId(mkcomposefs, rootfs);
      const cmdline = `composefs=${composefsId} root=UUID=${TEST_ROOT_UUID} rw console=ttyS0 panic=-1`;
      const rel = `usr/lib/modules/${kernel.kver}/${UKI_NAME}`;
      log(`test-image: ${opts.variant}: UKI ${rel} (${cmdline})`);
      const ukiWork = mkdtempSync(path.join(tmpdir(), 'tsbootc-uki-'));
      await buildUki({
        workDir: ukiWork,
        out: path.join(rootfs, rel),
        vmlinuz: kernel.vmlinuz,
        initramfs: path.join(rootfs, `usr/lib/modules/${kernel.kver}/initramfs.img`),
        osRelease: formatOsRelease(opts.variant),
        cmdline,
        uname: kernel.kver,
        timestamp: mtime,
      }).finally(() => rmSync(ukiWork, { recursive: true, force: true }));
      setTreeMtime(path.dirname(path.join(rootfs, rel)), mtime);
      uki = { path: `/${rel}`, composefsId, cmdline };
    }
    const tag = opts.tag ?? opts.variant;
    log(`test-image: ${opts.variant}: writing ${opts.out}:${tag}`);
    const manifest = await writeOciImage({
      layout: opts.out,
      tag,
      rootfs,
      mtime,
      labels: { 'containers.bootc': '1', 'org.opencontainers.image.title': 'tsbootc-test', 'org.opencontainers.image.version': opts.variant },
    });
    const layers = (JSON.parse(readBlob(opts.out, manifest.digest).toString('utf8')) as { layers: Array<{ size: number }> }).layers;
    const rootfsBytes = Number((await execText(['du', '-sb', rootfs])).split('\t')[0]);
    return {
      layout: opts.out,
      tag,
      manifest,
      variant: opts.variant,
      kernelPackage: pkg,
      kver: kernel.kver,
      vmlinuzBytes: statSync(kernel.vmlinuz).size,
      initramfsBytes: initramfs.length,
      layerBytes: layers.reduce((n, l) => n + l.size, 0),
      rootfsBytes,
      kernelChange,
      ...(uki !== undefined ? { uki } : {}),
      durationMs: Date.now() - started,
    };
  } finally {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }
}

const USAGE = 'usage: node dist/tests-integration/vm/image/build.js --out DIR --variant v1|v2|v3 [--tag TAG] [--cache DIR] [--uki] [--with-node] [--keep-rootfs DIR]';

/** The CLI: prints the BuildTestImageResult as JSON on stdout. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      variant: { type: 'string' },
      tag: { type: 'string' },
      cache: { type: 'string' },
      'with-node': { type: 'boolean' },
      uki: { type: 'boolean' },
      'keep-rootfs': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const variant = values.variant as Variant | undefined;
  if (values.out === undefined || variant === undefined || !VARIANTS.includes(variant)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const result = await buildTestImage({
    out: values.out,
    variant,
    ...(values.tag !== undefined ? { tag: values.tag } : {}),
    ...(values.cache !== undefined ? { cacheDir: values.cache } : {}),
    ...(values['keep-rootfs'] !== undefined ? { rootfsDir: values['keep-rootfs'] } : {}),
    withNode: values['with-node'] === true,
    uki: values.uki === true,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
