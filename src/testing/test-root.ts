/**
 * Owns TestRoot: fake composefs-backend hosts in a temp dir for the four boot
 * layouts, built from fixed templates (independent of the production writers
 * so tests can compare the two), after bootc's `testutils.rs::TestRoot`.
 * Digests are deterministic: verity = sha512("build-<n>"), kernels carry
 * their generation in their bytes. Scenario API: create (install), upgrade,
 * stage, reboot, bootcRollback; `legacy: true` writes the bootc 1.12–1.15
 * shapes (unprefixed artifacts, old entry names, .imginfo, no UKI digest).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Root } from '../sys/root.js';
import type { Host } from '../sys/host.js';
import { memoryLogger } from '../util/log.js';
import { FakeRunner } from './fake-runner.js';
import { formatBls, type1Entry, ukiEntry } from '../boot/bls.js';
import { formatEfiUuidCfg, formatUserCfg, newMenuEntry } from '../boot/grub-cfg.js';
import { buildPe, type1BootDigest, ukiBootDigest } from '../boot/pe.js';
import { confFileName, primarySortKey, secondarySortKey } from '../boot/entry-order.js';
import { formatNewOrigin } from '../deploy/origin.js';
import { mapImageMetadata, type ImageMetadataSource } from '../deploy/image-metadata.js';
import * as C from '../deploy/constants.js';
import { efiVar, ESP_UUID, fakeVerity, IMAGE, listTree, mountinfo, OS_RELEASE, ROOT_UUID, type Build } from './test-root-fixtures.js';
import type { NewDeployment } from '../deploy/stage.js';

export type Layout = 'systemd-type1' | 'systemd-uki' | 'grub-type1' | 'grub-uki';
export const LAYOUTS: readonly Layout[] = ['systemd-type1', 'systemd-uki', 'grub-type1', 'grub-uki'];
export * from './test-root-fixtures.js';
export type ChangeType = 'userspace' | 'kernel' | 'both';

interface LiveEntry {
  build: Build;
  prio: 0 | 1;
  /** os_id used in the file name / sort key (`bootc` after a bootc rollback). */
  os: string;
}

export interface TestRootOptions {
  layout: Layout;
  legacy?: boolean;
  efiKey?: 'efi' | 'uki';
  missingVerityAllowed?: boolean;
}

export class TestRoot {
  readonly dir: string;
  readonly root: Root;
  readonly layout: Layout;
  readonly legacy: boolean;
  readonly builds: Build[] = [];
  booted!: Build;
  live: LiveEntry[] = [];
  staged: { build: Build; downloadOnly: boolean } | undefined;
  private readonly efiKey: 'efi' | 'uki';
  private readonly optional: boolean;
  /** kernel generation → verity whose dir holds it (Type1 dedup). */
  private readonly kernelDirs = new Map<number, string>();

  private constructor(opts: TestRootOptions) {
    this.dir = mkdtempSync(path.join(tmpdir(), `tsbootc-testroot-${opts.layout}-`));
    this.root = new Root(this.dir);
    this.layout = opts.layout;
    this.legacy = opts.legacy ?? false;
    this.efiKey = opts.efiKey ?? 'efi';
    this.optional = opts.missingVerityAllowed ?? false;
  }

  /** A freshly installed host booted into build 0. */
  static async create(opts: TestRootOptions): Promise<TestRoot> {
    const t = new TestRoot(opts);
    const b = t.newBuild(0);
    await t.writeDeployment(b);
    t.live = [{ build: b, prio: 1, os: 'fedora' }];
    await t.writeLive();
    if (t.grub && t.uki) await t.write(`/sysroot/boot/${C.EFI_UUID_CFG}`, formatEfiUuidCfg(ESP_UUID));
    if (!t.grub && t.uki) await t.write(`${t.bootDir}/${C.LOADER_CONF}`, C.LOADER_CONF_CONTENT);
    await t.write(`${C.EFIVARS_DIR}/${C.LOADER_INFO_VAR}`, efiVar(t.grub ? 'GRUB 2.12' : 'systemd-boot 257.7-1.fc44'));
    await fs.mkdir(t.p(`/sysroot/${C.STATE_OS_VAR}`), { recursive: true });
    await t.bootInto(b);
    return t;
  }

  get grub(): boolean {
    return this.layout.startsWith('grub');
  }
  get uki(): boolean {
    return this.layout.endsWith('uki');
  }
  /** Host path of the ESP mount. */
  get espMount(): string {
    return this.grub ? '/boot/efi' : '/boot';
  }
  /** Host path of the "boot dir" holding loader/ or grub2/. */
  get bootDir(): string {
    return this.grub ? '/sysroot/boot' : '/boot';
  }

  host(runner = new FakeRunner({ strict: true })): Host & { runner: FakeRunner; logLines: string[] } {
    const log = memoryLogger('debug');
    return { root: this.root, run: runner, env: {}, now: () => new Date('2026-11-29T23:00:00Z'), log, isRoot: true, runner, logLines: log.lines };
  }

  imageMetadata(): ImageMetadataSource {
    return mapImageMetadata(new Map(this.builds.map((b) => [b.manifestDigest, b.meta])));
  }

  /** Stages build n (what bootc's upgrade writes before the reboot). */
  async stage(n: number, change: ChangeType, opts: { downloadOnly?: boolean } = {}): Promise<Build> {
    const b = this.prepareBuild(n, change);
    await this.writeDeployment(b);
    const staged: LiveEntry[] = [
      { build: b, prio: 1, os: 'fedora' },
      { build: this.booted, prio: 0, os: 'fedora' },
    ];
    await this.writeEntries(staged, true);
    await this.write(C.STAGED_MARKER, JSON.stringify({ depl_id: b.verity, finalization_locked: opts.downloadOnly ?? false }));
    this.staged = { build: b, downloadOnly: opts.downloadOnly ?? false };
    return b;
  }

  /** Registers build n (kernel per `change`) without writing anything. */
  prepareBuild(n: number, change: ChangeType): Build {
    const prev = this.builds[this.builds.length - 1]!;
    return this.newBuild(n, change === 'userspace' ? prev.kernel : this.nextKernel());
  }

  /** The production-side description of build b (what an upgrade hands to stageDeployment). */
  deploymentSpec(b: Build): NewDeployment {
    const k = this.kernelBytes(b);
    return {
      verity: b.verity,
      imageReference: `ostree-unverified-image:docker://${IMAGE}`,
      manifestDigest: b.manifestDigest,
      payload: this.uki ? { kind: 'uki', uki: this.ukiBytes(b) } : { kind: 'type1', vmlinuz: k.vmlinuz, initrd: k.initrd, osRelease: OS_RELEASE, options: this.options(b) },
    };
  }

  /** Shutdown finalization (exchange staged entries) and boot into the default entry. */
  async reboot(): Promise<void> {
    if (this.staged !== undefined && !this.staged.downloadOnly) {
      this.live = [
        { build: this.staged.build, prio: 1, os: 'fedora' },
        { build: this.booted, prio: 0, os: 'fedora' },
      ];
      await this.writeLive();
    }
    await this.removeStaged();
    await fs.rm(this.p('/run'), { recursive: true, force: true });
    this.staged = undefined;
    await this.bootInto(this.live.find((e) => e.prio === 1)!.build);
  }

  /** stage + reboot. */
  async upgrade(n: number, change: ChangeType): Promise<Build> {
    const b = await this.stage(n, change);
    await this.reboot();
    return b;
  }

  /** What bootc's rollback leaves: the two entries swapped, named with os_id `bootc`, staged dropped. */
  async bootcRollback(): Promise<void> {
    const [a, b] = this.live;
    if (a === undefined || b === undefined) throw new Error('bootcRollback needs two entries');
    this.live = [
      { build: b.build, prio: 1, os: 'bootc' },
      { build: a.build, prio: 0, os: 'bootc' },
    ];
    await this.removeStaged();
    await fs.rm(this.p(C.STAGED_MARKER), { force: true });
    this.staged = undefined;
    await this.writeLive();
  }

  // --- assertions helpers -------------------------------------------------

  /** Every file under the root (relative, sorted), symlinks as `-> target`, dirs with `/`. */
  async tree(sub = '/'): Promise<string[]> {
    return listTree(this.root, sub);
  }

  async read(hostPath: string): Promise<string> {
    return fs.readFile(this.p(hostPath), 'utf8');
  }

  async write(hostPath: string, data: string | Uint8Array): Promise<void> {
    await fs.mkdir(path.dirname(this.p(hostPath)), { recursive: true });
    await fs.writeFile(this.p(hostPath), data);
  }

  p(hostPath: string): string {
    return this.root.resolve(hostPath);
  }

  // --- internals -----------------------------------------------------------

  private nextKernel(): number {
    return Math.max(...this.builds.map((b) => b.kernel)) + 1;
  }

  private newBuild(n: number, kernel = 0): Build {
    const manifestDigest = 'sha256:' + createHash('sha256').update(`manifest-${n}`).digest('hex');
    const b: Build = {
      n,
      verity: fakeVerity(n),
      kernel,
      manifestDigest,
      meta: {
        manifest: { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { 'org.opencontainers.image.version': `44.2026010${n}.0` } },
        config: { architecture: 'amd64', created: `2026-01-0${(n % 9) + 1}T12:00:00Z` },
      },
    };
    this.builds.push(b);
    return b;
  }

  kernelBytes(b: Build): { vmlinuz: Buffer; initrd: Buffer } {
    return { vmlinuz: Buffer.from(`vmlinuz-${b.kernel}\n`), initrd: Buffer.from(`initrd-${b.kernel}\n`) };
  }

  ukiBytes(b: Build): Buffer {
    const k = this.kernelBytes(b);
    const cmdline = `composefs=${this.optional ? '?' : ''}${b.verity} rw`;
    return buildPe([
      { name: '.osrel', data: Buffer.from(OS_RELEASE) },
      { name: '.cmdline', data: Buffer.from(cmdline) },
      { name: '.linux', data: k.vmlinuz },
      { name: '.initrd', data: k.initrd },
    ]);
  }

  artifactName(v: string): string {
    return this.legacy ? v : `${C.ARTIFACT_PREFIX}${v}`;
  }

  /** The kernel dir (prefix included) an entry for `b` points at. */
  kernelDir(b: Build): string {
    return this.artifactName(this.kernelDirs.get(b.kernel) ?? b.verity);
  }

  private async writeDeployment(b: Build): Promise<void> {
    const sd = `/sysroot/${C.stateDirOf(b.verity)}`;
    await fs.mkdir(this.p(`${sd}/etc`), { recursive: true });
    await fs.symlink(C.STATE_VAR_LINK, this.p(`${sd}/var`));
    await this.write(`/sysroot/${C.COMPOSEFS_IMAGES_DIR}/${b.verity}`, `erofs-${b.n}`);
    const k = this.kernelBytes(b);
    let bootDigest: string;
    if (this.uki) {
      const uki = this.ukiBytes(b);
      bootDigest = ukiBootDigest(uki);
      await this.write(`${this.espMount}/${C.BOOTC_UKI_DIR}/${this.artifactName(b.verity)}${C.UKI_EXT}`, uki);
    } else {
      bootDigest = type1BootDigest(k.vmlinuz, k.initrd);
      if (!this.kernelDirs.has(b.kernel)) {
        this.kernelDirs.set(b.kernel, b.verity);
        const dir = `${this.grub ? '/sysroot/boot' : `${this.espMount}/${C.EFI_LINUX}`}/${this.artifactName(b.verity)}`;
        await this.write(`${dir}/${C.TYPE1_KERNEL}`, k.vmlinuz);
        await this.write(`${dir}/${C.TYPE1_INITRD}`, k.initrd);
      }
    }
    const imageReference = `ostree-unverified-image:docker://${IMAGE}`;
    if (this.legacy) {
      await this.write(`/sysroot/${C.originPathOf(b.verity)}`, formatNewOrigin({ imageReference, bootType: this.uki ? 'uki' : 'bls', ...(this.uki ? {} : { bootDigest }) }));
      await this.write(`/sysroot/${C.imginfoPathOf(b.verity)}`, JSON.stringify({ config: b.meta.config, manifest: b.meta.manifest }));
    } else {
      await this.write(`/sysroot/${C.originPathOf(b.verity)}`, formatNewOrigin({ imageReference, bootType: this.uki ? 'uki' : 'bls', bootDigest, manifestDigest: b.manifestDigest }));
    }
  }

  options(b: Build): string {
    return `root=UUID=${ROOT_UUID} rw composefs=${this.optional ? '?' : ''}${b.verity}`;
  }

  entryText(e: LiveEntry): string {
    const b = e.build;
    const sortKey = e.prio === 1 ? primarySortKey(e.os) : secondarySortKey(e.os);
    if (this.uki) {
      return formatBls(ukiEntry({ title: 'Fedora Linux 44 (Forty Four) 44', version: '44', efi: `/${C.BOOTC_UKI_DIR}/${this.artifactName(b.verity)}${C.UKI_EXT}`, efiKey: this.efiKey, sortKey }));
    }
    const base = this.grub ? `/boot/${this.kernelDir(b)}` : `/${C.EFI_LINUX}/${this.kernelDir(b)}`;
    return formatBls(type1Entry({ title: 'Fedora Linux 44 (Forty Four)', version: '44', linux: `${base}/${C.TYPE1_KERNEL}`, initrd: [`${base}/${C.TYPE1_INITRD}`], options: this.options(b), sortKey }));
  }

  entryFileName(e: LiveEntry): string {
    return this.legacy ? `bootc-${e.os}-${e.prio === 1 ? 0 : 1}.conf` : confFileName(e.os, '44', e.prio);
  }

  private async writeEntries(entries: LiveEntry[], staged: boolean): Promise<void> {
    if (this.grub && this.uki) {
      const menu = entries.map((e) => {
        const m = newMenuEntry('Fedora Linux 44 (Forty Four) 44', e.build.verity);
        return this.legacy ? { ...m, chainloader: `/${C.BOOTC_UKI_DIR}/${e.build.verity}${C.UKI_EXT}` } : m;
      });
      await this.write(`${this.bootDir}/${staged ? C.USER_CFG_STAGED : C.USER_CFG}`, formatUserCfg(menu));
      return;
    }
    const dir = `${this.bootDir}/${staged ? C.ENTRIES_STAGED_DIR : C.ENTRIES_DIR}`;
    await fs.rm(this.p(dir), { recursive: true, force: true });
    await fs.mkdir(this.p(dir), { recursive: true });
    for (const e of entries) await this.write(`${dir}/${this.entryFileName(e)}`, this.entryText(e));
  }

  private async writeLive(): Promise<void> {
    await this.writeEntries(this.live, false);
  }

  private async removeStaged(): Promise<void> {
    await fs.rm(this.p(`${this.bootDir}/${C.ENTRIES_STAGED_DIR}`), { recursive: true, force: true });
    await fs.rm(this.p(`${this.bootDir}/${C.USER_CFG_STAGED}`), { force: true });
  }

  /** Points /proc/cmdline and the root mount at build b. */
  async bootInto(b: Build): Promise<void> {
    this.booted = b;
    const cmdline = this.uki ? `composefs=${this.optional ? '?' : ''}${b.verity} rw` : `BOOT_IMAGE=/vmlinuz ${this.options(b)}`;
    await this.write(C.PROC_CMDLINE, cmdline + '\n');
    await this.write(C.PROC_MOUNTINFO, mountinfo(b.verity, this.espMount));
  }
}
