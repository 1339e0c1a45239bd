/**
 * The helper thread of a run (helper.ts). It runs the live commands it is given, all at once
 * (spawn, never a shell; output collected up to a cap, killed at the timeout), and reads its
 * share of the /proc/<pid> files through its own Host on the same root (the same guarantees and
 * caps as the main thread's), claiming chunks from the counter it shares with the main thread.
 * Between chunks it yields, so the commands' output and exits are taken as they come.
 */
import { spawn } from 'node:child_process';
import { workerData, type MessagePort } from 'node:worker_threads';
import { Host } from './host.js';
import { type CommandOutcome, type CommandRequest, readChunk, type ScanJob } from './helper.js';

interface HelperWorkerData {
  root: string;
  kind: Host['kind'];
  maxReadBytes: number | undefined;
  port: MessagePort;
  /** [0]: bumped after every message posted (the main thread waits on it). */
  signal: Int32Array;
}

const data = workerData as HelperWorkerData;
const host = new Host({ root: data.root, kind: data.kind, maxReadBytes: data.maxReadBytes });

function post(message: unknown): void {
  data.port.postMessage(message);
  Atomics.add(data.signal, 0, 1);
  Atomics.notify(data.signal, 0);
}

function run(c: CommandRequest): void {
  const out: Buffer[] = [];
  let size = 0;
  let overflow = false;
  let timedOut = false;
  let errorCode: string | null = null;
  const child = spawn(c.argv[0]!, c.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: c.env });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
  }, c.timeoutMs);
  child.stdout.on('data', (b: Buffer) => {
    size += b.length;
    if (size > c.maxBuffer) {
      overflow = true;
      child.kill('SIGTERM');
    } else out.push(b);
  });
  child.stderr.resume();
  child.on('error', (e: NodeJS.ErrnoException) => {
    errorCode = e.code ?? 'EIO';
  });
  child.on('close', (status: number | null) => {
    clearTimeout(timer);
    const outcome: CommandOutcome = { stdout: Buffer.concat(out).toString('utf8'), status: overflow || timedOut ? null : status, errorCode: timedOut ? 'ETIMEDOUT' : overflow ? 'ENOBUFS' : errorCode };
    post({ command: c.key, outcome });
  });
}

data.port.on('message', (m: { commands: CommandRequest[] } | { job: ScanJob }) => {
  if ('commands' in m) {
    for (const c of m.commands) run(c);
    return;
  }
  const job = m.job;
  const step = (): void => {
    const index = Atomics.add(job.next, 0, 1);
    if (index * job.chunk >= job.pids.length) return;
    post({ job: job.id, index, ...readChunk(host, job, index) });
    setImmediate(step);
  };
  step();
});
