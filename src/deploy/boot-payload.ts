/**
 * Owns what a new deployment boots, read from its image in the repository
 * (bootc.md §3.3, §6.3 step 6): the UKI under `/boot/EFI/Linux/*.efi`, or the
 * Type1 kernel and initramfs under `/usr/lib/modules/<kver>/`, with the
 * os-release for the entry title; and the Type1 command line: the booted
 * entry's options with `composefs=` replaced (keeping the `?` of optional
 * verity) and the kargs.d delta between the booted and the new image.
 */
import type { BootPayload } from '../boot/entries.js';
import { collectKargs, KARGS_D } from '../boot/kargs-d.js';
import { parseKarg, splitCmdline } from '../boot/cmdline.js';
import { TsbootcError, withContext } from '../util/errors.js';
import { listImageDir, readImageFile, type ImageFs } from './image-files.js';

const MODULES = '/usr/lib/modules';
const IMAGE_UKI_DIR = '/boot/EFI/Linux';

/** The kargs.d arguments of an image for `arch` (Rust arch name). */
export async function imageKargs(image: ImageFs, arch: string): Promise<string[]> {
  return withContext(`Reading ${KARGS_D} of image ${image.id}`, async () => {
    const files: Array<{ name: string; text: string }> = [];
    for (const name of listImageDir(image, KARGS_D)) {
      if (!name.endsWith('.toml')) continue;
      const b = await readImageFile(image, `${KARGS_D}/${name}`);
      if (b !== undefined) files.push({ name, text: b.toString('utf8') });
    }
    return collectKargs(files, arch);
  });
}

/**
 * The new entry's options: `bootedOptions` with every `composefs=` replaced by
 * the new id (optional-verity `?` kept), then the kargs.d delta applied.
 */
export function newKargs(bootedOptions: string, verity: string, oldKargs: readonly string[], newKargsD: readonly string[]): string {
  const args = splitCmdline(bootedOptions).map((a) => {
    const k = parseKarg(a);
    if (k.key !== 'composefs') return a;
    return `composefs=${(k.value ?? '').startsWith('?') ? '?' : ''}${verity}`;
  });
  if (!args.some((a) => a.startsWith('composefs='))) args.push(`composefs=${verity}`);
  const removed = oldKargs.filter((k) => !newKargsD.includes(k));
  const added = newKargsD.filter((k) => !oldKargs.includes(k));
  const out = args.filter((a) => !removed.includes(a));
  for (const a of added) if (!out.includes(a)) out.push(a);
  return out.join(' ');
}

/** Whether the image ships a UKI (then the deployment boots it, as bootc decides). */
export function imageUkiName(image: ImageFs): string | undefined {
  return listImageDir(image, IMAGE_UKI_DIR).find((n) => n.endsWith('.efi'));
}

/**
 * The boot payload of the image: its UKI if it has one, else the Type1
 * kernel of the single kernel version in /usr/lib/modules.
 * @throws TsbootcError when the image has no kernel
 */
export async function bootPayloadFromImage(image: ImageFs, options: string): Promise<BootPayload> {
  return withContext(`Reading the kernel of image ${image.id}`, async () => {
    const uki = imageUkiName(image);
    if (uki !== undefined) return { kind: 'uki', uki: (await readImageFile(image, `${IMAGE_UKI_DIR}/${uki}`))! };
    const kvers: string[] = [];
    for (const k of listImageDir(image, MODULES)) if (listImageDir(image, `${MODULES}/${k}`).includes('vmlinuz')) kvers.push(k);
    if (kvers.length === 0) throw new TsbootcError(`No kernel found: neither ${IMAGE_UKI_DIR}/*.efi nor ${MODULES}/<kver>/vmlinuz exists in the image`);
    if (kvers.length > 1) throw new TsbootcError(`Multiple kernels found in ${MODULES}: ${kvers.join(', ')}`);
    const dir = `${MODULES}/${kvers[0]}`;
    const vmlinuz = (await readImageFile(image, `${dir}/vmlinuz`))!;
    const initrd = await readImageFile(image, `${dir}/initramfs.img`);
    if (initrd === undefined) throw new TsbootcError(`${dir}/initramfs.img not found in the image`);
    const osRelease = (await readImageFile(image, '/usr/lib/os-release')) ?? (await readImageFile(image, '/etc/os-release'));
    return { kind: 'type1', vmlinuz, initrd, osRelease: osRelease?.toString('utf8'), options };
  });
}
