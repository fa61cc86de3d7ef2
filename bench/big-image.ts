/**
 * Owns the big test image of the import, switch and install benchmarks (not a
 * test, and nothing to run on its own): a deterministic OCI layout of ≥ 1 GiB
 * in ≥ 30 000 files over 4 gzip layers (xorshift32 content, half of each file
 * compressible; 75 % of the files 0–4 KiB, 24 % 4–64 KiB, 1 % 0.25–4 MiB),
 * generated once into a directory and reused by later runs. `bootable: true`
 * adds to the first layer (after its directories) what switch and install need: a Type1 kernel and
 * initramfs in /usr/lib/modules/<kver>/, /usr/lib/os-release, empty /boot and
 * /sysroot, an /etc, and the host's systemd-boot EFI binary when it has one.
 * The other layers are the same bytes in both variants.
 *
 * TSBOOTC_BENCH_SCALE (default 1) shrinks the image (e.g. 0.1 ≈ 110 MiB,
 * 3 200 files) for profiling and quick runs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createGzip } from 'node:zlib';
import { rawEntry, TAR_END } from '../src/composefs/oci/test-fixtures.js';

export const SCALE = Number(process.env['TSBOOTC_BENCH_SCALE'] ?? '1');
export const LAYERS = 4;
const MIN_BYTES = 1.05 * 2 ** 30 * SCALE;
const MIN_FILES = Math.ceil(32_000 * SCALE);
const MTIME = 1700000000;

export const BENCH_KVER = '6.1.0-bench';
export const SYSTEMD_BOOT_EFI = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';
export const BENCH_OS_RELEASE = 'NAME="tsbootc bench"\nID=tsbootc-bench\nVERSION_ID=1.0\nPRETTY_NAME="tsbootc bench OS 1.0"\n';
/** Sizes of the fake kernel and initramfs (incompressible, like the real ones). */
const VMLINUZ_SIZE = 12 << 20;
const INITRD_SIZE = 40 << 20;

/** xorshift32: deterministic and fast. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  fill(buf: Buffer): void {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    for (let i = words.length * 4; i < buf.length; i++) buf[i] = this.next() & 0xff;
  }
}

interface FileSpec {
  name: string;
  size: number;
}

/** The files of the image: 75 % small, 24 % medium, 1 % large; until both minimums are met. */
function plan(): FileSpec[][] {
  const rng = new Rng(0x5eed);
  const files: FileSpec[] = [];
  let total = 0;
  while (total < MIN_BYTES || files.length < MIN_FILES) {
    const r = rng.next() % 100;
    const size = r < 75 ? rng.next() % 4096 : r < 99 ? 4096 + (rng.next() % 61440) : 262144 + (rng.next() % 3932160);
    const i = files.length;
    files.push({ name: `usr/share/bench/d${String(i % 200).padStart(3, '0')}/f${String(i).padStart(6, '0')}.bin`, size });
    total += size;
  }
  const per = Math.ceil(files.length / LAYERS);
  return Array.from({ length: LAYERS }, (_, l) => files.slice(l * per, (l + 1) * per));
}

interface Blob {
  digest: string;
  diffId: string;
  size: number;
}

type Emit = (b: Buffer) => Promise<void>;

/** The boot files of the bootable variant, written at the start of the first layer. */
async function bootFiles(write: Emit): Promise<void> {
  const c = { mtime: MTIME };
  const dirs = ['boot/', 'etc/', 'sysroot/', 'usr/lib/', 'usr/lib/modules/', `usr/lib/modules/${BENCH_KVER}/`];
  const efi = fs.existsSync(SYSTEMD_BOOT_EFI) ? fs.readFileSync(SYSTEMD_BOOT_EFI) : undefined;
  if (efi !== undefined) dirs.push('usr/lib/systemd/', 'usr/lib/systemd/boot/', 'usr/lib/systemd/boot/efi/');
  for (const d of dirs) await write(rawEntry({ ...c, name: d, type: '5', mode: 0o755 }));
  await write(rawEntry({ ...c, name: 'etc/hostname', data: Buffer.from('bench\n') }));
  await write(rawEntry({ ...c, name: 'usr/lib/os-release', data: Buffer.from(BENCH_OS_RELEASE) }));
  const rng = new Rng(0xb007);
  for (const [name, size] of [['vmlinuz', VMLINUZ_SIZE], ['initramfs.img', INITRD_SIZE]] as const) {
    const data = Buffer.alloc(size);
    rng.fill(data);
    await write(rawEntry({ ...c, name: `usr/lib/modules/${BENCH_KVER}/${name}`, data }));
  }
  if (efi !== undefined) await write(rawEntry({ ...c, name: SYSTEMD_BOOT_EFI.slice(1), data: efi }));
}

/** Writes one gzip layer blob into the layout, streaming; returns its digests. */
async function writeLayer(dir: string, index: number, files: FileSpec[], bootable: boolean): Promise<Blob> {
  const tmp = path.join(dir, 'blobs/sha256', `.tmp-${index}`);
  const gz = createGzip({ level: 1 });
  const out = fs.createWriteStream(tmp);
  const compressed = createHash('sha256');
  let size = 0;
  gz.on('data', (c: Buffer) => {
    compressed.update(c);
    size += c.length;
  });
  gz.pipe(out);
  const diff = createHash('sha256');
  const write: Emit = async (b) => {
    diff.update(b);
    if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
  };
  const c = { mtime: MTIME };
  const dirs = index === 0 ? ['usr/', 'usr/share/', 'usr/share/bench/', ...Array.from({ length: 200 }, (_, i) => `usr/share/bench/d${String(i).padStart(3, '0')}/`)] : [];
  for (const d of dirs) await write(rawEntry({ ...c, name: d, type: '5', mode: 0o755 }));
  if (index === 0 && bootable) await bootFiles(write);
  const rng = new Rng(0xc0ffee + index);
  for (const f of files) {
    const data = Buffer.alloc(f.size);
    rng.fill(data);
    // Half of each file compresses (text-like), half does not.
    data.fill(0x61, 0, data.length >>> 1);
    await write(rawEntry({ ...c, name: f.name, mode: 0o644, data }));
  }
  await write(TAR_END);
  await new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
    gz.end();
  });
  const digest = 'sha256:' + compressed.digest('hex');
  fs.renameSync(tmp, path.join(dir, 'blobs/sha256', digest.slice(7)));
  return { digest, diffId: 'sha256:' + diff.digest('hex'), size };
}

export interface BigImage {
  /** The OCI layout; the image is tagged `latest`. */
  layout: string;
  files: number;
  /** File content in bytes (the bench files only, not the boot files). */
  bytes: number;
  /** Compressed size of the layers. */
  compressedBytes: number;
}

/** Generates the layout at `dir` unless it is already there (index.json is written last). */
export async function ensureLayout(dir: string, opts: { bootable?: boolean } = {}): Promise<BigImage> {
  const bootable = opts.bootable ?? false;
  const layers = plan();
  const files = layers.reduce((n, l) => n + l.length, 0);
  const bytes = layers.reduce((n, l) => n + l.reduce((m, f) => m + f.size, 0), 0);
  const indexFile = path.join(dir, 'index.json');
  const compressed = () => {
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { manifests: Array<{ digest: string }> };
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ size: number }> };
    return m.layers.reduce((n, l) => n + l.size, 0);
  };
  if (fs.existsSync(indexFile)) return { layout: dir, files, bytes, compressedBytes: compressed() };
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const blobs: Blob[] = [];
  for (const [i, l] of layers.entries()) {
    console.error(`bench: writing layer ${i + 1}/${layers.length} (${l.length} files) into ${dir}`);
    blobs.push(await writeLayer(dir, i, l, bootable));
  }
  const put = (data: Buffer) => {
    const d = 'sha256:' + createHash('sha256').update(data).digest('hex');
    fs.writeFileSync(path.join(dir, 'blobs/sha256', d.slice(7)), data);
    return { digest: d, size: data.length };
  };
  const imageConfig = bootable ? { Labels: { 'containers.bootc': '1' } } : {};
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: imageConfig, rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.diffId) } })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.size })),
    }),
  );
  const m = put(manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(indexFile, JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return { layout: dir, files, bytes, compressedBytes: compressed() };
}
