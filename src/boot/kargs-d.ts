/**
 * Owns kargs.d: `/usr/lib/bootc/kargs.d/*.toml` files in an image, each
 * `kargs = [...]` with an optional `match-architectures = [...]` (Rust arch
 * names), and the delta bootc applies on upgrade: kernel arguments the old
 * image's kargs.d had and the new one's lacks are removed, new ones added,
 * everything else (including what the user added) is kept; and the Type1
 * command line of an upgrade built from it (newKargs).
 */
import TOML from '@iarna/toml';
import { FormatError, withContext } from '../util/errors.js';
import type { Root } from '../sys/root.js';
import { parseKarg, splitCmdline } from './cmdline.js';

export const KARGS_D = '/usr/lib/bootc/kargs.d';

/** Rust's `std::env::consts::ARCH` for Node's `process.arch`. */
export function rustArch(nodeArch: string): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'x86', arm: 'arm', ppc64: 'powerpc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loongarch64', mips: 'mips', mipsel: 'mips' };
  return map[nodeArch] ?? nodeArch;
}

/** Parses one kargs.d file; undefined when `match-architectures` excludes `arch`. */
export function parseKargsToml(text: string, arch: string, fileName: string): string[] | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new FormatError(`Parsing ${fileName}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  for (const key of Object.keys(doc)) {
    if (key !== 'kargs' && key !== 'match-architectures') throw new FormatError(`Parsing ${fileName}: unknown field \`${key}\`, expected \`kargs\` or \`match-architectures\``);
  }
  const kargs = doc['kargs'];
  if (kargs === undefined) throw new FormatError(`Parsing ${fileName}: missing field \`kargs\``);
  if (!Array.isArray(kargs) || !kargs.every((k) => typeof k === 'string')) throw new FormatError(`Parsing ${fileName}: \`kargs\` must be an array of strings`);
  const arches = doc['match-architectures'];
  if (arches !== undefined) {
    if (!Array.isArray(arches) || !arches.every((a) => typeof a === 'string')) throw new FormatError(`Parsing ${fileName}: \`match-architectures\` must be an array of strings`);
    if (!arches.includes(arch)) return undefined;
  }
  return splitCmdline((kargs as string[]).join(' '));
}

/** All kargs of a set of kargs.d files, in file-name order (only `*.toml`). */
export function collectKargs(files: ReadonlyArray<{ name: string; text: string }>, arch: string): string[] {
  const out: string[] = [];
  const sorted = files.filter((f) => f.name.endsWith('.toml') && f.name.length > '.toml'.length).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const f of sorted) {
    for (const k of parseKargsToml(f.text, arch, f.name) ?? []) if (!out.includes(k)) out.push(k);
  }
  return out;
}

/** Reads the kargs.d of an image root (a missing directory means no kargs). */
export async function readKargsD(image: Root, arch: string): Promise<string[]> {
  return withContext(`Reading ${KARGS_D}`, async () => {
    const files: Array<{ name: string; text: string }> = [];
    for (const name of await image.listDir(KARGS_D)) {
      if (name.endsWith('.toml')) files.push({ name, text: await image.readText(`${KARGS_D}/${name}`) });
    }
    return collectKargs(files, arch);
  });
}

/**
 * Applies the kargs.d delta to a command line (as a list of arguments):
 * arguments in `oldKargs` but not in `newKargs` are removed (exact matches),
 * arguments in `newKargs` but not in `oldKargs` are appended unless present.
 */
export function applyKargsDelta(args: readonly string[], oldKargs: readonly string[], newKargs: readonly string[]): string[] {
  const removed = oldKargs.filter((k) => !newKargs.includes(k));
  const added = newKargs.filter((k) => !oldKargs.includes(k));
  const out = args.filter((a) => !removed.includes(a));
  for (const a of added) if (!out.includes(a)) out.push(a);
  return out;
}

/**
 * The new entry's options on switch/upgrade: `bootedOptions` with every
 * `composefs=` replaced by the new id (optional-verity `?` kept; appended
 * when absent), then the kargs.d delta applied.
 */
export function newKargs(bootedOptions: string, verity: string, oldKargs: readonly string[], newKargsD: readonly string[]): string {
  const args = splitCmdline(bootedOptions).map((a) => {
    const k = parseKarg(a);
    if (k.key !== 'composefs') return a;
    return `composefs=${(k.value ?? '').startsWith('?') ? '?' : ''}${verity}`;
  });
  if (!args.some((a) => a.startsWith('composefs='))) args.push(`composefs=${verity}`);
  return applyKargsDelta(args, oldKargs, newKargsD).join(' ');
}
