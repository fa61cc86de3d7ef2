/**
 * Owns argv → Invocation. yargs is configured from the command table and only
 * captures values; nothing here touches the system. Help and version text come
 * back as `output` for cli/main to print.
 */
import yargs, { type Argv, type Options, type PositionalOptions } from 'yargs';
import { UsageError } from '../util/errors.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptSpec } from './commands.js';

export type Args = Readonly<Record<string, unknown>>;

export interface Invocation {
  /** The canonical command path, aliases resolved: ["internals", "cfs", "oci", "pull"]. */
  path: readonly string[];
  /** Option and positional values, camelCase and kebab-case keys both present (yargs). */
  args: Args;
}

export type ParseResult = { kind: 'run'; invocation: Invocation } | { kind: 'output'; text: string };

export const VERSION = '0.1.0';

function toYargsOption(o: OptSpec): Options {
  const y: Options = { type: o.type, describe: o.describe };
  if (o.alias !== undefined) y.alias = o.alias as string | string[];
  if (o.choices !== undefined) y.choices = [...o.choices];
  if (o.default !== undefined) y.default = o.default;
  if (o.hidden) y.hidden = true;
  if (o.conflicts !== undefined) y.conflicts = [...o.conflicts];
  if (o.implies !== undefined) y.implies = [...o.implies];
  if (o.type === 'number' && o.choices !== undefined) y.choices = o.choices.map(Number);
  if (o.value !== undefined) y.requiresArg = true;
  if (o.type === 'string') y.requiresArg = true;
  return y;
}

function commandString(c: CommandSpec): string {
  const pos = (c.positionals ?? []).map((p) => {
    const inner = p.variadic ? `${p.name}..` : p.name;
    return p.required ? `<${inner}>` : `[${inner}]`;
  });
  return [c.name, ...pos].join(' ');
}

function register(y: Argv, cmds: readonly CommandSpec[], prefix: string[], onRun: (inv: Invocation) => void): Argv {
  for (const c of cmds) {
    const path = [...prefix, c.name];
    const describe = c.hidden ? false : c.describe;
    y = y.command(
      [commandString(c), ...(c.aliases ?? [])],
      describe as string,
      (sub: Argv) => {
        for (const p of c.positionals ?? []) {
          const po: PositionalOptions = { describe: p.describe, type: p.type ?? 'string' };
          if (p.default !== undefined) po.default = p.default;
          if (p.choices !== undefined) po.choices = [...p.choices];
          if (p.variadic) po.array = true;
          sub = sub.positional(p.name, po);
        }
        for (const [name, o] of Object.entries(c.options ?? {})) sub = sub.option(name, toYargsOption(o));
        if (c.subcommands) {
          sub = register(sub, c.subcommands, path, onRun);
          sub = sub.demandCommand(1, `${path.join(' ')}: a subcommand is required`);
        }
        if (c.passthrough) sub = sub.parserConfiguration({ 'populate--': true });
        return sub;
      },
      (argv: Record<string, unknown>) => {
        onRun({ path, args: argv });
      },
    );
  }
  return y;
}

/** yargs reports some problems over several lines; users get one. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Builds the yargs parser for tsbootc (also used to generate docs/cli.md). */
export function buildParser(scriptName: string, onRun: (inv: Invocation) => void): Argv {
  let y = yargs([])
    .scriptName(scriptName)
    .strict()
    .exitProcess(false)
    .version(VERSION)
    .help()
    .wrap(100)
    .parserConfiguration({ 'boolean-negation': false, 'greedy-arrays': false })
    .fail((msg: string | undefined, err: Error | undefined) => {
      if (err !== undefined && !(err instanceof UsageError) && err.name !== 'YError') throw err;
      throw new UsageError(oneLine(msg ?? err?.message ?? 'invalid usage'));
    });
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) y = y.option(name, { ...toYargsOption(o), global: true });
  y = register(y, COMMANDS, [], onRun);
  return y.demandCommand(1, 'a command is required');
}

/**
 * A lone `-` (stdin/stdout) reaches yargs' positional re-parse as `--name -`,
 * which yields '' (yargs-parser treats it as a flag), so it travels under this
 * stand-in and is restored afterwards.
 */
const DASH = '\u0000-';

function restoreDash(args: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(args)) {
    if (v === DASH) args[k] = '-';
    else if (Array.isArray(v)) args[k] = v.map((x) => (x === DASH ? '-' : x));
  }
}

/** The option table in force at each command level, for telling an option's value from a verb. */
function takesValue(name: string, scopes: readonly Readonly<Record<string, OptSpec>>[]): boolean {
  for (const opts of scopes) {
    for (const [k, o] of Object.entries(opts)) {
      const aliases = o.alias === undefined ? [] : Array.isArray(o.alias) ? (o.alias as string[]) : [o.alias as string];
      if (k === name || aliases.includes(name)) return o.type !== 'boolean' && o.type !== 'count';
    }
  }
  return false;
}

/** The index of the token that names the command at `target` (e.g. internals cfs gc), or -1. */
export function commandTokenIndex(argv: readonly string[], target: readonly string[]): number {
  let cmds: readonly CommandSpec[] = COMMANDS;
  const scopes: Readonly<Record<string, OptSpec>>[] = [GLOBAL_OPTIONS];
  let depth = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') return -1;
    if (a.startsWith('-') && a.length > 1) {
      const name = a.replace(/^--?/, '');
      if (!name.includes('=') && takesValue(name, scopes)) i++;
      continue;
    }
    const c = cmds.find((x) => x.name === a || (x.aliases ?? []).includes(a));
    if (c === undefined || c.name !== target[depth]) return -1;
    if (++depth === target.length) return i;
    scopes.push(c.options ?? {});
    cmds = c.subcommands ?? [];
  }
  return -1;
}

/**
 * cfsctl's `gc -r/--root NAME` names a GC root, while tsbootc's global
 * `--root DIR` is the host root. A `--root` written after `gc` is cfsctl's
 * (rewritten to `--gc-root`); one before it stays the host root.
 */
function cfsGcRoots(argv: readonly string[]): readonly string[] {
  const at = commandTokenIndex(argv, ['internals', 'cfs', 'gc']);
  if (at < 0) return argv;
  const dd = argv.indexOf('--');
  return argv.map((a, i) => (i <= at || (dd >= 0 && i > dd) ? a : a === '--root' ? '--gc-root' : a.startsWith('--root=') ? `--gc-root=${a.slice(7)}` : a));
}

/**
 * Parses argv (without node and the script). Usage errors throw UsageError;
 * `--help`/`--version` return their text.
 */
export async function parseArgs(argv: readonly string[], scriptName = 'tsbootc'): Promise<ParseResult> {
  let invocation: Invocation | undefined;
  let output = '';
  const parser = buildParser(scriptName, (inv) => {
    invocation = inv;
  });
  await new Promise<void>((resolve, reject) => {
    try {
      argv = cfsGcRoots(argv);
      const dd = argv.indexOf('--');
      const input = argv.map((a, i) => (a === '-' && (dd < 0 || i < dd) ? DASH : a));
      void parser.parse(input, {}, (err: Error | undefined, _parsed: unknown, out: string) => {
        output = out;
        if (err) reject(err instanceof UsageError ? err : new UsageError(oneLine(err.message)));
        else resolve();
      });
    } catch (err) {
      reject(err instanceof UsageError ? err : new UsageError(err instanceof Error ? err.message : String(err)));
    }
  });
  if (invocation !== undefined) {
    restoreDash(invocation.args as Record<string, unknown>);
    return { kind: 'run', invocation };
  }
  return { kind: 'output', text: output };
}
