/**
 * Owns the process edge: argv, environment, stdout/stderr and the exit code.
 * Builds the real Host (the only place that does), parses, dispatches, and
 * maps any error to `error: ...` and exit code 1 (runtime) or 2 (usage).
 *
 * Start-up cost matters for one-shot tools (mkcomposefs), so the parser, the
 * verbs and the Host are imported on demand, and a plain `mkcomposefs
 * --from-file` command line skips them all (cli/fast-mkcomposefs.ts).
 */
import * as path from 'node:path';
import { parseLogLevel, type LogLevel } from '../util/log.js';
import { exitCodeFor, renderError } from './exit.js';
import { fastMkcomposefsArgs } from './fast-mkcomposefs.js';

/** Names tsbootc answers to when called through a symlink (argv[0] dispatch). */
const ARGV0_ALIASES: Readonly<Record<string, readonly string[]>> = {
  mkcomposefs: ['internals', 'cfs', 'mkcomposefs'],
  'composefs-info': ['internals', 'cfs', 'composefs-info'],
  cfsctl: ['internals', 'cfs'],
};

function argvFor(proc: NodeJS.Process): { argv0: string; args: string[] } {
  const script = proc.argv[1] ?? 'tsbootc';
  const argv0 = path.basename(script).replace(/\.js$/, '');
  const rest = proc.argv.slice(2);
  const alias = ARGV0_ALIASES[argv0];
  return { argv0, args: alias ? [...alias, ...rest] : rest };
}

export async function main(proc: NodeJS.Process): Promise<void> {
  const { argv0, args } = argvFor(proc);
  const verbose = args.includes('-v') || args.includes('--verbose');
  try {
    const fast = fastMkcomposefsArgs(args);
    if (fast !== undefined) {
      const { runMkcomposefs } = await import('./verbs/cfs-mkcomposefs.js');
      // process.stdout is created on first use (a pipe loads net and streams): only touch it when writing there.
      const out = {
        write: (d: string | Uint8Array): void => void proc.stdout.write(d),
        get isTTY(): boolean {
          return proc.stdout.isTTY === true;
        },
      };
      proc.exitCode = await runMkcomposefs({ env: proc.env, out }, fast);
      return;
    }
    const [{ parseArgs }, { dispatch }, { realHost }, { processOutput }, { createLogger }] = await Promise.all([
      import('./parse.js'),
      import('./dispatch.js'),
      import('../sys/host.js'),
      import('./output.js'),
      import('../util/log.js'),
    ]);
    const parsed = await parseArgs(args, ARGV0_ALIASES[argv0] ? argv0 : 'tsbootc');
    if (parsed.kind === 'output') {
      proc.stdout.write(parsed.text.endsWith('\n') || parsed.text === '' ? parsed.text : parsed.text + '\n');
      proc.exitCode = 0;
      return;
    }
    const inv = parsed.invocation;
    const level: LogLevel = verbose ? 'debug' : (parseLogLevel(proc.env['TSBOOTC_LOG']) ?? 'info');
    const log = createLogger(level, (line) => proc.stderr.write(line));
    const rootArg = inv.args['root'];
    const rootDir = typeof rootArg === 'string' && rootArg.length > 0 ? rootArg : (proc.env['TSBOOTC_ROOT'] ?? '/');
    const host = realHost({ rootDir, env: proc.env, log, uid: proc.getuid?.() ?? -1 });
    const out = processOutput(proc);
    proc.exitCode = await dispatch({ host, out, argv0, verbose: verbose || level === 'debug' }, inv);
  } catch (err) {
    const debug = verbose || parseLogLevel(proc.env['TSBOOTC_LOG']) === 'debug';
    proc.stderr.write(renderError(err, debug));
    proc.exitCode = exitCodeFor(err);
  }
}
