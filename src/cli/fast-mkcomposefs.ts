/**
 * Owns the start-up fast path of `mkcomposefs --from-file`: recognising the
 * plain command lines C mkcomposefs users write (and fuzz-diff.sh and the
 * benchmark use) without loading yargs, the command table, every verb, YAML or
 * execa, which cost more than building a 64k-entry image. Anything it does not
 * recognise exactly (help, other flags, repeats, `--`, odd values) returns
 * undefined and takes the full parser, so behaviour is the same either way.
 */
import type { Args } from './parse.js';

const PATH = ['internals', 'cfs', 'mkcomposefs'];
const FLAGS = new Set(['--from-file', '--print-digest', '--print-digest-only']);
const NUMBERS = new Set(['--min-version', '--max-version']);

/**
 * The arguments yargs would produce for `argv` (after the script name, aliases
 * already expanded), or undefined when the fast path does not apply.
 */
export function fastMkcomposefsArgs(argv: readonly string[]): Args | undefined {
  if (argv.length < PATH.length + 2) return undefined;
  for (let i = 0; i < PATH.length; i++) if (argv[i] !== PATH[i]) return undefined;
  const args: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (let i = PATH.length; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-' || !a.startsWith('-')) {
      // yargs keeps positionals as strings, but stay off anything number-like.
      if (a.trim() === '' || !Number.isNaN(Number(a))) return undefined;
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    const key = name.slice(2);
    if (args[key] !== undefined) return undefined;
    if (FLAGS.has(name) && eq < 0) args[key] = true;
    else if (NUMBERS.has(name)) {
      const v = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (v === undefined || !/^[0-9]{1,9}$/.test(v)) return undefined;
      args[key] = Number(v);
    } else return undefined;
  }
  if (args['from-file'] !== true || positionals.length < 1 || positionals.length > 2) return undefined;
  args['source'] = positionals[0];
  if (positionals.length === 2) args['image'] = positionals[1];
  return args;
}
