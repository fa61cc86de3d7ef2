/**
 * Owns tiny bootable OS images for the lifecycle tests and a fake host booted
 * into one: an image is a kernel + initramfs under /usr/lib/modules, an
 * os-release, kargs.d and a few /etc files (umoci, pinned dates, a version
 * annotation); `bootRealImage` turns a TestRoot into a host whose booted
 * deployment is that image, pulled into /sysroot/composefs and installed with
 * the production install path (deploymentFromRepository + installDeployment).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildImage, describeTag, run, type BuiltImage, type FileSpec } from './oci-image.js';
import { testHost } from './host.js';
import { TestRoot, ROOT_UUID, type Build, type Layout } from '../../src/testing/test-root.js';
import { Repository } from '../../src/composefs/repository/index.js';
import { openOciLayout, pullOciImage } from '../../src/composefs/index.js';
import { realRepoSyscalls } from '../../src/sys/repo-syscalls.js';
import { libzstdCodec, libzstdDecompressor } from '../../src/sys/zstd.js';
import { openBootState } from '../../src/deploy/boot-state.js';
import { bootTargetFor, installDeployment } from '../../src/deploy/stage.js';
import { deploymentFromRepository } from '../../src/deploy/image-deployment.js';
import { bootcTag } from '../../src/deploy/repo-gc.js';
import { buildPe } from '../../src/boot/pe.js';
import { formatOriginImageRef, type ImageRef } from '../../src/image/ref.js';

export interface OsImageSpec {
  version: string;
  kernel: string;
  etc: Record<string, string>;
  kargs?: string[];
  /** Extra files in a second layer. */
  extra?: FileSpec[];
  /**
   * Boot from a UKI (`/boot/EFI/Linux/testos-<version>.efi`, a minimal PE with
   * .osrel, .cmdline `composefs=<boot id> rw <kargs>`, .linux and .initrd)
   * instead of /usr/lib/modules; `addons` go to its `.efi.extra.d/`.
   */
  uki?: { addons?: string[]; /** Name this id in .cmdline instead of the image's own. */ cmdlineId?: string };
}

/** The UKI of `spec` for the boot image id `bootId` (built by buildOsImage). */
export function osImageUki(spec: OsImageSpec, bootId: string): Buffer {
  return buildPe([
    { name: '.osrel', data: Buffer.from(osRelease(spec.version)) },
    { name: '.cmdline', data: Buffer.from(['composefs=' + bootId, 'rw', ...(spec.kargs ?? [])].join(' ')) },
    { name: '.linux', data: Buffer.from(`vmlinuz ${spec.kernel}\n`) },
    { name: '.initrd', data: Buffer.from(`initramfs ${spec.kernel}\n`) },
  ]);
}

function osRelease(version: string): string {
  return `NAME="Test OS"\nID=testos\nVERSION_ID=${version}\nPRETTY_NAME="Test OS ${version}"\n`;
}

/** The boot EROFS id of `${layout}:${tag}` (pulled into a throw-away repository). */
async function bootIdOf(layout: string, tag: string): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-bootid-'));
  try {
    const { repo } = await Repository.init(path.join(dir, 'repo'), { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true });
    try {
      return (await pullOciImage(repo, openOciLayout(layout), { sourceRef: tag, bootable: true, zstd: libzstdDecompressor })).bootImageId!;
    } finally {
      repo.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds `tag` in `layout`; the last file is 512 bytes so umoci's unpadded tar stays readable. */
export async function buildOsImage(layout: string, tag: string, spec: OsImageSpec): Promise<BuiltImage> {
  const kernel: FileSpec[] = spec.uki
    ? []
    : [
        { path: `usr/lib/modules/6.${spec.kernel}.0/vmlinuz`, content: `vmlinuz ${spec.kernel}\n` },
        { path: `usr/lib/modules/6.${spec.kernel}.0/initramfs.img`, content: `initramfs ${spec.kernel}\n` },
      ];
  const base = (boot: FileSpec[]): FileSpec[] => [
    { path: 'boot/.keep', content: '' },
    ...boot,
    { path: 'sysroot/.keep', content: '' },
    { path: 'usr/lib/os-release', content: osRelease(spec.version) },
    ...kernel,
    { path: 'usr/lib/bootc/kargs.d/10-test.toml', content: `kargs = [${(spec.kargs ?? []).map((k) => JSON.stringify(k)).join(', ')}]\n` },
    ...Object.entries(spec.etc).map(([p, content]) => ({ path: `etc/${p}`, content })),
    { path: 'usr/share/zz-pad', content: Buffer.alloc(512, 0x61) },
  ];
  const build = async (boot: FileSpec[]) => {
    const layers = spec.extra ? [base(boot), [...spec.extra, { path: 'usr/share/zz-pad2', content: Buffer.alloc(512, 0x62) }]] : [base(boot)];
    await buildImage(layout, tag, { layers });
    await run(['umoci', 'config', '--image', `${layout}:${tag}`, '--no-history', '--manifest.annotation', `org.opencontainers.image.version=${spec.version}`]);
    await run(['umoci', 'gc', '--layout', layout]);
  };
  await build([]);
  if (spec.uki !== undefined) {
    // The boot image empties /boot, so the id does not depend on the UKI that names it.
    const id = await bootIdOf(layout, tag);
    const name = `boot/EFI/Linux/testos-${spec.version}.efi`;
    await build([{ path: name, content: osImageUki(spec, spec.uki.cmdlineId ?? id) }, ...(spec.uki.addons ?? []).map((a) => ({ path: `${name}.extra.d/${a}.addon.efi`, content: buildPe([{ name: '.cmdline', data: Buffer.from(a) }]) }))]);
    if ((await bootIdOf(layout, tag)) !== id) throw new Error(`the boot id of ${layout}:${tag} changed with its UKI`);
  }
  return describeTag(layout, tag);
}

export interface BootedHost {
  t: TestRoot;
  verity: string;
  manifestDigest: string;
}

/** A `layout` host (TestRoot) booted into `${layout}:${tag}`, installed as tsbootc's install would (origin: that oci: ref unless given). */
export async function bootRealImage(layoutKind: Layout, ociLayout: string, tag: string, origin?: ImageRef): Promise<BootedHost> {
  const t = await TestRoot.create({ layout: layoutKind });
  for (const p of ['/sysroot/composefs', '/sysroot/state/deploy', `${t.bootDir}/loader/entries`, `${t.espMount}/EFI/Linux`]) fs.rmSync(t.p(p), { recursive: true, force: true });
  const { repo } = await Repository.init(t.p('/sysroot/composefs'), { sys: realRepoSyscalls(), zstd: libzstdCodec(), insecure: true });
  try {
    const pulled = await pullOciImage(repo, openOciLayout(ociLayout), { sourceRef: tag, bootable: true, zstd: libzstdDecompressor });
    const verity = pulled.bootImageId!;
    await t.bootInto({ verity } as Build);
    const host = testHost(t.dir);
    const st = (await openBootState(host))!;
    const dep = await deploymentFromRepository(repo, st.sysroot, pulled.manifestDigest, {
      imageReference: formatOriginImageRef(origin ?? { transport: 'oci', image: `${ociLayout}:${tag}`, signature: { kind: 'insecure' } }),
      kargs: [`root=UUID=${ROOT_UUID}`, 'rw'],
      workDir: 'state/.install-work',
      owners: true,
    });
    await installDeployment(await bootTargetFor(st, dep.payload.kind === 'uki'), st.sysroot, dep);
    fs.rmSync(t.p('/sysroot/state/.install-work'), { recursive: true, force: true });
    await repo.tagImage(pulled.manifestDigest, bootcTag(pulled.manifestDigest));
    // The live /etc of a booted host is its state dir's etc.
    execFileSync('cp', ['-a', t.p(`/sysroot/state/deploy/${verity}/etc`), t.p('/etc')]);
    return { t, verity, manifestDigest: pulled.manifestDigest };
  } finally {
    repo.close();
  }
}

/** Every path under `dir` with its type, mode and content (files) or target (symlinks). */
export function snapshotTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.posix.join(rel, name);
      const st = fs.lstatSync(path.join(dir, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(path.join(dir, r))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/ ${mode}`);
        walk(r);
      } else out.push(`${r} ${mode} ${fs.readFileSync(path.join(dir, r)).toString('base64')}`);
    }
  };
  walk('');
  return out;
}
