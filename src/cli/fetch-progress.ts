/**
 * Owns where `switch`/`upgrade` pull progress goes on the process edge:
 * human progress on stderr (per-layer lines when stderr is a TTY, a summary
 * otherwise) and `--progress-fd N` JSON lines written to that descriptor.
 * The events themselves are built in image/progress.ts.
 */
import { fstatSync, writeSync } from 'node:fs';
import type { ProgressOutput } from '../image/progress.js';
import { UsageError } from '../util/errors.js';

export interface ProgressFlags {
  quiet?: boolean | undefined;
  progressFd?: number | undefined;
}

/** Builds the ProgressOutput for the flags; `stderr` is the process's (a parameter for tests). */
export function fetchProgressOutput(flags: ProgressFlags, stderr: { write(s: string): unknown; isTTY?: boolean }): ProgressOutput {
  const out: ProgressOutput = {};
  if (flags.quiet !== true) out.human = { tty: stderr.isTTY === true, write: (s) => void stderr.write(s) };
  const fd = flags.progressFd;
  if (fd !== undefined) {
    if (!Number.isInteger(fd) || fd < 0) throw new UsageError(`--progress-fd: expected a file descriptor number, got ${fd}`);
    try {
      fstatSync(fd);
    } catch {
      throw new UsageError(`--progress-fd: file descriptor ${fd} is not open`);
    }
    // Synchronous writes: lines are small, and a reader on a pipe sees them in order.
    out.json = (line) => {
      const b = Buffer.from(line);
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
    };
  }
  return out;
}
