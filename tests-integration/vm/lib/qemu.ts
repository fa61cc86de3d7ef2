/**
 * Owns running a qemu TCG guest for the VM tier: direct kernel boot or UEFI
 * firmware, virtio disks, the serial console in a log file, a hard timeout,
 * and the kill in finally so no qemu outlives its test.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const QEMU = 'qemu-system-x86_64';

export interface QemuOptions {
  /** Serial console log file. */
  serialLog: string;
  disks: string[];
  kernel?: string;
  initrd?: string;
  append?: string;
  /** OVMF code + a writable vars copy (UEFI boot). */
  ovmf?: { code: string; vars: string };
  memoryMiB?: number;
  timeoutMs: number;
}

export interface QemuResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  serial: string;
  stderr: string;
}

export function qemuArgv(opts: QemuOptions): string[] {
  const argv = [QEMU, '-accel', 'tcg', '-M', 'q35', '-m', String(opts.memoryMiB ?? 512), '-smp', '1', '-display', 'none', '-monitor', 'none',
    '-no-reboot', '-serial', `file:${opts.serialLog}`];
  if (opts.ovmf !== undefined) {
    argv.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${opts.ovmf.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${opts.ovmf.vars}`);
  }
  if (opts.kernel !== undefined) argv.push('-kernel', opts.kernel);
  if (opts.initrd !== undefined) argv.push('-initrd', opts.initrd);
  if (opts.append !== undefined) argv.push('-append', opts.append);
  for (const d of opts.disks) argv.push('-drive', `file=${d},format=raw,if=virtio`);
  return argv;
}

/** Boots the guest and waits for qemu to exit (the guest powers off; -no-reboot turns a panic into an exit). */
export async function runQemu(opts: QemuOptions): Promise<QemuResult> {
  const [file, ...args] = qemuArgv(opts);
  const started = Date.now();
  const child = spawn(file ?? QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  try {
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, sig) => resolve([code, sig]));
    });
    return {
      exitCode,
      signal,
      timedOut,
      durationMs: Date.now() - started,
      serial: existsSync(opts.serialLog) ? readFileSync(opts.serialLog, 'utf8') : '',
      stderr,
    };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** The serial lines starting with prefix, without trailing CR. */
export function markerLines(serial: string, prefix: string): string[] {
  return serial
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.startsWith(prefix));
}
