/**
 * The recorder: a private tracefs instance + the process model + the store, driven by a
 * timer. Each tick drains the per-CPU binary pipes (non-blocking), merges CPUs by timestamp,
 * holds back the last few milliseconds so a late commit on another CPU cannot reorder,
 * feeds the model, and writes the resulting records in one transaction.
 */
import { Host } from '../host/host.js';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { DecodedEvent } from './tracefs/decode.js';
import { isLiveRecorder, procPid, requireRoot, TraceInstance, type EventSpec } from './tracefs/instance.js';
import { CliError, EXIT } from '../common/exit.js';
import { newRecord, ProcessModel, type ProcessRecord } from './process/model.js';
import { isAlive, liveClocks, ProgramNamer, scanProc, uidOf, type Clocks } from './process/procfs.js';
import { NON_FATAL_BY_DEFAULT } from './process/signals.js';
import { Store } from './store/store.js';
import { renderLine, STORE_LOSS_PREFIX } from './render.js';
import { HungDetector, type HungEvidence, type HungOptions, type HungStatus } from './hung/detector.js';
import { SLAB_EVENTS, SlabDetector, type SlabOptions, type SlabStatus } from './slab/detector.js';
import { RuleEngine, type RulesOptions, type RulesStatus } from './rules/engine.js';
import type { Trigger } from './rules/core.js';
import { IO_EVENT, IoDetector, type IoEvent, type IoOptions, type IoStatus } from './io/detector.js';
import { ioDetail } from './io/core.js';
import { AccessTracker, type AccessOptions, type AccessStatus } from '../access/tracker.js';
import { startSources } from '../access/backend.js';
import { ensureAccessTables, readAccess, readOverflow, toEntry, writeAccess } from './store/access.js';
import { UNKNOWN_PROGRAM } from './process/domains.js';
import { LatencyDetector, type LatencyOptions, type LatencyStatus } from './latency/detector.js';

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
  /**
   * Records kept in memory while the store cannot be written (disk full, I/O error); beyond
   * this the oldest are dropped and counted as lost.
   */
  backlogRecords: number;
  /**
   * Records are written to the store at most this often, ms (one transaction each; sooner when
   * MAX_HELD_RECORDS or the backlog bound is reached). What a crash (SIGKILL, power loss) may
   * lose: the records of the last flushMs + holdMs + pollMs; SIGTERM/SIGINT write everything.
   * 0 (the default) writes at every poll.
   */
  flushMs: number;
  /** Text log of records (one line each); reopened on SIGHUP by the CLI. */
  logPath?: string;
  /** Also write each record's line here (e.g. stdout with --print). */
  onLine?: (line: string) => void;
  tracefs?: string;
  host?: Host;
  /** The hung-task detector (src/record/hung/); off when absent. The CLI turns it on by default. */
  hung?: HungOptions;
  /** The slab-shrinker detector and dentry sampler (src/record/slab/); off when absent. The CLI turns it on by default. */
  slab?: SlabOptions;
  /** The I/O-at-exit detector (src/record/io/); off when absent. The CLI turns it on by default. */
  io?: IoOptions;
  /** Slow stat-family calls and slow block I/O (src/record/latency/, bpftrace); off when absent. Attached by attachLatency(). */
  latency?: LatencyOptions;
  /** Trigger rules ([[rule]] in the config, src/record/rules/); none when absent. */
  rules?: RulesOptions;
  /** Where the recorder's one-line notices go (default stderr). */
  say?: (line: string) => void;
  /** Access lists per domain (src/access/, issue #11); off when absent. Sources start with startAccess(). */
  access?: AccessOptions;
}

export const DEFAULT_OPTIONS: Omit<RecorderOptions, 'storePath'> = {
  name: 'default',
  bufferKb: 4096,
  pollMs: 250,
  holdMs: 50,
  // Every poll: holding a second of records measured no lower CPU in the whole recorder on the
  // exec storm (the held records outlive young-generation GCs) and +10-15 MiB RSS; see docs/record.md.
  flushMs: 0,
  retentionDays: 90,
  retentionMb: 1024,
  sweepMs: 300_000,
  // 35-40 MiB (a record measured ~340 bytes in memory): ~12 s of a 4,000 execs/s storm, hours of
  // a busy server.
  backlogRecords: 100_000,
};

/** Records held for one flush at most (~1 s of a 20,000 records/s storm): a bigger transaction buys nothing more. */
const MAX_HELD_RECORDS = 20_000;

/** While the store fails, retry after --poll-ms, doubling up to this (each retry rebuilds the whole backlog's transaction). */
const MAX_RETRY_MS = 4000;

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

/** khungtaskd's report of a task blocked in D state (added when the hung-task detector is on; rare). */
export const HUNG_EVENT: EventSpec = { system: 'sched', event: 'sched_process_hang', optional: true };

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
  /**
   * Every record the model produced is written (`records`), skipped as the duplicate of a
   * stored one (`duplicateRecords`, a restart's reconstruction), still waiting in memory
   * (`unwrittenRecords`), or lost (`droppedRecords` = `droppedOverBacklog` + `droppedAtExit`):
   * recordsSeen = records + duplicateRecords + unwrittenRecords + droppedRecords.
   */
  recordsSeen: number;
  duplicateRecords: number;
  /** Failed store writes (batches, retention), and the last error. */
  storeErrors: number;
  lastStoreError: string | null;
  unwrittenRecords: number;
  droppedRecords: number;
  droppedOverBacklog: number;
  /** Still unwritten at SIGTERM/SIGINT after the final flush failed. */
  droppedAtExit: number;
  backlogRecords: number;
  /** Lines the --log file could not take (it may share the full disk). */
  logLinesLost: number;
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
  /** The hung-task detector, when on. */
  hung?: HungStatus;
  /** The slab-shrinker detector, when on. */
  slab?: SlabStatus;
  /** The trigger rules, when any. */
  rules?: RulesStatus;
  /** The I/O-at-exit detector, when on. */
  io?: IoStatus;
  /** The access lists, when on. */
  access?: AccessStatus;
  /** The slow stat / slow block I/O detector, when on. */
  latency?: LatencyStatus;
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
  /** Records not in the store yet: held for the next flush, or kept after a failed write (owned: appended to in place). */
  private unwritten: ProcessRecord[] = [];
  /** When the oldest record in `unwritten` arrived (Date.now()). */
  private heldSinceMs = 0;
  /** Pids whose group exit is among the events being processed this tick. */
  private readonly exiting = new Set<number>();
  private storeErrors = 0;
  private lastStoreError: string | null = null;
  private droppedOverBacklog = 0;
  private droppedAtExit = 0;
  /** Dropped records not yet told by a `lost` record in the store. */
  private droppedUnmarked = 0;
  private retryAtMs = 0;
  private retryDelayMs = 0;
  private lastStoreComplaintMs = 0;
  private lastLogComplaintMs = 0;
  private logLinesLost = 0;
  private records = 0;
  private recordsSeen = 0;
  private duplicateRecords = 0;
  private statusWriteError: string | null = null;
  private readonly startedUs = Date.now() * 1000;
  private lastStatus = { atMs: Date.now(), events: 0 };
  private eventsPerSec = 0;
  private lastSweepMs = Date.now();
  private lastRetainMs = Date.now();
  private peakRss = 0;
  private stopped = false;
  private readonly logName = (id: number) => this.store.name(id);
  readonly hung: HungDetector | null = null;
  readonly slab: SlabDetector | null = null;
  readonly rules: RuleEngine | null = null;
  readonly io: IoDetector | null = null;
  readonly access: AccessTracker | null = null;
  private latencyDetector: LatencyDetector | null = null;

  private constructor(
    readonly opts: RecorderOptions,
    instance: TraceInstance,
    store: Store,
    host: Host,
  ) {
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
    if (opts.hung) {
      const say = opts.say ?? ((line: string) => process.stderr.write(line + '\n'));
      const sysrqHost = opts.hung.sysrqTrigger ? new Host({ sysrqTrigger: opts.hung.sysrqTrigger }) : host;
      const source = opts.hung.source === 'kmsg' || !instance.formats.has('sched_process_hang') ? 'kmsg' : 'tracepoint';
      if (opts.hung.source === 'tracepoint' && source !== 'tracepoint') {
        throw new CliError('hung-task detector: the sched:sched_process_hang tracepoint does not exist on this kernel (use source = "kmsg" or "auto")', EXIT.UNAVAILABLE);
      }
      this.hung = new HungDetector(opts.hung, { store, model: this.model, host, sysrqHost, say }, source);
    }
    if (opts.slab) {
      const attached = SLAB_EVENTS.every((e) => instance.formats.has(e.event));
      this.slab = new SlabDetector(
        opts.slab,
        {
          store,
          host,
          toWallUs: (ts) => this.clocks.toWallUs(ts),
          commOf: (tid) => host.readHead(`/proc/${tid}/comm`, 64)?.trim() ?? this.model.procs.get(tid)?.comm ?? '',
        },
        attached,
      );
      if (opts.slab.tracepoints && !attached) (opts.say ?? ((l: string) => process.stderr.write(l + '\n')))(`lantern record: slab detector: ${this.slab.status.note}`);
    }
    if (opts.access) {
      ensureAccessTables(store.db);
      this.access = new AccessTracker(opts.access, {
        liveDomain: (pid) => this.liveDomain(pid),
        unknownDomain: () => store.intern(store.root, UNKNOWN_PROGRAM),
        domainName: (id) => store.name(id),
        readEnviron: (pid) => host.readHead(`/proc/${pid}/environ`, 65536),
        readLink: (path) => host.readLink(path),
        nowTs: () => this.clocks.nowTs(),
        toWallUs: (ts) => this.clocks.toWallUs(ts),
      });
      // The lists go on from the last run: repeats merge, the per-domain bound holds.
      this.access.lists.load(readAccess(store.db).map(toEntry), readOverflow(store.db));
    }
    if (opts.rules && opts.rules.rules.length) {
      const say = opts.say ?? ((line: string) => process.stderr.write(line + '\n'));
      this.rules = new RuleEngine(opts.rules, {
        store,
        host,
        say,
        sysrqHost: opts.rules.sysrqTrigger ? new Host({ sysrqTrigger: opts.rules.sysrqTrigger }) : host,
        domainOf: (pid) => {
          const p = this.model.procs.get(pid);
          return p ? store.name(p.domainId) : null;
        },
        limitOf: (t) => this.ruleLimit(t),
      });
    }
    // Last: it opens a netlink socket, and nothing after it here can throw and leave that open.
    if (opts.io) {
      this.io = new IoDetector(opts.io, {
        store,
        model: this.model,
        nowTs: () => this.clocks.nowTs(),
        toWallUs: (ts) => this.clocks.toWallUs(ts),
        say: opts.say ?? ((line: string) => process.stderr.write(line + '\n')),
      });
    }
  }

  private liveDomain(pid: number): { domainId: number; comm: string } | null {
    const p = this.model.procs.get(this.model.tidToTgid.get(pid) ?? pid);
    return p ? { domainId: p.domainId, comm: p.comm } : null;
  }

  /** Start the access backends (async: bpftrace attaches); what runs and what could not is in status. */
  async startAccess(): Promise<void> {
    if (!this.access) return;
    // The env names' in-kernel source first: the execs from now on give their names at the exec.
    this.access.startEnv();
    const { sources, report } = await startSources(this.access.opts.backend, { emit: this.access.push, excludePids: [process.pid], getattr: this.access.opts.getattr });
    this.access.sources = sources;
    this.access.report = report;
  }

  /** What keeps a rule's trigger from firing on this recorder (said at start, shown in status), or null. */
  private ruleLimit(t: Trigger): string | null {
    if (t.kind === 'hung_task' && !this.hung) return 'cannot fire: the hung-task detector is off ([hung] enabled = false or --no-hung)';
    if (t.kind === 'oom_kill' && !this.instance.formats.has('mark_victim')) return 'cannot fire: oom:mark_victim is absent on this kernel, so OOM kills are not told from other SIGKILLs';
    if (t.kind === 'slow_stat' || t.kind === 'slow_io') {
      const part = t.kind === 'slow_stat' ? this.opts.latency?.stat : this.opts.latency?.io;
      if (!part) return `cannot fire: the ${t.kind} detector is off (--${t.kind.replace('_', '-')} or [${t.kind}] enabled = true)`;
      if (part.thresholdNs > t.thresholdNs)
        return `sees only ${t.kind === 'slow_stat' ? 'calls' : 'requests'} of at least [${t.kind}] threshold = ${part.thresholdNs / 1e6} ms (shorter ones are not recorded)`;
    }
    if (t.kind === 'slow_slab') {
      const slab = this.opts.slab;
      if (!slab || !slab.tracepoints || !SLAB_EVENTS.every((e) => this.instance.formats.has(e.event)))
        return 'cannot fire: the shrink_slab tracepoints are not recorded ([slab] off, tracepoints = false, or absent on this kernel)';
      if (slab.slowNs > t.thresholdNs) return `sees only passes of at least [slab] slow = ${slab.slowNs / 1e6} ms (shorter ones are not recorded)`;
    }
    return null;
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
      if (prev && prev.state === 'running' && prev.pid !== procPid() && isLiveRecorder(host, prev.pid)) {
        throw new CliError(`store ${opts.storePath} is being written by the recorder running as pid ${prev.pid} (name ${prev.name})`, EXIT.UNAVAILABLE);
      }
      const events = RECORD_EVENTS.map((e) => ({ ...e }));
      if (opts.hung && opts.hung.source !== 'kmsg') events.push({ ...HUNG_EVENT });
      if (opts.slab?.tracepoints) for (const e of SLAB_EVENTS) events.push({ ...e });
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
    // A predecessor killed with its hung-task settings lowered: give them back first.
    let restoredStale: string | null = null;
    try {
      restoredStale = HungDetector.restoreStale(store, host);
      if (restoredStale) (opts.say ?? ((l: string) => process.stderr.write(l + '\n')))(`lantern record: ${restoredStale}`);
    } catch {
      /* a store that cannot be read is said by what follows */
    }
    let made: Recorder | null = null;
    try {
      const rec = new Recorder(opts, instance, store, host);
      made = rec;
      if (rec.hung) {
        rec.hung.status.restoredStale = restoredStale;
        rec.hung.start();
      }
      for (const s of instance.stats(host)) rec.statsBase.set(s.cpu, s.overrun + s.dropped);
      const seeded = rec.model.seed(scanProc(host, rec.clocks));
      rec.emit(seeded, false, true);
      rec.retain();
      rec.writeStatus('running');
      return rec;
    } catch (e) {
      // Nothing may be left behind by a failed start.
      made?.hung?.finish();
      made?.io?.close();
      instance.destroy();
      store.close();
      throw e;
    }
  }

  /**
   * Start the latency detector's bpftrace (after start(): it attaches asynchronously). Rejects
   * with the reason when it cannot; the caller then stops the recorder (it was asked for).
   */
  async attachLatency(): Promise<void> {
    if (!this.opts.latency || this.latencyDetector) return;
    this.latencyDetector = await LatencyDetector.start(this.opts.latency, {
      store: this.store,
      host: this.host,
      name: this.opts.name,
      ownerPid: procPid(),
      tracefs: this.instance.tracefs,
      ownerAlive: (pid) => isLiveRecorder(this.host, pid),
      procOf: (pid) => {
        const p = this.model.procs.get(pid);
        return p ? { program: p.program, comm: p.comm, domainId: p.domainId, ppid: p.ppid, pstartUs: p.startUs, ppstartUs: p.ppstartUs, uid: p.uid } : null;
      },
    });
    this.writeStatus('running');
  }

  /** End the latency detector's bpftrace and take its last output (before stop(): its final tick stores it). */
  async detachLatency(): Promise<void> {
    await this.latencyDetector?.stop();
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
    const raw: DecodedEvent[] = [];
    const drained = this.instance.drain(raw);
    // Hung-task reports go to the detector (they describe no process lifecycle step).
    // …and so do shrinker passes (they go to the slab detector).
    let batch = raw;
    if (this.hung || this.slab) {
      batch = [];
      const shrink: DecodedEvent[] = [];
      for (const ev of raw) {
        if (this.hung && ev.name === 'sched_process_hang') this.hung.onTracepoint(ev.fields);
        else if (this.slab && SlabDetector.takes(ev.name)) shrink.push(ev);
        else batch.push(ev);
      }
      // In kernel order: a task may migrate between its start and its end (another CPU's pipe).
      shrink.sort((a, b) => a.ts - b.ts);
      for (const ev of shrink) this.slab!.onEvent(ev);
    }
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
    // Exit records of the I/O detector join the stream at the time they were received.
    const ioEvents = this.io ? this.io.take() : [];
    if (ioEvents.length) batch = batch.concat(ioEvents);
    if (batch.length) this.pending = this.pending.length ? this.pending.concat(batch) : batch;
    this.pending.sort((a, b) => a.ts - b.ts);
    const cutoff = final ? Infinity : nowTs - this.opts.holdMs * 1e6;
    this.exiting.clear();
    for (const ev of this.pending) if (ev.name === 'sched_process_exit' && Number(ev.fields.group_dead) === 1) this.exiting.add(Number(ev.fields.pid));
    let i = 0;
    const out: ProcessRecord[] = lostRecords;
    for (; i < this.pending.length && this.pending[i]!.ts <= cutoff; i++) {
      const ev = this.pending[i]!;
      if (this.io && ev.name === IO_EVENT) {
        const r = this.io.onEvent(ev as IoEvent);
        if (r) out.push(r);
        continue;
      }
      // Accesses made before this exec belong to the domain the pid has until it (src/access/tracker.ts).
      if (this.access && ev.name === 'sched_process_exec') this.access.noteExec(Number(ev.fields.pid), ev.ts, this.liveDomain(Number(ev.fields.pid)), String(ev.fields.filename ?? ''));
      const made = this.model.handle(ev);
      for (const r of made) out.push(r);
      if (this.io && made.length) this.io.noteRecords(made, ev.ts);
    }
    this.pending = i === this.pending.length ? [] : this.pending.slice(i);
    let evidence: HungEvidence[] = [];
    if (this.hung) {
      const h = final ? this.hung.finish() : this.hung.poll();
      for (const r of h.records) out.push(r);
      evidence = h.evidence;
    }
    if (this.slab) for (const r of this.slab.poll()) out.push(r);
    this.io?.poll();
    if (this.latencyDetector) {
      this.latencyDetector.noteRecords(out);
      for (const r of this.latencyDetector.poll(this.opts.holdMs, final)) out.push(r);
    }
    let ruleEvidence: HungEvidence[] = [];
    if (this.rules) {
      const fired = this.rules.run(out);
      for (const r of fired.records) out.push(r);
      ruleEvidence = fired.evidence;
    }
    if (this.access) {
      this.access.noteRecords(out);
      this.access.flush(cutoff);
      this.access.persist((entries, overflow) => writeAccess(this.store.db, entries, overflow));
    }
    // Evidence rows refer to their record: it is written first, this tick.
    this.emit(out, final, evidence.length > 0 || ruleEvidence.length > 0);
    this.writeEvidence(evidence, this.hung?.status);
    this.writeEvidence(ruleEvidence, this.rules?.status);
    this.housekeeping();
  }

  /** A hung incident's (or a rule's) snapshot and kernel-log capture; a failed write is counted (status hung/rules.evidenceLost). */
  private writeEvidence(list: HungEvidence[], counted: { evidenceLost: number } | undefined): void {
    for (const ev of list) {
      try {
        this.store.writeHungEvidence(ev);
      } catch (e) {
        this.storeFailed(e);
        if (counted) counted.evidenceLost++;
      }
    }
  }

  private lostRecord(cpu: number | null, count: number | null, detail: string): ProcessRecord {
    const nowUs = Date.now() * 1000;
    return newRecord({
      id: this.store.nextId(),
      type: 'lost',
      timeUs: nowUs,
      pid: 0,
      tid: 0,
      ppid: 0,
      pstartUs: 0,
      comm: '',
      domainId: this.store.root,
      cpu,
      lost: count,
      detail,
    });
  }

  /**
   * Write records; when the store fails (disk full, I/O error) keep them in memory, at most
   * backlogRecords (the oldest beyond are dropped and counted), and retry with a growing delay:
   * counted and reported, never a crash. Records are held and written together at most every
   * flushMs when that is set (fewer, bigger transactions; 0, the default, writes every poll),
   * sooner when they approach the backlog bound. `now` writes this tick (records that evidence
   * rows refer to); `force` tries at once even while a failed write waits to be retried (the
   * final flush). Text lines (--log, --print) are written at once either way.
   */
  private emit(records: ProcessRecord[], force = false, now = false): void {
    this.recordsSeen += records.length;
    if (records.length || this.unwritten.length) {
      const nowMs = Date.now();
      if (!this.unwritten.length) this.heldSinceMs = nowMs;
      let batch = records;
      if (this.unwritten.length) {
        batch = this.unwritten;
        for (const r of records) batch.push(r);
      }
      const failing = this.retryDelayMs > 0;
      const due = force || now || nowMs - this.heldSinceMs >= this.opts.flushMs || batch.length >= Math.min(MAX_HELD_RECORDS, this.opts.backlogRecords);
      if (!due || (failing && !force && nowMs < this.retryAtMs)) this.keepUnwritten(batch);
      else this.tryWrite(batch);
    }
    this.writeLines(records);
  }

  private tryWrite(batch: ProcessRecord[]): void {
    // A loss the store has not been told of yet goes first; it is only made for this attempt.
    const marker =
      this.droppedUnmarked > 0
        ? this.lostRecord(null, this.droppedUnmarked, `${STORE_LOSS_PREFIX}${this.droppedUnmarked} records dropped while the store could not be written (backlog bound ${this.opts.backlogRecords})`)
        : null;
    try {
      const written = this.store.write(marker ? [marker, ...batch] : batch);
      const stored = marker ? written - 1 : written;
      this.records += stored;
      this.duplicateRecords += batch.length - stored;
      this.unwritten = [];
      this.droppedUnmarked = 0;
      this.retryDelayMs = 0;
    } catch (e) {
      this.storeFailed(e);
      this.keepUnwritten(batch);
      this.retryDelayMs = Math.min(MAX_RETRY_MS, this.retryDelayMs ? this.retryDelayMs * 2 : this.opts.pollMs);
      this.retryAtMs = Date.now() + this.retryDelayMs;
    }
  }

  private keepUnwritten(batch: ProcessRecord[]): void {
    const over = batch.length - this.opts.backlogRecords;
    // Owned: emit() appends to it in place, and a tick's own array may still be held by the detectors.
    this.unwritten = over > 0 ? batch.slice(over) : batch === this.unwritten ? batch : batch.slice();
    if (over > 0) {
      this.droppedOverBacklog += over;
      this.droppedUnmarked += over;
    }
  }

  private storeFailed(e: unknown): void {
    this.storeErrors++;
    this.lastStoreError = (e as Error).message;
    const nowMs = Date.now();
    if (nowMs - this.lastStoreComplaintMs > 60_000) {
      this.lastStoreComplaintMs = nowMs;
      process.stderr.write(
        `lantern record: cannot write the store (${this.lastStoreError}); keeping up to ${this.opts.backlogRecords} records in memory and retrying (dropped so far: ${this.droppedOverBacklog})\n`,
      );
    }
  }

  private writeLines(records: ProcessRecord[]): void {
    if (this.logFd === null && !this.opts.onLine) return;
    for (const r of records) {
      const line = renderLine(
        {
          id: r.id,
          type: r.type,
          time_us: r.timeUs,
          pid: r.pid,
          tid: r.tid,
          ppid: r.ppid,
          pstart_us: r.pstartUs,
          ppstart_us: r.ppstartUs,
          uid: r.uid,
          program: r.program,
          comm: r.comm,
          parent_comm: r.parentComm,
          domain_id: r.domainId,
          from_id: r.fromId,
          exit_code: r.exitCode,
          signal: r.signal,
          sig_code: r.sigCode,
          sender_pid: r.senderPid,
          sender_comm: r.senderComm,
          sender_program: r.senderProgram,
          sender_kind: r.senderKind,
          reconstructed: r.reconstructed ? 1 : 0,
          cpu: r.cpu,
          lost: r.lost,
          // An io record's text is made from its numbers only for a line (the store keeps the numbers).
          detail: r.detail ?? (r.type === 'io' && r.io ? ioDetail(r.io) : null),
        },
        this.logName,
        r.priorImages,
      );
      if (this.logFd !== null) {
        try {
          writeSync(this.logFd, line + '\n');
        } catch (e) {
          // The log may share the full disk: count the line, keep recording into the store.
          this.logLinesLost++;
          const nowMs = Date.now();
          if (nowMs - this.lastLogComplaintMs > 60_000) {
            this.lastLogComplaintMs = nowMs;
            process.stderr.write(`lantern record: cannot write the log ${this.opts.logPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); lines are counted as lost\n`);
          }
        }
      }
      this.opts.onLine?.(line);
    }
  }

  private housekeeping(): void {
    const nowMs = Date.now();
    if (nowMs - this.lastStatus.atMs >= 1000) {
      // Once a second, not per poll: rss() reads /proc/self/statm (status() samples it too).
      const rss = process.memoryUsage.rss();
      if (rss > this.peakRss) this.peakRss = rss;
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

  /** Retention by age and size; then domains nothing uses any more (live processes' are kept). A failure is counted, never fatal. */
  retain(): number {
    try {
      const deleted = this.store.retain({ maxAgeUs: this.opts.retentionDays * 86_400e6, maxBytes: this.opts.retentionMb * 1024 * 1024 });
      if (deleted > 0) {
        const live = new Set<number>();
        for (const p of this.model.procs.values()) live.add(p.domainId);
        for (const r of this.unwritten) live.add(r.domainId); // records waiting for the store
        this.store.pruneDomains(live);
      }
      return deleted;
    } catch (e) {
      this.storeFailed(e);
      return 0;
    }
  }

  status(state: 'running' | 'stopped' = this.stopped ? 'stopped' : 'running'): RecorderStatus {
    let threads = 0;
    for (const p of this.model.procs.values()) threads += p.threads.size + 1;
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
    return {
      state,
      pid: procPid(),
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
      recordsSeen: this.recordsSeen,
      duplicateRecords: this.duplicateRecords,
      storeErrors: this.storeErrors,
      lastStoreError: this.lastStoreError,
      unwrittenRecords: this.unwritten.length,
      droppedRecords: this.droppedOverBacklog + this.droppedAtExit,
      droppedOverBacklog: this.droppedOverBacklog,
      droppedAtExit: this.droppedAtExit,
      backlogRecords: this.opts.backlogRecords,
      logLinesLost: this.logLinesLost,
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
      ...(this.slab ? { slab: structuredClone(this.slab.status) } : {}),
      ...(this.rules ? { rules: structuredClone(this.rules.status) } : {}),
      ...(this.io ? { io: { ...this.io.status } } : {}),
      ...(this.access ? { access: this.access.status() } : {}),
      ...(this.latencyDetector ? { latency: structuredClone(this.latencyDetector.status) } : {}),
      ...(this.hung ? { hung: { ...this.hung.status, kmsg: { ...this.hung.status.kmsg }, sysrq: { ...this.hung.status.sysrq }, timeout: { ...this.hung.status.timeout } } } : {}),
    };
  }

  /** The status row; a failure (full disk) is kept to be said at exit, the next second retries. */
  private writeStatus(state: 'running' | 'stopped'): boolean {
    try {
      this.store.setMeta('status', this.status(state));
      this.statusWriteError = null;
      return true;
    } catch (e) {
      this.statusWriteError = (e as Error).message;
      return false;
    }
  }

  /** Why the last status could not be stored (then `record status` shows an older one), or null. */
  get statusError(): string | null {
    return this.statusWriteError;
  }

  /** SIGTERM path: drain what the kernel still holds, flush, remove the instance, close the store. */
  stop(): RecorderStatus {
    if (this.stopped) return this.status('stopped');
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      this.io?.close(); // what it received before is handed to the final tick
      this.tick(true);
    } finally {
      this.stopped = true;
      this.latencyDetector?.abort(); // ended already when detachLatency() ran first
      this.hung?.restoreSettings(); // also when the final tick failed
      this.instance.destroy();
    }
    // The final flush was tried: what the store still could not take is lost, and counted.
    if (this.unwritten.length) {
      this.droppedAtExit += this.unwritten.length;
      this.unwritten = [];
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
    this.latencyDetector?.abort();
    this.hung?.restoreSettings();
    this.io?.close();
    this.instance.destroy();
  }
}
