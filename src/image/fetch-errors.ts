/**
 * Owns how a failed skopeo run becomes one clear line: the classification of
 * its stderr (authentication, TLS, not found, transient network trouble), the
 * FetchError type callers branch on, and the bounded retry with backoff used
 * for transient failures.
 */
import { TsbootcError } from '../util/errors.js';

export type FetchErrorKind = 'auth' | 'tls' | 'not-found' | 'transient' | 'verify' | 'other';

export class FetchError extends TsbootcError {
  readonly kind: FetchErrorKind;
  constructor(kind: FetchErrorKind, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { code: kind === 'not-found' ? 'ERR_IMAGE_NOT_FOUND' : 'ERR_RUNTIME', ...options });
    this.kind = kind;
  }
}
Object.defineProperty(FetchError.prototype, 'name', { value: 'FetchError', enumerable: false });

/**
 * The message of skopeo's last fatal line (`time=… level=fatal msg="…"`), or
 * the last non-empty stderr line. Never more than one line.
 */
export function skopeoMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /level=fatal msg="((?:[^"\\]|\\.)*)"/.exec(lines[i] ?? '');
    if (m?.[1] !== undefined) return stripImagePrefix(m[1].replace(/\\(.)/g, '$1'));
  }
  const last = lines[lines.length - 1] ?? '';
  return stripImagePrefix(last.replace(/^Error:\s*/, '')) || 'skopeo failed without a message';
}

/**
 * Drops what the caller's context already says (skopeo's "which image"
 * prefixes, "reading manifest T in R: ") and the registry's doubled
 * "manifest unknown: manifest unknown".
 */
function stripImagePrefix(msg: string): string {
  const parts = msg
    .replace(/^Error parsing image name "[^"]*": /, '')
    .replace(/^initializing source \S+: /, '')
    .replace(/^reading manifest \S+ in \S+: /, '')
    .split(': ');
  return parts.filter((p, i) => p !== parts[i - 1]).join(': ');
}

const PATTERNS: ReadonlyArray<[FetchErrorKind, RegExp]> = [
  ['auth', /unauthorized|authentication required|invalid username\/password|denied: requested access|status code 401|\b401 Unauthorized/i],
  ['tls', /server gave HTTP response to HTTPS client|x509:|tls: |certificate/i],
  ['not-found', /manifest unknown|name unknown|repository name not known|not found|no such file or directory|does not exist|no descriptor found|does not resolve to an image|no such image/i],
  ['transient', /connection refused|connection reset|unexpected EOF|\bEOF\b|i\/o timeout|timeout|broken pipe|no route to host|server misbehaving|too many requests|\b(?:429|500|502|503|504)\b|temporarily unavailable|TLS handshake/i],
];

export function classifySkopeoMessage(message: string): FetchErrorKind {
  for (const [kind, re] of PATTERNS) if (re.test(message)) return kind;
  return 'other';
}

export interface RetryPolicy {
  /** Total attempts, the first included. Default 4 (three retries). */
  attempts: number;
  /** Delay before the first retry; doubled each time. Default 1000 ms (1 s, 2 s, 4 s). */
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 1000 };

/** The delays slept between attempts: base, 2·base, 4·base, … (attempts − 1 of them). */
export function backoffDelays(p: RetryPolicy): number[] {
  return Array.from({ length: Math.max(0, p.attempts - 1) }, (_, i) => p.baseDelayMs * 2 ** i);
}

/**
 * Runs `fn` until it succeeds, throws a non-transient error, or the attempts run out.
 * `onRetry` hears about each retry before the sleep.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  hooks: { isTransient: (err: unknown) => boolean; onRetry?: (err: unknown, attempt: number, delayMs: number) => void; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const delays = backoffDelays(policy);
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const delay = delays[attempt - 1];
      if (delay === undefined || !hooks.isTransient(err)) throw err;
      hooks.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
