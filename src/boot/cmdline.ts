/**
 * Owns kernel command line parsing and editing (pure). Handles quoting the
 * way the kernel does: double quotes group, they are not part of the value.
 */

export interface Karg {
  key: string;
  value: string | undefined;
}

/** Splits a command line into arguments, honouring double quotes. */
export function splitCmdline(cmdline: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let any = false;
  for (const ch of cmdline) {
    if (ch === '"') {
      inQuote = !inQuote;
      cur += ch;
      any = true;
    } else if (!inQuote && /\s/.test(ch)) {
      if (any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) out.push(cur);
  return out;
}

export function parseKarg(arg: string): Karg {
  const eq = arg.indexOf('=');
  if (eq < 0) return { key: arg, value: undefined };
  let value = arg.slice(eq + 1);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return { key: arg.slice(0, eq), value };
}

/** The value of the first argument whose key is exactly `key`. */
export function findKarg(cmdline: string, key: string): string | undefined {
  for (const a of splitCmdline(cmdline)) {
    const k = parseKarg(a);
    if (k.key === key) return k.value ?? '';
  }
  return undefined;
}
