/**
 * Owns stdout: results are written only through an Output, and rendered
 * (human / YAML / canonical JSON) here. Diagnostics go to stderr via the logger.
 */
import { stringify as yamlStringify } from 'yaml';
import { canonicalJson } from '../util/canonical-json.js';
import * as nodeStream from 'node:stream';

export interface Output {
  write(data: string | Uint8Array): void;
  /** Writes a diagnostic line to stderr (warnings the user must see). */
  warn(line: string): void;
  readonly isTTY: boolean;
  /** A writable byte stream for large results (images to stdout). */
  readonly stream: NodeJS.WritableStream;
}

export type Format = 'humanreadable' | 'yaml' | 'json';

export function renderJson(value: unknown): string {
  return canonicalJson(value) + '\n';
}

export function renderYaml(value: unknown): string {
  return yamlStringify(value, { lineWidth: 0 });
}

export function processOutput(proc: NodeJS.Process): Output {
  // A reader that goes away (`tsbootc … | head`) must not crash the verb half-way
  // with an unhandled EPIPE: the rest of the output is dropped and the verb finishes.
  let readerGone = false;
  // In-process callers (the fuzz tests) pass a process whose stdout is a bare writer.
  if (typeof (proc.stdout as Partial<NodeJS.WriteStream>).on === 'function') proc.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      readerGone = true;
      return;
    }
    proc.stderr.write(`error: writing to stdout: ${err.message}\n`);
    proc.exitCode = 1;
  });
  return {
    write: (d) => {
      if (!readerGone) proc.stdout.write(d);
    },
    warn: (line) => {
      proc.stderr.write(line.endsWith('\n') ? line : line + '\n');
    },
    isTTY: proc.stdout.isTTY === true,
    stream: proc.stdout,
  };
}

/** An Output that keeps everything in memory (tests). */
export function memoryOutput(isTTY = false): Output & { text(): string; bytes(): Buffer; warnings: string[] } {
  const chunks: Buffer[] = [];
  const warnings: string[] = [];
  const { PassThrough } = nodeStream;
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => chunks.push(c));
  return {
    write: (d) => {
      chunks.push(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d));
    },
    warn: (l) => warnings.push(l),
    isTTY,
    stream,
    text: () => Buffer.concat(chunks).toString('utf8'),
    bytes: () => Buffer.concat(chunks),
    warnings,
  };
}

