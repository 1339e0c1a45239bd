/**
 * The recorder: a private tracefs instance + the process model + the store, driven by a
 * timer. Each tick drains the per-CPU binary pipes (non-blocking), merges CPUs by timestamp,
 * holds back the last few milliseconds so a late commit on another CPU cannot reorder,
 * feeds the model, and writes the resulting records in one transaction.
 */
import { Host } from '../host/host.js';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { DecodedEvent } from './tracefs/decode.js';
import { isLiveRecorder, requireRoot, TraceInstance, type EventSpec } from './tracefs/instance.js';
import { CliError, EXIT } from '../common/exit.js';
import { ProcessModel, type ProcessRecord } from './process/model.js';
import { isAlive, liveClocks, ProgramNamer, scanProc, uidOf, type Clocks } from './process/procfs.js';
import { NON_FATAL_BY_DEFAULT } from './process/signals.js';
import { Store } from './store/store.js';
import { renderLine } from './render.js';

export interface RecorderOptions {
  storePath: string;
  name: string;
  /** Per-CPU ring buffer, KiB. */
  bufferKb: number;
  /** How often the pipes are drained, ms. */
  pollMs: number;
  /** Events newer than now − holdMs wait for the next tick (cross-CPU ordering). */
  holdMs: number;
  retentionDays: number;
  retentionMb: number;
  /** How often dead-without-exit processes are swept from memory, ms. */
  sweepMs: number;
  /** Text log of records (one line each); reopened on SIGHUP by the CLI. */
  logPath?: string;
  /** Also write each record's line here (e.g. stdout with --print). */
  onLine?: (line: string) => void;
  tracefs?: string;
  host?: Host;
}

export const DEFAULT_OPTIONS: Omit<RecorderOptions, 'storePath'> = {
  name: 'default',
  bufferKb: 4096,
  pollMs: 250,
  holdMs: 50,
  retentionDays: 90,
  retentionMb: 1024,
  sweepMs: 300_000,
};

/** Records kept in memory while the store cannot be written (then the oldest are dropped, counted). */
const MAX_UNWRITTEN = 200_000;

const NON_FATAL = NON_FATAL_BY_DEFAULT.map((s) => `sig != ${s}`).join(' && ');

export const CRED_EVENTS = ['sys_enter_setuid', 'sys_exit_setuid', 'sys_enter_setreuid', 'sys_exit_setreuid', 'sys_enter_setresuid', 'sys_exit_setresuid'];

/** The events we enable, with in-kernel filters that drop what can never end a process. */
export const RECORD_EVENTS: EventSpec[] = [
  { system: 'task', event: 'task_newtask', optional: true },
  { system: 'sched', event: 'sched_process_exec' },
  { system: 'sched', event: 'sched_process_exit' },
  { system: 'syscalls', event: 'sys_enter_exit_group' },
  { system: 'syscalls', event: 'sys_enter_exit', optional: true },
  { system: 'signal', event: 'signal_generate', filter: `result == 0 && ${NON_FATAL}` },
  { system: 'signal', event: 'signal_deliver', filter: `sa_handler == 0 && ${NON_FATAL}` },
  // Real-uid changes, so the uid of an exec is known from kernel data even when the process is
  // gone before it can be looked up (rare calls: they cost nothing).
  ...CRED_EVENTS.map((event) => ({ system: 'syscalls', event, optional: true })),
  // Names the OOM killer's victims, so their SIGKILL is attributed to it (rare: costs nothing).
  { system: 'oom', event: 'mark_victim', optional: true },
];

export interface LostSummary {
  /** Sum over CPUs of overrun + dropped from per_cpu/cpuN/stats since we started. */
  stats: number;
  /** Loss markers met in pages (RB_MISSED_EVENTS). */
  markers: number;
  /** Events counted in markers (when the kernel stored the count). */
  markerEvents: number;
  perCpu: Record<number, number>;
}

export interface RecorderStatus {
  state: 'running' | 'stopped';
  pid: number;
  name: string;
  instance: string;
  tracefs: string;
  store: string;
  startedUs: number;
  updatedUs: number;
  events: number;
  eventsPerSec: number;
  records: number;
  lost: LostSummary;
  decodeErrors: number;
  /** Failed store writes, records waiting for a retry, and records dropped after too many waited. */
  storeErrors: number;
  unwrittenRecords: number;
  droppedRecords: number;
  liveProcesses: number;
  liveThreads: number;
  storeBytes: number;
  rssBytes: number;
  peakRssBytes: number;
  bufferKb: number;
  pollMs: number;
  enabledEvents: string[];
  missingEvents: string[];
  staleRemoved: string[];
  counters: Record<string, number>;
}

export class Recorder {
  readonly instance: TraceInstance;
  readonly store: Store;
  readonly model: ProcessModel;
  private readonly host: Host;
  private readonly clocks: Clocks;
  private pending: DecodedEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private logFd: number | null = null;
  private readonly statsBase = new Map<number, number>();
  private readonly lost: LostSummary = { stats: 0, markers: 0, markerEvents: 0, perCpu: {} };
  private decodeErrors = 0;
  private unwritten: ProcessRecord[] = [];
  /** Pids whose group exit is among the events being processed this tick. */
  private readonly exiting = new Set<number>();
  private storeErrors = 0;
  private droppedRecords = 0;
  private lastStoreComplaintMs = 0;
  private records = 0;
  private readonly startedUs = Date.now() * 1000;
  private lastStatus = { atMs: Date.now(), events: 0 };
  private eventsPerSec = 0;
  private lastSweepMs = Date.now();
  private lastRetainMs = Date.now();
  private peakRss = 0;
  private stopped = false;
  private readonly logName = (id: number) => this.store.name(id);

  private constructor(readonly opts: RecorderOptions, instance: TraceInstance, store: Store, host: Host) {
    this.instance = instance;
    this.store = store;
    this.host = host;
    this.clocks = liveClocks(host, instance.clock);
    const namer = new ProgramNamer(host);
    this.model = new ProcessModel({
      domains: store,
      nextId: () => store.nextId(),
      toWallUs: (ts) => this.clocks.toWallUs(ts),
      normalizeProgram: (pid, filename) => namer.name(pid, filename),
      // A process whose exit is already in hand is gone from /proc: don't look (it inherits).
      uidOf: (pid) => (this.exiting.has(pid) ? null : uidOf(host, pid)),
      credsTraced: CRED_EVENTS.every((e) => instance.formats.has(e)),
    });
    this.openLog();
  }

  /** Enable tracing first, then scan /proc, so no process falls between the two. */
  static start(opts: RecorderOptions): Recorder {
    requireRoot(); // before anything is created on disk
    const host = opts.host ?? new Host();
    const store = Store.open(opts.storePath);
    let instance: TraceInstance;
    try {
      // One writer per store: record ids are allocated by the writer.
      const prev = store.getMeta<RecorderStatus>('status');
      if (prev && prev.state === 'running' && prev.pid !== process.pid && isLiveRecorder(host, prev.pid)) {
        throw new CliError(`store ${opts.storePath} is being written by the recorder running as pid ${prev.pid} (name ${prev.name})`, EXIT.UNAVAILABLE);
      }
      const events = RECORD_EVENTS.map((e) => ({ ...e }));
      instance = TraceInstance.create({ name: opts.name, bufferKb: opts.bufferKb, events, tracefs: opts.tracefs, host });
      if (!instance.formats.has('task_newtask')) {
        // Older kernels: fall back to sched_process_fork (no clone flags, so threads look like forks).
        instance.destroy();
        instance = TraceInstance.create({
          name: opts.name,
          bufferKb: opts.bufferKb,
          events: [{ system: 'sched', event: 'sched_process_fork' }, ...events.filter((e) => e.event !== 'task_newtask')],
          tracefs: opts.tracefs,
          host,
        });
      }
    } catch (e) {
      store.close();
      throw e;
    }
    try {
      const rec = new Recorder(opts, instance, store, host);
      for (const s of instance.stats(host)) rec.statsBase.set(s.cpu, s.overrun + s.dropped);
      const seeded = rec.model.seed(scanProc(host, rec.clocks));
      rec.emit(seeded);
      rec.retain();
      rec.writeStatus('running');
      return rec;
    } catch (e) {
      // Nothing may be left behind by a failed start.
      instance.destroy();
      store.close();
      throw e;
    }
  }

  /** Start the drain timer. */
  run(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.pollMs);
  }

  private openLog(): void {
    if (!this.opts.logPath) return;
    try {
      this.logFd = openSync(this.opts.logPath, 'a');
    } catch (e) {
      throw new CliError(`cannot open log ${this.opts.logPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.IOERR);
    }
  }

  /** SIGHUP: reopen the log file (after logrotate moved it). */
  reopenLog(): void {
    if (this.logFd !== null) {
      try {
        closeSync(this.logFd);
      } catch {
        /* ignore */
      }
      this.logFd = null;
    }
    try {
      this.openLog();
    } catch (e) {
      // Keep recording into the store; say why the text log stopped.
      process.stderr.write(`lantern record: ${(e as Error).message}; the text log is off until the next SIGHUP\n`);
    }
  }

  /** One drain-decode-model-store round. `final` processes everything held back. */
  tick(final = false): void {
    if (this.stopped && !final) return;
    const nowTs = this.clocks.nowTs();
    const batch: DecodedEvent[] = [];
    const drained = this.instance.drain(batch);
    const lostRecords: ProcessRecord[] = [];
    for (const r of drained.results) {
      if (r.missed !== 0) {
        this.lost.markers++;
        if (r.missed > 0) this.lost.markerEvents += r.missed;
        lostRecords.push(this.lostRecord(r.cpu, r.missed > 0 ? r.missed : null, 'page marker: the ring buffer overwrote events before they were read'));
      }
      if (r.bad > 0) {
        this.decodeErrors += r.bad;
        lostRecords.push(this.lostRecord(r.cpu, null, `undecodable page data: ${r.error ?? 'bad record'}`));
      }
    }
    for (const s of this.instance.stats(this.host)) {
      const total = s.overrun + s.dropped;
      const base = this.statsBase.get(s.cpu) ?? 0;
      if (total > base) {
        const delta = total - base;
        this.statsBase.set(s.cpu, total);
        this.lost.stats += delta;
        this.lost.perCpu[s.cpu] = (this.lost.perCpu[s.cpu] ?? 0) + delta;
        lostRecords.push(this.lostRecord(s.cpu, delta, 'per-cpu stats: overrun/dropped events'));
      }
    }
    if (batch.length) this.pending = this.pending.length ? this.pending.concat(batch) : batch;
    this.pending.sort((a, b) => a.ts - b.ts);
    const cutoff = final ? Infinity : nowTs - this.opts.holdMs * 1e6;
    this.exiting.clear();
    for (const ev of this.pending) if (ev.name === 'sched_process_exit' && Number(ev.fields.group_dead) === 1) this.exiting.add(Number(ev.fields.pid));
    let i = 0;
    const out: ProcessRecord[] = lostRecords;
    for (; i < this.pending.length && this.pending[i]!.ts <= cutoff; i++) {
      for (const r of this.model.handle(this.pending[i]!)) out.push(r);
    }
    this.pending = i === this.pending.length ? [] : this.pending.slice(i);
    this.emit(out);
    this.housekeeping();
  }

  private lostRecord(cpu: number, count: number | null, detail: string): ProcessRecord {
    const nowUs = Date.now() * 1000;
    return {
      id: this.store.nextId(), type: 'lost', timeUs: nowUs, pid: 0, tid: 0, ppid: 0, pstartUs: 0, ppstartUs: null, uid: null, program: null,
      comm: '', domainId: this.store.root, fromId: null, exitCode: null, signal: null, sigCode: null, senderPid: null, senderComm: null,
      senderProgram: null, senderKind: null, reconstructed: false, cpu, lost: count, detail, parentComm: null,
    };
  }

  /**
   * Write records; when the store fails (disk full, I/O error) keep them, bounded, and retry on
   * the next tick: counted and reported, never a crash.
   */
  private emit(records: ProcessRecord[]): void {
    if (!records.length && !this.unwritten.length) return;
    const batch = this.unwritten.length ? this.unwritten.concat(records) : records;
    try {
      this.records += this.store.write(batch);
      this.unwritten = [];
    } catch (e) {
      this.storeErrors++;
      this.unwritten = batch.length > MAX_UNWRITTEN ? batch.slice(batch.length - MAX_UNWRITTEN) : batch;
      this.droppedRecords += batch.length - this.unwritten.length;
      const nowMs = Date.now();
      if (nowMs - this.lastStoreComplaintMs > 60_000) {
        this.lastStoreComplaintMs = nowMs;
        process.stderr.write(`lantern record: cannot write the store (${(e as Error).message}); keeping ${this.unwritten.length} records in memory and retrying\n`);
      }
    }
    if (this.logFd !== null || this.opts.onLine) {
      for (const r of records) {
        const line = renderLine(
          {
            id: r.id, type: r.type, time_us: r.timeUs, pid: r.pid, tid: r.tid, ppid: r.ppid, pstart_us: r.pstartUs, ppstart_us: r.ppstartUs, uid: r.uid,
            program: r.program, comm: r.comm, parent_comm: r.parentComm, domain_id: r.domainId, from_id: r.fromId, exit_code: r.exitCode,
            signal: r.signal, sig_code: r.sigCode, sender_pid: r.senderPid, sender_comm: r.senderComm, sender_program: r.senderProgram,
            sender_kind: r.senderKind, reconstructed: r.reconstructed ? 1 : 0, cpu: r.cpu, lost: r.lost, detail: r.detail,
          },
          this.logName,
          r.priorImages,
        );
        if (this.logFd !== null) writeSync(this.logFd, line + '\n');
        this.opts.onLine?.(line);
      }
    }
  }

  private housekeeping(): void {
    const nowMs = Date.now();
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
    if (nowMs - this.lastStatus.atMs >= 1000) {
      const ev = this.model.counters.events;
      this.eventsPerSec = ((ev - this.lastStatus.events) * 1000) / (nowMs - this.lastStatus.atMs);
      this.lastStatus = { atMs: nowMs, events: ev };
      // Re-anchor: NTP steps move the wall clock, a suspend moves the boot clock.
      this.clocks.refresh();
      this.writeStatus('running');
    }
    if (nowMs - this.lastSweepMs >= this.opts.sweepMs) {
      this.lastSweepMs = nowMs;
      this.model.sweep((pid, startTs) => isAlive(this.host, this.clocks, pid, startTs));
    }
    if (nowMs - this.lastRetainMs >= 600_000) {
      this.lastRetainMs = nowMs;
      this.retain();
    }
  }

  /** Retention by age and size; then domains nothing uses any more (live processes' are kept). */
  retain(): number {
    const deleted = this.store.retain({ maxAgeUs: this.opts.retentionDays * 86_400e6, maxBytes: this.opts.retentionMb * 1024 * 1024 });
    if (deleted > 0) {
      const live = new Set<number>();
      for (const p of this.model.procs.values()) live.add(p.domainId);
      for (const r of this.unwritten) live.add(r.domainId); // records waiting for the store
      this.store.pruneDomains(live);
    }
    return deleted;
  }

  status(state: 'running' | 'stopped' = this.stopped ? 'stopped' : 'running'): RecorderStatus {
    let threads = 0;
    for (const p of this.model.procs.values()) threads += p.threads.size + 1;
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
    return {
      state,
      pid: process.pid,
      name: this.opts.name,
      instance: this.instance.dir,
      tracefs: this.instance.tracefs,
      store: this.store.path,
      startedUs: this.startedUs,
      updatedUs: Date.now() * 1000,
      events: this.model.counters.events,
      eventsPerSec: Math.round(this.eventsPerSec * 10) / 10,
      records: this.records,
      lost: this.lost,
      decodeErrors: this.decodeErrors,
      storeErrors: this.storeErrors,
      unwrittenRecords: this.unwritten.length,
      droppedRecords: this.droppedRecords,
      liveProcesses: this.model.procs.size,
      liveThreads: threads,
      storeBytes: this.store.sizeBytes(),
      rssBytes: rss,
      peakRssBytes: this.peakRss,
      bufferKb: this.opts.bufferKb,
      pollMs: this.opts.pollMs,
      enabledEvents: [...this.instance.formats.keys()],
      missingEvents: this.instance.missing,
      staleRemoved: this.instance.staleRemoved,
      counters: { ...this.model.counters },
    };
  }

  private writeStatus(state: 'running' | 'stopped'): void {
    try {
      this.store.setMeta('status', this.status(state));
    } catch {
      /* status is advisory */
    }
  }

  /** SIGTERM path: drain what the kernel still holds, flush, remove the instance, close the store. */
  stop(): RecorderStatus {
    if (this.stopped) return this.status('stopped');
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      this.tick(true);
    } finally {
      this.stopped = true;
      this.instance.destroy();
    }
    const st = this.status('stopped');
    this.writeStatus('stopped');
    this.store.close();
    if (this.logFd !== null) closeSync(this.logFd);
    this.logFd = null;
    return st;
  }

  /** Last-resort cleanup (uncaught error): remove the instance without touching the store. */
  abort(): void {
    if (this.timer) clearInterval(this.timer);
    this.stopped = true;
    this.instance.destroy();
  }
}
