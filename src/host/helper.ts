/**
 * A helper thread for a run on a large process table. With thousands of processes the
 * /proc/<pid> files are most of a `check` run, and nearly all of it is the kernel building them;
 * the live commands (dmesg, systemctl ...) are the next part, spent waiting on other processes.
 * The helper thread (helper-worker.ts) starts the commands a run will ask for, all at once, and
 * reads part of the table, while the main thread reads the rest: the commands' processes and the
 * two threads use both cores of a small machine instead of one after the other on one.
 *
 * The pids are cut into chunks; the main thread and the helper claim chunks from one shared
 * counter (whoever is free takes the next), and the main thread takes the results in chunk
 * order, so the table, and the notes the reads leave (cut or refused files), come out as one
 * thread reading the pids in order would have left them.
 *
 * Both threads read through a Host on the same root with `readChunk`: a copied tree, a
 * sosreport and the live /proc are read by the same code, with the Host's guarantees (regular
 * files only, O_NONBLOCK, capped, never a link out of the root). The helper is started only for
 * a table of at least `SCAN_WORKER_FROM` processes (a sosreport holds at most 2048) and is
 * terminated when the table is read, when the run ends, and on any error; it is unref'd, so it
 * never keeps the process alive. Without it (it failed to start, or stopped answering) the main
 * thread reads every chunk itself, and runs a command itself that the helper did not answer.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { Host } from './host.js';

/** Fewest processes for which the helper thread is started: below, starting it costs more than it saves. */
export const SCAN_WORKER_FROM = 4096;
/** Pids per chunk: small enough that the two threads finish together, large enough that messages stay few. */
const CHUNK = 128;
/** How long the main thread waits for the helper's next chunk before reading the rest itself. */
const STALL_MS = 2000;

/**
 * Files of each pid, as chains: a chain's next file is read only when the one before cannot be
 * (['oom_score_adj', 'oom_adj']: the legacy file only on kernels without the new one).
 */
export type FileChains = readonly (readonly string[])[];

/** One pass over some pids: what both threads know of it. */
export interface ScanJob {
  id: number;
  pids: string[];
  chains: FileChains;
  chunk: number;
  /** [0]: the next chunk index to claim (shared by both threads). */
  next: Int32Array;
}

/** A live command for the helper to run (Sources decides which and how). */
export interface CommandRequest {
  key: string;
  argv: string[];
  timeoutMs: number;
  maxBuffer: number;
  env: NodeJS.ProcessEnv;
}

/** How a command ended, as execFileSync would tell it (errorCode: ENOENT, ETIMEDOUT, ENOBUFS ..., null when it ran to its exit). */
export interface CommandOutcome {
  stdout: string;
  status: number | null;
  errorCode: string | null;
}

/** What one chunk read: per pid, [file, text, file, text, ...] (text null: unreadable), and the notes the reads left. */
export interface ChunkResult {
  texts: (string | null)[][];
  cuts: string[];
  refused: string[];
}

/** Read chunk `index` of a job through `host`; the notes it left are taken out of the Host and returned with it. */
export function readChunk(host: Host, job: Omit<ScanJob, 'id' | 'next'>, index: number): ChunkResult {
  const mark = host.noteMark();
  const texts: (string | null)[][] = [];
  for (const pid of job.pids.slice(index * job.chunk, (index + 1) * job.chunk)) {
    const row: (string | null)[] = [];
    for (const chain of job.chains) {
      for (const file of chain) {
        const text = host.readSmallValue(`/proc/${pid}/${file}`);
        row.push(file, text);
        if (text !== null) break;
      }
    }
    texts.push(row);
  }
  return { texts, ...host.takeNotesSince(mark) };
}

/** The helper thread of one Host, while a run needs it. */
export class HostHelper {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly arrived = new Map<string, ChunkResult>();
  private readonly commands = new Map<string, { request: CommandRequest; outcome: CommandOutcome | null }>();
  private jobs = 0;
  private closed = false;
  /** Chunks the helper thread read (of every pass): for tests and the benchmark. */
  helperChunks = 0;

  private constructor(host: Host) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./helper-worker.js', import.meta.url), {
      workerData: { root: host.root, kind: host.kind, maxReadBytes: host.readLimit, port: port2, signal: this.signal },
      transferList: [port2],
      // Its own stdout and stderr would be flushed through this thread's event loop: it has nothing to say.
      stdout: true,
      stderr: true,
    });
    this.worker.unref();
    // A helper that fails (cannot load, runs out of memory) only means the main thread reads alone.
    this.worker.on('error', () => this.close());
  }

  /** A helper for this Host, or null when none can be started. */
  static start(host: Host): HostHelper | null {
    try {
      return new HostHelper(host);
    } catch {
      return null;
    }
  }

  /** Start a pass; the helper begins claiming chunks as soon as it is up. */
  begin(pids: string[], chains: FileChains): ScanJob {
    const job: ScanJob = { id: ++this.jobs, pids, chains, chunk: CHUNK, next: new Int32Array(new SharedArrayBuffer(4)) };
    if (!this.closed) this.port.postMessage({ job });
    return job;
  }

  /** Start these commands on the helper thread, all at once. */
  startCommands(requests: CommandRequest[]): void {
    if (this.closed || !requests.length) return;
    for (const r of requests) this.commands.set(r.key, { request: r, outcome: null });
    this.port.postMessage({ commands: requests });
  }

  /**
   * How a started command ended, waiting for it (at most its timeout and a margin); null when it
   * was not started here or the helper did not answer (the caller then runs it itself).
   */
  command(key: string): CommandOutcome | null {
    const c = this.commands.get(key);
    if (!c) return null;
    const until = Date.now() + c.request.timeoutMs + STALL_MS;
    while (c.outcome === null && !this.closed && Date.now() < until) {
      const seen = Atomics.load(this.signal, 0);
      this.drain(0);
      if (c.outcome !== null) break;
      Atomics.wait(this.signal, 0, seen, Math.min(50, Math.max(1, until - Date.now())));
    }
    return c.outcome;
  }

  /**
   * Finish a pass on this thread: claim and read chunks until none are left, then wait for the
   * helper's. Results in chunk order; a chunk the helper does not deliver in time is read here.
   */
  finish(host: Host, job: ScanJob): ChunkResult[] {
    const count = Math.ceil(job.pids.length / job.chunk);
    const results: (ChunkResult | undefined)[] = new Array(count);
    for (let i = Atomics.add(job.next, 0, 1); i < count; i = Atomics.add(job.next, 0, 1)) results[i] = readChunk(host, job, i);
    let waitedSince = Date.now();
    for (let i = 0; i < count; i++) {
      while (results[i] === undefined) {
        const seen = Atomics.load(this.signal, 0);
        if (this.drain(job.id)) waitedSince = Date.now();
        const got = this.arrived.get(`${job.id}/${i}`);
        if (got) {
          results[i] = got;
          this.helperChunks++;
          this.arrived.delete(`${job.id}/${i}`);
          break;
        }
        const left = STALL_MS - (Date.now() - waitedSince);
        if (this.closed || left <= 0) {
          this.close();
          results[i] = readChunk(host, job, i);
          break;
        }
        Atomics.wait(this.signal, 0, seen, Math.min(left, 50));
      }
    }
    return results as ChunkResult[];
  }

  /** Take the messages that arrived (chunks of job `jobId`, command outcomes); true when any did. */
  private drain(jobId: number): boolean {
    let any = false;
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      any = true;
      const msg = m.message as (ChunkResult & { job: number; index: number }) | { command: string; outcome: CommandOutcome };
      if ('command' in msg) {
        const c = this.commands.get(msg.command);
        if (c) c.outcome = msg.outcome;
      } else if (msg.job === jobId) this.arrived.set(`${msg.job}/${msg.index}`, { texts: msg.texts, cuts: msg.cuts, refused: msg.refused });
    }
    return any;
  }

  /**
   * Stop the helper thread (idempotent). Commands it still runs are waited for first (at most their
   * timeout), so none is left running without its timeout, and their outcomes are kept.
   */
  close(): void {
    if (this.closed) return;
    // Outcomes stay readable (command()) after the thread is gone.
    for (const key of this.commands.keys()) this.command(key);
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }
}
