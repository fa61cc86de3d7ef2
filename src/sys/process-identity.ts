/**
 * Owns naming this process so that another one can tell later whether it is
 * still running: the pid plus the start time from /proc/<pid>/stat (field 22,
 * clock ticks since boot), so a reused pid does not look alive. Used to find
 * the scratch state of a killed install (install/scratch.ts).
 */
import type { Root } from './root.js';

export interface ProcessIdentity {
  pid: number;
  /** /proc/<pid>/stat starttime; undefined when /proc is not readable. */
  startTime: string | undefined;
}

/** Field 22 of /proc/<pid>/stat (the comm field may contain spaces and parentheses). */
export function parseStatStartTime(stat: string): string | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19];
}

export async function selfIdentity(root: Root): Promise<ProcessIdentity> {
  const stat = await root.tryReadText(`/proc/${process.pid}/stat`);
  return { pid: process.pid, startTime: stat === undefined ? undefined : parseStatStartTime(stat) };
}

export function formatIdentity(id: ProcessIdentity): string {
  return `${id.pid} ${id.startTime ?? '-'}\n`;
}

export function parseIdentity(text: string): ProcessIdentity | undefined {
  const m = /^(\d+) (\d+|-)\n?$/.exec(text);
  if (m === null) return undefined;
  return { pid: Number(m[1]), startTime: m[2] === '-' ? undefined : m[2] };
}

/** True while the process named by `id` runs (same pid and, when known, same start time). */
export async function isAlive(root: Root, id: ProcessIdentity): Promise<boolean> {
  const stat = await root.tryReadText(`/proc/${id.pid}/stat`);
  if (stat === undefined) return false;
  return id.startTime === undefined || parseStatStartTime(stat) === id.startTime;
}
