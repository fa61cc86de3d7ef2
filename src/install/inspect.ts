/**
 * Owns `container inspect`: what an image root carries for booting (its
 * kargs.d arguments and its kernel: a UKI in /boot/EFI/Linux, else
 * /usr/lib/modules/<kver>/vmlinuz), as bootc reports it.
 */
import type { Root } from '../sys/root.js';
import { readKargsD } from '../boot/kargs-d.js';
import { TsbootcError } from '../util/errors.js';
import { findKernels } from './lint.js';

export interface ImageKernel {
  version: string;
  unified: boolean;
}

export interface ContainerInspect {
  kargs: string[];
  kernel: ImageKernel | null;
}

/** The image's kernel; a UKI wins over a modules-dir kernel. Several kernels are an error. */
export async function findKernel(root: Root): Promise<ImageKernel | null> {
  const { modules, ukis } = await findKernels(root);
  const uki = ukis.sort()[0];
  if (uki !== undefined) return { version: uki.slice(0, -'.efi'.length), unified: true };
  if (modules.length > 1) throw new TsbootcError(`Multiple kernels found in /usr/lib/modules: ${modules.join(', ')}`);
  const kver = modules[0];
  return kver === undefined ? null : { version: kver, unified: false };
}

export async function inspectContainer(root: Root, arch: string): Promise<ContainerInspect> {
  return { kargs: await readKargsD(root, arch), kernel: await findKernel(root) };
}

/** bootc's human form: right-aligned labels. */
export function formatInspectHuman(i: ContainerInspect): string {
  const rows: Array<[string, string]> = i.kernel
    ? [
        ['Kernel', i.kernel.version],
        ['Type', i.kernel.unified ? 'UKI' : 'vmlinuz'],
      ]
    : [['Kernel', '<none>']];
  rows.push(['Kargs', i.kargs.length ? i.kargs.join(' ') : '<none>']);
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, v]) => `${l.padStart(width)}: ${v}\n`).join('');
}
