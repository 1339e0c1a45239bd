/**
 * The helper thread of the process-table scan (scan.ts): reads its share of /proc/<pid> files
 * through its own Host on the same root (the same guarantees and caps as the main thread's),
 * claiming chunks from the counter it shares with the main thread, and posts each chunk's texts
 * and notes. Between chunks it yields, so a terminate() from the main thread is seen at once.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { Host } from './host.js';
import { readChunk, type ScanJob } from './scan.js';

interface ScanWorkerData {
  root: string;
  kind: Host['kind'];
  maxReadBytes: number | undefined;
  port: MessagePort;
  /** [0]: bumped after every message posted (the main thread waits on it). */
  signal: Int32Array;
}

const data = workerData as ScanWorkerData;
const host = new Host({ root: data.root, kind: data.kind, maxReadBytes: data.maxReadBytes });

function post(message: unknown): void {
  data.port.postMessage(message);
  Atomics.add(data.signal, 0, 1);
  Atomics.notify(data.signal, 0);
}

data.port.on('message', (job: ScanJob) => {
  const step = (): void => {
    const index = Atomics.add(job.next, 0, 1);
    if (index * job.chunk >= job.pids.length) return;
    post({ job: job.id, index, ...readChunk(host, job, index) });
    setImmediate(step);
  };
  step();
});
