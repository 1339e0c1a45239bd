/**
 * Worker-thread entry: runs the Pipeline (decode, format, write) for the receiving thread.
 * Messages in: batch, counters, reopen, stop. Messages out: counters, stopped, log.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Pipeline } from './pipeline.js';
import type { ReceiverConfig } from './config.js';
import type { SenderIntro } from './batch.js';

type In =
  | { type: 'batch'; buf: Uint8Array; intros: SenderIntro[]; resetSenders: boolean }
  | { type: 'counters'; reqId: number }
  | { type: 'reopen' }
  | { type: 'stop' };

const port = parentPort!;
const cfg = workerData.cfg as ReceiverConfig;
// Receive times come stamped from the receiving thread; this clock is for timeouts and markers.
let offsetUs = Date.now() * 1000 - Math.round(performance.now() * 1000);
setInterval(() => (offsetUs = Date.now() * 1000 - Math.round(performance.now() * 1000)), 1000).unref();
const pipeline = new Pipeline(
  cfg,
  () => offsetUs + Math.round(performance.now() * 1000),
  (text) => port.postMessage({ type: 'log', text }),
);

// Batches are queued and decoded one per event-loop turn, so file writes (their callbacks
// and timers) keep making progress while a burst floods in.
const queue: Array<Extract<In, { type: 'batch' }>> = [];
let draining = false;
function drainQueue(): void {
  const m = queue.shift();
  if (!m) {
    draining = false;
    return;
  }
  pipeline.ingest(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength), m.intros, m.resetSenders);
  // Tell the receiving thread this much is off its books (it pauses reading when too much is in flight).
  port.postMessage({ type: 'ack', bytes: m.buf.byteLength });
  if (queue.length) setImmediate(drainQueue);
  else draining = false;
}

port.on('message', (m: In) => {
  switch (m.type) {
    case 'batch':
      queue.push(m);
      if (!draining) {
        draining = true;
        setImmediate(drainQueue);
      }
      break;
    case 'counters':
      port.postMessage({ type: 'counters', reqId: m.reqId, counters: pipeline.counters(), troubles: pipeline.writer.troubles() });
      break;
    case 'reopen':
      pipeline.reopen();
      break;
    case 'stop':
      while (queue.length) drainQueue();
      void pipeline.stop().then((r) => {
        port.postMessage({ type: 'stopped', unwritten: r.unwritten, counters: pipeline.counters() });
        port.close();
      });
      break;
  }
});
