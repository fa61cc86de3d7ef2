/**
 * Owns the worker-thread side of parallel fs-verity hashing: given a file
 * segment (block-aligned offset and length), it reads it with its own reused
 * buffer and returns the level-0 block hashes (see fsverity-file.ts).
 */
import { parentPort } from 'node:worker_threads';
import { openSync, readSync, closeSync } from 'node:fs';
import { digestSize, hashLeafBlocks, leafBlockCount, type VerityAlgorithm } from './fsverity.js';

export interface SegmentRequest {
  id: number;
  path: string | Buffer;
  alg: VerityAlgorithm;
  offset: number;
  length: number;
}
export type SegmentReply = { id: number; hashes: ArrayBuffer } | { id: number; error: string };

const READ_CHUNK = 4 << 20;
const buf = Buffer.allocUnsafe(READ_CHUNK);
const pad = Buffer.alloc(4096);

function hashSegment(req: SegmentRequest): ArrayBuffer {
  const ab = new ArrayBuffer(leafBlockCount(req.length) * digestSize(req.alg));
  const out = Buffer.from(ab);
  const fd = openSync(req.path, 'r');
  try {
    let done = 0;
    let o = 0;
    while (done < req.length) {
      const want = Math.min(READ_CHUNK, req.length - done);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, req.offset + done + got);
        if (n === 0) throw new Error(`file shrank while hashing (at ${req.offset + done + got})`);
        got += n;
      }
      o = hashLeafBlocks(req.alg, buf.subarray(0, got), out, o, pad);
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return ab;
}

parentPort?.on('message', (req: SegmentRequest) => {
  let reply: SegmentReply;
  try {
    const hashes = hashSegment(req);
    reply = { id: req.id, hashes };
    parentPort!.postMessage(reply, [hashes]);
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
    parentPort!.postMessage(reply);
  }
});
