/**
 * Owns what a verb handler receives: the Host (side effects) and the Output
 * (results), plus the parsed arguments.
 */
import type { Host } from '../sys/host.js';
import type { Output } from './output.js';
import type { Args } from './parse.js';
import { UsageError } from '../util/errors.js';

export interface Context {
  host: Host;
  out: Output;
  /** The name the program was called by (tsbootc, mkcomposefs, ...). */
  argv0: string;
  verbose: boolean;
}

/** A verb handler: returns the process exit code. Throws for runtime errors. */
export type Handler = (ctx: Context, args: Args) => Promise<number>;

export type HandlerTable = Readonly<Record<string, Handler>>;

/** Typed accessors for parsed arguments (yargs gives `unknown`). */
export function str(args: Args, key: string): string | undefined {
  const v = args[key];
  return v === undefined || v === null ? undefined : String(v);
}
export function bool(args: Args, key: string): boolean {
  return args[key] === true;
}
/**
 * A numeric flag: undefined when not given. yargs turns a value that is not a
 * number into NaN; that is a usage error naming the flag, never "not given".
 */
export function num(args: Args, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new UsageError(`--${key}: expected a number, got ${typeof v === 'number' ? 'a value that is not one' : JSON.stringify(v)}`);
}
export function strs(args: Args, key: string): string[] {
  const v = args[key];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}
