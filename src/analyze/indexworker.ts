/** A worker thread of indexpool.ts: blocks in, their prefilter index out (blockindex.ts). */
import { parentPort } from 'node:worker_threads';
import { indexBlock } from './blockindex.js';

parentPort!.on('message', (m: { id: number; bytes: ArrayBuffer; length: number }) => {
  const idx = indexBlock(Buffer.from(m.bytes, 0, m.length));
  // The bytes go back too, to carry the next block.
  parentPort!.postMessage({ id: m.id, bytes: m.bytes, newlines: idx.newlines, hits: idx.hits, hitLines: idx.hitLines }, [m.bytes, idx.hits.buffer as ArrayBuffer, idx.hitLines.buffer as ArrayBuffer]);
});
