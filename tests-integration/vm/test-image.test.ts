/**
 * The test-image builder (vm tier, no qemu): builds are reproducible, and the
 * variants differ the way later tests rely on (v2 userspace only, v3 kernel).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildTestImage, type BuildTestImageResult } from './image/build.js';
import { execText } from './image/exec.js';
import { readBlob } from './image/oci.js';
import { readImageFiles } from './lib/oci-files.js';
import { announceSkip, testImageSkipReason } from './lib/prereqs.js';
import { findMkcomposefs } from './image/composefs-id.js';
import { peChecksum } from './image/uki.js';

const skip = announceSkip('test-image', await testImageSkipReason());
const ukiSkip =
  skip !== false ? skip : announceSkip('test-image (uki)', (await findMkcomposefs()) === undefined ? 'no mkcomposefs for the UKI composefs= id' : undefined);

interface BootFiles {
  kver: string;
  vmlinuz: Buffer;
  initramfs: Buffer;
  osRelease: string;
  version: string;
}

async function bootFiles(b: BuildTestImageResult): Promise<BootFiles> {
  const files = await readImageFiles(b.layout, b.tag, (p) =>
    /^usr\/lib\/modules\/[^/]+\/(vmlinuz|initramfs\.img)$/.test(p) || p === 'usr/lib/os-release' || p === 'usr/share/tsbootc-test/version',
  );
  const get = (p: string): Buffer => {
    const f = files.get(p);
    assert.ok(f !== undefined, `${b.tag} has no ${p}`);
    return f;
  };
  return {
    kver: b.kver,
    vmlinuz: get(`usr/lib/modules/${b.kver}/vmlinuz`),
    initramfs: get(`usr/lib/modules/${b.kver}/initramfs.img`),
    osRelease: get('usr/lib/os-release').toString('utf8'),
    version: get('usr/share/tsbootc-test/version').toString('utf8'),
  };
}

/** The identity of a Type1 boot entry's kernel: sha256(vmlinuz ‖ initrd). */
function bootDigest(f: BootFiles): string {
  return createHash('sha256').update(f.vmlinuz).update(f.initramfs).digest('hex');
}

test('two builds of a variant give the same manifest digest; a different SOURCE_DATE_EPOCH does not', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-test-image-'));
  try {
    const a = await buildTestImage({ out: path.join(work, 'a'), variant: 'v1' });
    const b = await buildTestImage({ out: path.join(work, 'b'), variant: 'v1' });
    process.stderr.write(`test-image: v1 built in ${a.durationMs} ms and ${b.durationMs} ms, ${a.manifest.digest}\n`);
    assert.deepEqual(b.manifest, a.manifest);
    const c = await buildTestImage({ out: path.join(work, 'c'), variant: 'v1', sourceDateEpoch: 1735689601 });
    assert.notEqual(c.manifest.digest, a.manifest.digest);
    const config = JSON.parse(readBlob(a.layout, (JSON.parse(readBlob(a.layout, a.manifest.digest).toString('utf8')) as { config: { digest: string } }).config.digest).toString('utf8')) as {
      created: string;
      config: { Labels: Record<string, string> };
      history: Array<{ created: string }>;
    };
    assert.equal(config.created, '2025-01-01T00:00:00Z');
    assert.deepEqual(config.history.map((h) => h.created), ['2025-01-01T00:00:00Z']);
    assert.deepEqual(config.config.Labels, {
      'containers.bootc': '1',
      'org.opencontainers.image.title': 'tsbootc-test',
      'org.opencontainers.image.version': 'v1',
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('v2 changes userspace only; v3 changes the kernel', { skip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-test-image-'));
  try {
    const out = path.join(work, 'oci');
    const [v1, v2, v3] = [
      await buildTestImage({ out, variant: 'v1' }),
      await buildTestImage({ out, variant: 'v2' }),
      await buildTestImage({ out, variant: 'v3' }),
    ];
    process.stderr.write(`test-image: v3 kernel change: ${v3.kernelChange} (${v1.kernelPackage} -> ${v3.kernelPackage})\n`);
    const [f1, f2, f3] = [await bootFiles(v1), await bootFiles(v2), await bootFiles(v3)];
    assert.equal(f1.version, 'v1\n');
    assert.equal(f2.version, 'v2\n');
    assert.equal(f3.version, 'v3\n');
    assert.equal(f2.osRelease, 'NAME="tsbootc test image"\nID=tsbootc-test\nVERSION_ID=2\nPRETTY_NAME="tsbootc test image v2"\nVARIANT_ID=v2\n');
    assert.equal(bootDigest(f2), bootDigest(f1), 'v2 keeps the kernel and initramfs');
    assert.notEqual(bootDigest(f3), bootDigest(f1), 'v3 changes sha256(vmlinuz‖initrd)');
    assert.notEqual(v2.manifest.digest, v1.manifest.digest);
    if (v3.kernelChange === 'kernel-package') assert.notEqual(f3.kver, f1.kver);
    else assert.equal(v3.kernelChange, 'initramfs-only');

    // With one kernel ABI, v3 keeps the kernel and still changes sha256(vmlinuz‖initrd).
    process.env['TSBOOTC_TEST_KERNEL_PKG_V3'] = v1.kernelPackage;
    try {
      const same = await buildTestImage({ out, variant: 'v3', tag: 'v3-one-kernel' });
      assert.equal(same.kernelChange, 'initramfs-only');
      const fs3 = await bootFiles(same);
      assert.equal(fs3.kver, f1.kver);
      assert.deepEqual(fs3.vmlinuz, f1.vmlinuz);
      assert.notEqual(bootDigest(fs3), bootDigest(f1));
    } finally {
      delete process.env['TSBOOTC_TEST_KERNEL_PKG_V3'];
    }

    // The initramfs holds exactly busybox, /init, the device nodes and the modules, in order.
    const initrd = path.join(work, 'initramfs.img');
    writeFileSync(initrd, f1.initramfs);
    const listing = await execText(['sh', '-c', 'zcat "$1" | cpio -it --quiet', 'sh', initrd]);
    assert.deepEqual(listing.split('\n'), [
      'bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console', 'dev/null', 'etc', 'etc/tsbootc-initramfs', 'init', 'lib', 'lib/modules',
      'lib/modules/crc16.ko', 'lib/modules/crc32c_generic.ko', 'lib/modules/erofs.ko', 'lib/modules/ext4.ko', 'lib/modules/jbd2.ko',
      'lib/modules/libcrc32c.ko', 'lib/modules/loop.ko', 'lib/modules/mbcache.ko', 'lib/modules/overlay.ko', 'lib/modules/virtio.ko',
      'lib/modules/virtio_blk.ko', 'lib/modules/virtio_pci.ko', 'lib/modules/virtio_pci_legacy_dev.ko', 'lib/modules/virtio_pci_modern_dev.ko',
      'lib/modules/virtio_ring.ko', 'newroot', 'proc', 'run', 'sys', 'sysroot',
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('--uki builds are reproducible too (objcopy timestamps are fixed)', { skip: ukiSkip, timeout: 900_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tsbootc-test-image-'));
  try {
    const a = await buildTestImage({ out: path.join(work, 'a'), variant: 'v1', uki: true });
    const b = await buildTestImage({ out: path.join(work, 'b'), variant: 'v1', uki: true });
    assert.deepEqual(b.manifest, a.manifest);
    assert.deepEqual(b.uki, a.uki);
    assert.equal(a.uki?.path, `/usr/lib/modules/${a.kver}/tsbootc-test.efi`);
    const uki = (await readImageFiles(a.layout, a.tag, (p) => p.endsWith('.efi'))).get(`usr/lib/modules/${a.kver}/tsbootc-test.efi`);
    assert.ok(uki !== undefined);
    const file = path.join(work, 'uki.efi');
    writeFileSync(file, uki);
    const dumped = path.join(work, 'cmdline');
    await execText(['objcopy', `--dump-section=.cmdline=${dumped}`, file, path.join(work, 'uki-copy.efi')]);
    assert.equal(readFileSync(dumped, 'utf8'), a.uki?.cmdline);
    // The checksum the builder recomputes after fixing the timestamp is objcopy's algorithm.
    for (const f of [file, path.join(work, 'uki-copy.efi')]) {
      const buf = readFileSync(f);
      const offset = buf.readUInt32LE(0x3c) + 24 + 64;
      assert.equal(peChecksum(buf, offset), buf.readUInt32LE(offset), f);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
