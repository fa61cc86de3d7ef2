/**
 * Owns tsbootc's error model: one base class with a stable code, the usage
 * error (exit 2), and `withContext`, which names the step that failed so a
 * failure prints as `error: <step>: <step>: <cause>`.
 */

export type ErrorCode =
  | 'ERR_RUNTIME'
  | 'ERR_USAGE'
  | 'ERR_NOT_IMPLEMENTED'
  | 'ERR_NOT_BOOTED'
  | 'ERR_PRECONDITION'
  | 'ERR_COMMAND_FAILED'
  | 'ERR_STATE_CORRUPT'
  | 'ERR_REPO_OPEN'
  | 'ERR_IMAGE_NOT_FOUND'
  | 'ERR_LOCKED'
  | 'ERR_FORMAT'
  | 'ERR_CONTEXT';

export interface TsbootcErrorOptions {
  cause?: unknown;
  code?: ErrorCode;
  hint?: string;
}

export class TsbootcError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  get exitCode(): 1 | 2 {
    return 1;
  }
  constructor(message: string, options: TsbootcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'ERR_RUNTIME';
    this.hint = options.hint;
  }
}
Object.defineProperty(TsbootcError.prototype, 'name', { value: 'TsbootcError', enumerable: false });

/** A command line that cannot be run as written. Exit code 2. */
export class UsageError extends TsbootcError {
  override get exitCode(): 1 | 2 {
    return 2;
  }
  constructor(message: string, options: Omit<TsbootcErrorOptions, 'code'> = {}) {
    super(message, { ...options, code: 'ERR_USAGE' });
  }
}
Object.defineProperty(UsageError.prototype, 'name', { value: 'UsageError', enumerable: false });

/** A verb whose implementation has not landed yet. */
export class NotImplementedError extends TsbootcError {
  constructor(verb: string) {
    super(`${verb}: not implemented yet`, { code: 'ERR_NOT_IMPLEMENTED' });
  }
}
Object.defineProperty(NotImplementedError.prototype, 'name', { value: 'NotImplementedError', enumerable: false });

/** A malformed input file or stream; the message names the file/line/key. */
export class FormatError extends TsbootcError {
  constructor(message: string, options: Omit<TsbootcErrorOptions, 'code'> = {}) {
    super(message, { ...options, code: 'ERR_FORMAT' });
  }
}
Object.defineProperty(FormatError.prototype, 'name', { value: 'FormatError', enumerable: false });

/** On-disk deployment state that contradicts itself. */
export class StateCorruptError extends TsbootcError {
  constructor(message: string, options: Omit<TsbootcErrorOptions, 'code'> = {}) {
    super(message, { ...options, code: 'ERR_STATE_CORRUPT' });
  }
}
Object.defineProperty(StateCorruptError.prototype, 'name', { value: 'StateCorruptError', enumerable: false });

/** An error that adds a step name in front of its cause. */
export class ContextError extends TsbootcError {
  constructor(step: string, cause: unknown) {
    super(step, { cause, code: 'ERR_CONTEXT' });
  }
}
Object.defineProperty(ContextError.prototype, 'name', { value: 'ContextError', enumerable: false });

/**
 * Runs `fn`; any throw is wrapped so that the printed chain names `step`.
 * The equivalent of Rust's `.context("Opening state dir")`.
 */
export async function withContext<T>(step: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new ContextError(step, err);
  }
}

/** Synchronous form of {@link withContext}. */
export function withContextSync<T>(step: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ContextError(step, err);
  }
}

/** The innermost cause of an error chain (the thing that actually went wrong). */
export function rootCause(err: unknown): unknown {
  let cur = err;
  for (let i = 0; i < 64 && cur instanceof ContextError && cur.cause !== undefined; i++) cur = cur.cause;
  return cur;
}

/** The exit code an error maps to: 2 for usage errors anywhere in the chain, else 1. */
export function exitCodeFor(err: unknown): 1 | 2 {
  const inner = rootCause(err);
  if (inner instanceof TsbootcError) return inner.exitCode;
  return 1;
}

/**
 * A message on one line: V8's JSON.parse errors quote the input around the
 * fault, newlines included, and an error must print as one line.
 */
export function oneLine(message: string): string {
  return message.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

function messageOf(err: unknown): string {
  if (err instanceof SyntaxError) return oneLine(err.message);
  if (err instanceof Error) {
    const sys = err as NodeJS.ErrnoException;
    // Node's fs errors already say "ENOENT: no such file or directory, open '/x'".
    if (typeof sys.code === 'string' && sys.syscall !== undefined && !(err instanceof TsbootcError)) {
      return err.message;
    }
    return err.message;
  }
  return String(err);
}

/** Formats the whole chain as `a: b: c` (bootc's `{:#}`). */
export function formatErrorChain(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; depth < 64 && cur !== undefined; depth++) {
    if (cur instanceof ContextError) {
      parts.push(cur.message);
      cur = cur.cause;
      continue;
    }
    const msg = messageOf(cur);
    // A wrapper that already quotes its cause's message (`entry x: <cause>`) must not print it twice.
    const prev = parts[parts.length - 1];
    if (prev === undefined || msg.length === 0 || !prev.endsWith(msg)) parts.push(msg);
    cur = cur instanceof Error && cur.cause !== undefined && cur instanceof TsbootcError ? cur.cause : undefined;
  }
  return parts.filter((p) => p.length > 0).join(': ');
}

/** The first hint found along the chain, if any. */
export function hintOf(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 64 && cur !== undefined; depth++) {
    if (cur instanceof TsbootcError && cur.hint !== undefined) return cur.hint;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return undefined;
}
