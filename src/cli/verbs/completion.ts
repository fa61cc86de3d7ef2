/**
 * Owns `completion SHELL`: a completion script generated from the command table.
 */
import { UsageError } from '../../util/errors.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec } from '../commands.js';
import { str, type HandlerTable } from '../context.js';

interface Node {
  words: string[];
  children: Map<string, Node>;
}

function tree(cmds: readonly CommandSpec[]): Node {
  const node: Node = { words: [], children: new Map() };
  for (const c of cmds) {
    const child = tree(c.subcommands ?? []);
    child.words.push(...Object.keys(c.options ?? {}).map((o) => `--${o}`));
    for (const name of [c.name, ...(c.aliases ?? [])]) {
      node.children.set(name, child);
      if (!c.hidden) node.words.push(name);
    }
  }
  return node;
}

function flatten(node: Node, prefix: string, out: Map<string, string[]>): void {
  out.set(prefix, [...node.words, ...Object.keys(GLOBAL_OPTIONS).map((o) => `--${o}`), '--help']);
  for (const [name, child] of node.children) flatten(child, prefix === '' ? name : `${prefix} ${name}`, out);
}

/** Completion scripts for bash, zsh (via bashcompinit) and fish. */
export function completionScript(shell: string, prog = 'tsbootc'): string {
  const table = new Map<string, string[]>();
  flatten(tree(COMMANDS), '', table);
  if (shell === 'bash' || shell === 'zsh') {
    const cases = [...table]
      .map(([k, v]) => `    ${JSON.stringify(k)}) words=${JSON.stringify(v.join(' '))} ;;`)
      .join('\n');
    const fn = `_${prog.replace(/[^A-Za-z0-9]/g, '_')}_complete`;
    return [
      ...(shell === 'zsh' ? ['autoload -U +X bashcompinit && bashcompinit'] : []),
      `${fn}() {`,
      '  local path="" i w words',
      '  for ((i = 1; i < COMP_CWORD; i++)); do',
      '    w="${COMP_WORDS[i]}"',
      '    case "$w" in -*) continue ;; esac',
      '    if [ -z "$path" ]; then path="$w"; else path="$path $w"; fi',
      '  done',
      '  case "$path" in',
      cases,
      '    *) words="" ;;',
      '  esac',
      '  COMPREPLY=($(compgen -W "$words" -- "${COMP_WORDS[COMP_CWORD]}"))',
      '}',
      `complete -F ${fn} ${prog}`,
      '',
    ].join('\n');
  }
  if (shell === 'fish') {
    const lines: string[] = [`complete -c ${prog} -f`];
    for (const [k, v] of table) {
      const cond = k === '' ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${k.split(' ').pop()}`;
      for (const w of v) {
        if (w.startsWith('--')) lines.push(`complete -c ${prog} -n '${cond}' -l ${w.slice(2)}`);
        else lines.push(`complete -c ${prog} -n '${cond}' -a ${w}`);
      }
    }
    return lines.join('\n') + '\n';
  }
  throw new UsageError(`completion: unsupported shell ${shell}`);
}

export const completionHandlers: HandlerTable = {
  completion: async (ctx, args) => {
    ctx.out.write(completionScript(str(args, 'shell') ?? ''));
    return 0;
  },
};
