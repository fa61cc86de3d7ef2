/**
 * Owns pull progress: the `--progress-fd` JSON-lines events (progress-v0
 * schema, bootc's `org.containers.bootc.progress/v1` protocol), the human
 * per-layer lines redrawn on a TTY, and the one-line summary otherwise.
 * Pure builders plus a reporter that writes through functions the CLI
 * supplies; nothing here touches a stream itself.
 */
import { formatSize } from './manifest-diff.js';

export const PROGRESS_API_VERSION = 'org.containers.bootc.progress/v1';

export interface LayerState {
  digest: string;
  size: number;
  /** Bytes on disk so far (0…size). */
  bytes: number;
}

export interface PullState {
  /** The image as the user named it (`quay.io/x:y`, `oci:/srv/layout:v2`). */
  image: string;
  manifestDigest: string;
  layers: LayerState[];
}

export interface StartEvent {
  type: 'Start';
  version: string;
}
export interface SubTaskBytes {
  subtask: string;
  description: string;
  id: string;
  bytesCached: number;
  bytes: number;
  bytesTotal: number;
}
export interface ProgressBytesEvent {
  type: 'ProgressBytes';
  task: string;
  description: string;
  id: string;
  bytesCached: number;
  bytes: number;
  bytesTotal: number;
  stepsCached: number;
  steps: number;
  stepsTotal: number;
  subtasks: SubTaskBytes[];
}
export interface SubTaskStep {
  subtask: string;
  description: string;
  id: string;
  completed: boolean;
}
export interface ProgressStepsEvent {
  type: 'ProgressSteps';
  task: string;
  description: string;
  id: string;
  stepsCached: number;
  steps: number;
  stepsTotal: number;
  subtasks: SubTaskStep[];
}
export type ProgressEvent = StartEvent | ProgressBytesEvent | ProgressStepsEvent;

export function startEvent(): StartEvent {
  return { type: 'Start', version: PROGRESS_API_VERSION };
}

const done = (l: LayerState) => l.bytes >= l.size;

/** The `pulling` event: whole-image bytes and layer steps, with the layers still in flight as subtasks. */
export function pullingEvent(s: PullState): ProgressBytesEvent {
  return {
    type: 'ProgressBytes',
    task: 'pulling',
    description: `Pulling Image: ${s.manifestDigest}`,
    id: s.image,
    bytesCached: 0,
    bytes: s.layers.reduce((n, l) => n + Math.min(l.bytes, l.size), 0),
    bytesTotal: s.layers.reduce((n, l) => n + l.size, 0),
    stepsCached: 0,
    steps: s.layers.filter(done).length,
    stepsTotal: s.layers.length,
    subtasks: s.layers.map((l) => ({ subtask: 'layer', description: 'Layer', id: l.digest, bytesCached: 0, bytes: Math.min(l.bytes, l.size), bytesTotal: l.size })),
  };
}

/** A discrete-steps event (for stages after the pull: importing, staging). */
export function stepsEvent(task: string, description: string, id: string, steps: ReadonlyArray<{ id: string; description: string; completed: boolean }>): ProgressStepsEvent {
  return {
    type: 'ProgressSteps',
    task,
    description,
    id,
    stepsCached: 0,
    steps: steps.filter((s) => s.completed).length,
    stepsTotal: steps.length,
    subtasks: steps.map((s) => ({ subtask: task, description: s.description, id: s.id, completed: s.completed })),
  };
}

/** One JSON line (no newline inside, by JSON.stringify's construction). */
export function formatProgressLine(e: ProgressEvent): string {
  return JSON.stringify(e) + '\n';
}

function shortDigest(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

/** The per-layer lines shown on a TTY, one per layer. */
export function formatLayerLines(s: PullState): string[] {
  return s.layers.map((l) => {
    const state = done(l) ? 'done' : l.bytes > 0 ? `${formatSize(Math.min(l.bytes, l.size))} / ${formatSize(l.size)}` : `waiting (${formatSize(l.size)})`;
    return `layer ${shortDigest(l.digest)}: ${state}`;
  });
}

/** The one-line summary printed when stderr is not a TTY. */
export function formatPullSummary(s: PullState, elapsedMs: number): string {
  const total = s.layers.reduce((n, l) => n + l.size, 0);
  const n = s.layers.length;
  return `Fetched ${s.image} (${s.manifestDigest}): ${n} ${n === 1 ? 'layer' : 'layers'}, ${formatSize(total)} in ${(elapsedMs / 1000).toFixed(1)} s\n`;
}

/** Where progress goes; the CLI builds this from `--quiet`, `--progress-fd` and isatty(stderr). */
export interface ProgressOutput {
  /** Human output on stderr. `tty` selects redrawn per-layer lines over a final summary. */
  human?: { write(text: string): void; tty: boolean } | undefined;
  /** `--progress-fd`: receives whole JSON lines. */
  json?: ((line: string) => void) | undefined;
}

export interface PullReporter {
  update(s: PullState): void;
  finish(s: PullState, elapsedMs: number): void;
}

/**
 * A reporter writing to `out`. JSON updates are limited to 5 per second (bootc's
 * REFRESH_HZ) except the first and the last; `quiet` drops the human output only.
 */
export function createPullReporter(out: ProgressOutput, opts: { quiet?: boolean | undefined; now: () => number }): PullReporter {
  const human = opts.quiet === true ? undefined : out.human;
  let lastJson = -Infinity;
  let drawn = 0;
  let started = false;
  const draw = (s: PullState) => {
    if (human === undefined || !human.tty) return;
    const lines = formatLayerLines(s);
    const up = drawn > 0 ? `\x1b[${drawn}F` : '';
    human.write(up + lines.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = lines.length;
  };
  const json = (s: PullState, force: boolean) => {
    if (out.json === undefined) return;
    if (!started) {
      out.json(formatProgressLine(startEvent()));
      started = true;
    }
    const t = opts.now();
    if (!force && t - lastJson < 200) return;
    lastJson = t;
    out.json(formatProgressLine(pullingEvent(s)));
  };
  return {
    update(s) {
      json(s, lastJson === -Infinity);
      draw(s);
    },
    finish(s, elapsedMs) {
      json(s, true);
      draw(s);
      if (human !== undefined && !human.tty) human.write(formatPullSummary(s, elapsedMs));
    },
  };
}
