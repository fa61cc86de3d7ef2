/**
 * Owns the diagnostic event model. Events are values; where they go
 * (stderr, a test buffer, nowhere) is decided by the composition root.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogEvent =
  | { kind: 'exec'; argv: readonly string[]; cwd?: string }
  | { kind: 'mount'; source: string; target: string; fstype: string }
  | { kind: 'step'; message: string }
  | { kind: 'warning'; message: string }
  | { kind: 'message'; message: string };

export interface Logger {
  debug(e: LogEvent): void;
  info(e: LogEvent): void;
  warn(e: LogEvent): void;
  error(e: LogEvent): void;
  readonly level: LogLevel;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

const FORMATTERS: { [K in LogEvent['kind']]: (e: Extract<LogEvent, { kind: K }>) => string } = {
  exec: (e) => `exec: ${e.argv.map(shellQuote).join(' ')}${e.cwd !== undefined ? ` (in ${e.cwd})` : ''}`,
  mount: (e) => `mount: ${e.source} on ${e.target} type ${e.fstype}`,
  step: (e) => e.message,
  warning: (e) => `warning: ${e.message}`,
  message: (e) => e.message,
};

export function formatLogEvent(e: LogEvent): string {
  return (FORMATTERS[e.kind] as (x: LogEvent) => string)(e);
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function parseLogLevel(s: string | undefined): LogLevel | undefined {
  if (s === 'debug' || s === 'info' || s === 'warn' || s === 'error') return s;
  if (s === 'trace') return 'debug';
  return undefined;
}

/** A logger that writes formatted lines through `write` at or above `level`. */
export function createLogger(level: LogLevel, write: (line: string) => void): Logger {
  const at = (l: LogLevel) => (e: LogEvent) => {
    if (ORDER[l] >= ORDER[level]) write(formatLogEvent(e) + '\n');
  };
  return { level, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that keeps events in memory (tests). */
export function memoryLogger(level: LogLevel = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger(level, (l) => lines.push(l.trimEnd())), { lines });
}
