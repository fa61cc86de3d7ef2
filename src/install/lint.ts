/**
 * Owns `container lint`: the checks run on an image root before it is
 * installed, with bootc's names, kinds and output lines. The ostree-specific
 * base-image lints (baseimage-root, baseimage-composefs) do not apply to
 * composefs deployments and are left out; `os-release` and `var-content` are
 * tsbootc's (an image without os-release gets no usable boot entry name; /var
 * content is only copied at install time).
 */
import type { Root } from '../sys/root.js';
import { readKargsD } from '../boot/kargs-d.js';
import { TsbootcError } from '../util/errors.js';

export type LintKind = 'fatal' | 'warning';
export type RootType = 'running' | 'alternative';

interface LintDef {
  name: string;
  kind: LintKind;
  description: string;
  rootType?: RootType;
  check: (root: Root, ctx: LintContext) => Promise<string | undefined>;
}

export interface LintContext {
  arch: string;
  noTruncate: boolean;
}

const TRUNCATE_AT = 5;

function formatItems(ctx: LintContext, header: string, items: readonly string[]): string {
  if (items.length === 0) return '';
  const shown = ctx.noTruncate ? items : items.slice(0, TRUNCATE_AT);
  const lines = [`${header}:`, ...shown.map((i) => `  ${i}`)];
  if (!ctx.noTruncate && items.length > TRUNCATE_AT) lines.push(`  ...and ${items.length - TRUNCATE_AT} more`);
  return lines.join('\n') + '\n';
}

const quote = (p: string) => JSON.stringify(p);

async function walk(root: Root, dir: string, visit: (path: string, st: import('node:fs').Stats) => void | Promise<void>): Promise<void> {
  for (const name of await root.listDir(dir)) {
    const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
    const st = await root.tryLstat(p);
    if (st === undefined) continue;
    await visit(p, st);
    if (st.isDirectory()) await walk(root, p, visit);
  }
}

/** Kernel dirs `/usr/lib/modules/<kver>` that hold a vmlinuz, and UKIs in /boot/EFI/Linux. */
export async function findKernels(root: Root): Promise<{ modules: string[]; ukis: string[] }> {
  const modules: string[] = [];
  for (const kver of await root.listDir('/usr/lib/modules')) {
    if ((await root.tryLstat(`/usr/lib/modules/${kver}/vmlinuz`))?.isFile()) modules.push(kver);
  }
  const ukis = (await root.listDir('/boot/EFI/Linux')).filter((n) => n.endsWith('.efi'));
  return { modules, ukis };
}

export const LINTS: readonly LintDef[] = [
  {
    name: 'api-base-directories',
    kind: 'fatal',
    description: 'Verify that expected base API directories exist (/dev, /proc, /sys, /run, /tmp and /var).',
    check: async (root) => {
      for (const d of ['dev', 'proc', 'sys', 'run', 'tmp', 'var']) {
        const st = await root.tryLstat(`/${d}`);
        if (st === undefined) return `Missing API filesystem base directory: /${d}`;
        if (!st.isDirectory()) return `Expected directory for API filesystem base directory: /${d}`;
      }
      return undefined;
    },
  },
  {
    name: 'bootc-kargs',
    kind: 'fatal',
    description: 'Verify syntax of /usr/lib/bootc/kargs.d.',
    check: async (root, ctx) => {
      try {
        await readKargsD(root, ctx.arch);
        return undefined;
      } catch (err) {
        let cur: unknown = err;
        while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
        return cur instanceof Error ? cur.message : String(cur);
      }
    },
  },
  {
    name: 'buildah-injected',
    kind: 'warning',
    rootType: 'alternative',
    description: 'Check for an invalid /etc/hostname or /etc/resolv.conf that may have been injected by a container build system.',
    check: async (root) => {
      for (const f of ['etc/hostname', 'etc/resolv.conf']) {
        const st = await root.tryLstat(`/${f}`);
        if (st?.isFile() && st.size === 0) return `/${f} is an empty file; this may have been synthesized by a container runtime.`;
      }
      return undefined;
    },
  },
  {
    name: 'etc-usretc',
    kind: 'fatal',
    description: 'Verify that only one of /etc or /usr/etc exist.',
    check: async (root) =>
      (await root.tryLstat('/etc')) !== undefined && (await root.tryLstat('/usr/etc')) !== undefined
        ? 'Found /usr/etc - this is a bootc implementation detail and not supported to use in containers'
        : undefined,
  },
  {
    name: 'kernel',
    kind: 'fatal',
    description: 'Check for exactly one kernel: one /usr/lib/modules/$kver with a vmlinuz, or one UKI in /boot/EFI/Linux.',
    check: async (root) => {
      const { modules, ukis } = await findKernels(root);
      if (modules.length + ukis.length === 0) return 'No kernel found: looked for /usr/lib/modules/*/vmlinuz and /boot/EFI/Linux/*.efi';
      if (modules.length > 1) return `Multiple kernels found in /usr/lib/modules: ${modules.join(', ')}`;
      if (ukis.length > 1) return `Multiple UKIs found in /boot/EFI/Linux: ${ukis.join(', ')}`;
      return undefined;
    },
  },
  {
    name: 'nonempty-boot',
    kind: 'warning',
    description: 'The /boot directory should be present, but empty; kernels belong in /usr/lib/modules.',
    check: async (root, ctx) => {
      if ((await root.tryLstat('/boot')) === undefined) return 'Missing /boot directory';
      const entries = (await root.listDir('/boot')).filter((n) => n !== 'EFI');
      return formatItems(ctx, 'Found non-empty /boot', entries.map(quote)).trimEnd() || undefined;
    },
  },
  {
    name: 'nonempty-run-tmp',
    kind: 'warning',
    description: 'The /run and /tmp directories should be empty in container images.',
    check: async (root, ctx) => {
      const found: string[] = [];
      for (const d of ['/run', '/tmp']) await walk(root, d, (p) => void found.push(p));
      return formatItems(ctx, 'Found content in runtime-only directories (/run, /tmp)', found.sort().map(quote)).trimEnd() || undefined;
    },
  },
  {
    name: 'os-release',
    kind: 'fatal',
    description: 'Check that /usr/lib/os-release (or /etc/os-release) exists; boot entries are named after its ID.',
    check: async (root) => ((await root.exists('/usr/lib/os-release')) || (await root.exists('/etc/os-release')) ? undefined : 'Missing /usr/lib/os-release'),
  },
  {
    name: 'utf8',
    kind: 'fatal',
    description: 'Check for non-UTF8 filenames and symlink targets.',
    check: async (root) => {
      let bad: string | undefined;
      await walk(root, '/', async (p, st) => {
        if (bad !== undefined) return;
        if (p.includes('\uFFFD')) bad = `${quote(p.slice(0, p.lastIndexOf('/')) || '/')}: Found non-utf8 filename`;
        else if (st.isSymbolicLink() && (await root.readlink(p)).includes('\uFFFD')) bad = `${quote(p)}: Found non-utf8 symlink target`;
      });
      return bad;
    },
  },
  {
    name: 'var-content',
    kind: 'warning',
    rootType: 'alternative',
    description: 'Check for files in /var: /var content is copied only at install time, never on upgrade.',
    check: async (root, ctx) => {
      const found: string[] = [];
      await walk(root, '/var', (p, st) => {
        if (!st.isDirectory() && !st.isSymbolicLink() && !p.startsWith('/var/log/')) found.push(p);
      });
      return formatItems(ctx, 'Found files in /var that upgrades will not update', found.sort().map(quote)).trimEnd() || undefined;
    },
  },
  {
    name: 'var-log',
    kind: 'warning',
    description: 'Check for non-empty regular files in /var/log.',
    check: async (root, ctx) => {
      const found: string[] = [];
      await walk(root, '/var/log', (p, st) => {
        if (st.isFile() && st.size > 0) found.push(p);
      });
      return formatItems(ctx, 'Found non-empty logfiles', found.sort().map(quote)).trimEnd() || undefined;
    },
  },
  {
    name: 'var-run',
    kind: 'fatal',
    description: 'Check for /var/run being a physical directory; this is always a bug.',
    check: async (root) => {
      const st = await root.tryLstat('/var/run');
      return st !== undefined && !st.isSymbolicLink() ? 'Not a symlink: var/run' : undefined;
    },
  },
];

export interface LintReport {
  output: string;
  passed: number;
  skipped: number;
  warnings: number;
  fatal: number;
}

/** Runs the lints and renders bootc's report lines. */
export async function runLints(root: Root, o: { rootType: RootType; skip: readonly string[]; arch: string; noTruncate: boolean }): Promise<LintReport> {
  const ctx: LintContext = { arch: o.arch, noTruncate: o.noTruncate };
  const applicable = LINTS.filter((l) => !o.skip.includes(l.name) && (l.rootType === undefined || l.rootType === o.rootType));
  const r: LintReport = { output: '', passed: 0, skipped: LINTS.length - applicable.length, warnings: 0, fatal: 0 };
  for (const lint of [...applicable].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    let msg: string | undefined;
    try {
      msg = await lint.check(root, ctx);
    } catch (err) {
      throw new TsbootcError(`Unexpected runtime error running lint ${lint.name}`, { cause: err });
    }
    if (msg === undefined) r.passed++;
    else if (lint.kind === 'fatal') {
      r.output += `Failed lint: ${lint.name}: ${msg}\n`;
      r.fatal++;
    } else {
      r.output += `Lint warning: ${lint.name}: ${msg}\n`;
      r.warnings++;
    }
  }
  r.output += `Checks passed: ${r.passed}\n`;
  if (r.skipped > 0) r.output += `Checks skipped: ${r.skipped}\n`;
  if (r.warnings > 0) r.output += `Warnings: ${r.warnings}\n`;
  return r;
}

/** `--list`: the lints as YAML, as bootc prints them. */
export function listLints(): Array<{ name: string; type: LintKind; description: string; 'root-type'?: string }> {
  return LINTS.map((l) => ({ name: l.name, type: l.kind, description: l.description, ...(l.rootType ? { 'root-type': l.rootType === 'running' ? 'Running' : 'Alternative' } : {}) }));
}
