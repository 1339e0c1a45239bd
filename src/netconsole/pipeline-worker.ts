/**
 * Worker-thread entry: runs the Pipeline (decode, format, write).
 * Datagrams come either in batches from the main thread (Node dgram receive path) or straight
 * from the native receive thread (recvmmsg, native/netconsole-recv), which this thread starts.
 * Messages in: batch, native-start, counters, reopen, stdout-closed, stop. Messages out: counters, stopped,
 * log, ack, native-started, native-failed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Pipeline } from './pipeline.js';
import type { ReceiverConfig } from './config.js';
import type { SenderIntro } from './batch.js';
import { loadNative, type NativeRecv } from './native.js';

type In =
  | { type: 'batch'; buf: Uint8Array; intros: SenderIntro[]; resetSenders: boolean }
  | { type: 'native-start'; fds: number[]; maxQueuedBytes: number }
  | { type: 'counters'; reqId: number }
  | { type: 'reopen' }
  | { type: 'stdout-closed' }
  | { type: 'stop' };

type Queued = Extract<In, { type: 'batch' }> | { type: 'native'; ab: ArrayBuffer; length: number; count: number; bytes: number };

const port = parentPort!;
const cfg = workerData.cfg as ReceiverConfig;
// Receive times come stamped from the receiving side; this clock is for timeouts and markers.
let offsetUs = Date.now() * 1000 - Math.round(performance.now() * 1000);
setInterval(() => (offsetUs = Date.now() * 1000 - Math.round(performance.now() * 1000)), 1000).unref();
const pipeline = new Pipeline(
  cfg,
  () => offsetUs + Math.round(performance.now() * 1000),
  (text) => port.postMessage({ type: 'log', text }),
);

let native: { mod: NativeRecv; handle: object; ended: Promise<void> } | null = null;

// Batches are queued and decoded a few milliseconds' worth per event-loop turn, so file writes
// (their callbacks and timers) keep making progress while a burst floods in.
const queue: Queued[] = [];
let draining = false;
const TURN_MS = 4;
function ingestOne(m: Queued): void {
  if (m.type === 'native') {
    pipeline.ingestNative(Buffer.from(m.ab, 0, m.length), m.count);
    // The receive thread reads on while less than maxQueuedBytes wait for this thread; the
    // buffer goes back for reuse (the pipeline keeps no view of a batch once ingested).
    native?.mod.ack(native.handle, m.bytes, m.ab);
  } else {
    pipeline.ingest(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength), m.intros, m.resetSenders);
    // Tell the receiving thread this much is off its books (it pauses reading when too much is in flight).
    port.postMessage({ type: 'ack', bytes: m.buf.byteLength });
  }
}
function drainQueue(): void {
  const until = performance.now() + TURN_MS;
  do {
    const m = queue.shift();
    if (!m) break;
    ingestOne(m);
  } while (queue.length && performance.now() < until);
  if (queue.length) setImmediate(drainQueue);
  else draining = false;
}
function enqueue(m: Queued): void {
  queue.push(m);
  if (!draining) {
    draining = true;
    setImmediate(drainQueue);
  }
}

function startNative(fds: number[], maxQueuedBytes: number): void {
  const l = loadNative();
  if ('error' in l) {
    port.postMessage({ type: 'native-failed', error: l.error });
    return;
  }
  let ended!: () => void;
  const endedP = new Promise<void>((r) => (ended = r));
  try {
    const handle = l.mod.start(fds, { maxQueuedBytes, preformat: pipeline.nativePreformat, localTime: cfg.utc ? 0 : 1 }, (ab, count, bytes, length) => {
      if (ab === null) {
        // The receive thread has stopped: nothing more comes from these sockets.
        for (const fd of fds) l.mod.closeFd(fd);
        ended();
        return;
      }
      enqueue({ type: 'native', ab, length, count, bytes });
    });
    native = { mod: l.mod, handle, ended: endedP };
    port.postMessage({ type: 'native-started' });
  } catch (e) {
    port.postMessage({ type: 'native-failed', error: (e as Error).message });
  }
}

port.on('message', (m: In) => {
  switch (m.type) {
    case 'batch':
      enqueue(m);
      break;
    case 'native-start':
      startNative(m.fds, m.maxQueuedBytes);
      break;
    case 'counters':
      if (native) {
        const st = native.mod.stats(native.handle);
        pipeline.readWaits = st.waits;
        pipeline.lostBatches = st.lostBatches;
      }
      port.postMessage({ type: 'counters', reqId: m.reqId, counters: pipeline.counters(), troubles: pipeline.writer.troubles() });
      break;
    case 'reopen':
      pipeline.reopen();
      break;
    case 'stdout-closed':
      pipeline.stdoutGone();
      break;
    case 'stop':
      void (async () => {
        if (native) {
          native.mod.stop(native.handle);
          await native.ended;
          const st = native.mod.stats(native.handle);
          pipeline.readWaits = st.waits;
          pipeline.lostBatches = st.lostBatches;
        }
        while (queue.length) ingestOne(queue.shift()!);
        const r = await pipeline.stop();
        port.postMessage({ type: 'stopped', unwritten: r.unwritten, counters: pipeline.counters() });
        port.close();
      })();
      break;
  }
});
