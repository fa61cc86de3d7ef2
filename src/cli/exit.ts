/**
 * Owns turning an error into what the user sees and the exit code:
 * `error: <step>: <step>: <cause>` (+ `hint:`), exit 2 for usage, 1 otherwise.
 * With verbose on, the stack and the cause chain follow.
 */
import { exitCodeFor, formatErrorChain, hintOf } from '../util/errors.js';

export function renderError(err: unknown, verbose: boolean): string {
  const lines = [`error: ${formatErrorChain(err)}`];
  const hint = hintOf(err);
  if (hint !== undefined) lines.push(`hint: ${hint}`);
  if (verbose) {
    let cur: unknown = err;
    for (let depth = 0; depth < 32 && cur !== undefined; depth++) {
      if (cur instanceof Error) {
        lines.push(depth === 0 ? (cur.stack ?? String(cur)) : `caused by: ${cur.stack ?? String(cur)}`);
        cur = cur.cause;
      } else {
        lines.push(`caused by: ${String(cur)}`);
        cur = undefined;
      }
    }
  }
  return lines.join('\n') + '\n';
}

export { exitCodeFor };
