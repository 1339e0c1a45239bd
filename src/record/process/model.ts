/**
 * The process table: pure logic fed by decoded kernel events in time order, emitting the
 * records we keep (exec, exit, signal). No I/O: path normalisation, uid lookup, ids and the
 * clock come in through `ModelEnv`, so the whole thing is unit-testable without a kernel.
 *
 * Identity is (pid, start time). Memory holds live processes and live threads only: a
 * process is dropped when its last thread exits, so the table is bounded by what runs now.
 *
 * Exit code and fatal signal (no sched tracepoint carries them):
 *  - syscalls/sys_enter_exit_group(error_code) gives the code of a voluntary exit, and
 *    sys_enter_exit the code of a last thread that leaves with exit(2);
 *  - signal/signal_deliver with sa_handler == SIG_DFL and a fatal-by-default signal, first per
 *    thread group, says the group is dying of a signal and which thread took it. When a fatal
 *    signal is "complete_signal"-ed to a group (e.g. SIGTERM with no handler), every thread,
 *    even the first, is delivered a synthetic SIGKILL; so
 *  - signal/signal_generate (res == 0) gives the real signal and its sender: the latest fatal-
 *    by-default signal generated to the group before the fatal delivery. Its common_pid is the
 *    sending thread; si_code says whether a process (SI_USER, SI_TKILL, ...) or the kernel
 *    (SI_KERNEL as the OOM killer uses, fault codes such as SEGV_MAPERR) sent it.
 */
import { KERNEL_DOMAIN, UNKNOWN_PROGRAM, type DomainRegistry } from './domains.js';
import { isFatalByDefault, senderKindOf } from './signals.js';

export interface TraceEvent {
  ts: number;
  name: string;
  commonPid: number;
  cpu?: number;
  fields: Record<string, number | string>;
}

/** `hung`: a hung-task report (src/record/hung/); the incident's evidence is in the store's hung_evidence and kmsg tables. */
/** `rule`: a trigger rule acted (src/record/rules/); its fromId is the record it fired on. */
/**
 * `io`: a thread that did disk I/O exited (src/record/io/); its byte counts are in the store's io_exit table.
 * `slow_stat` / `slow_io`: a slow stat-family call / block request (src/record/latency/).
 */
export type RecordType = 'exec' | 'exit' | 'signal' | 'lost' | 'hung' | 'slab' | 'dentry' | 'rule' | 'io' | 'slow_stat' | 'slow_io';

export interface ProcessRecord {
  id: number;
  type: RecordType;
  /** Wall-clock time, microseconds since the epoch. */
  timeUs: number;
  pid: number;
  tid: number;
  ppid: number;
  /** Start time of this process (µs since epoch): with pid, its identity. */
  pstartUs: number;
  /** Start time of the parent, to find the parent's own records. */
  ppstartUs: number | null;
  uid: number | null;
  program: string | null;
  comm: string;
  domainId: number;
  /** The exec record this image came from (the parent's image at fork, or this pid's previous image). */
  fromId: number | null;
  exitCode: number | null;
  signal: number | null;
  sigCode: number | null;
  senderPid: number | null;
  senderComm: string | null;
  senderProgram: string | null;
  senderKind: 'process' | 'kernel' | 'unknown' | null;
  reconstructed: boolean;
  /** For lost records. */
  cpu: number | null;
  lost: number | null;
  detail: string | null;
  /** Parent's comm and pid at exec (for the log line). */
  parentComm: string | null;
  /** For exec records: the programs this process exec'd before, since its fork (not stored). */
  priorImages?: string[];
  /** For io records: the thread's task I/O accounting at exit (stored in io_exit). */
  io?: { readBytes: number; writeBytes: number; cancelledWriteBytes: number; readChars: number; writeChars: number };
}

/** What every record needs; the rest of a ProcessRecord may be left to `newRecord`. */
export type RecordCore = Pick<ProcessRecord, 'id' | 'type' | 'timeUs' | 'pid' | 'comm' | 'domainId'> & Partial<ProcessRecord>;

/**
 * The one literal of a record: every field, in one order, so that every record (the model's two per
 * exec and every detector's) has one shape; the fields the caller does not know are empty (null;
 * `tid` = `pid`, `ppid` and `pstartUs` 0).
 */
function emptyRecord(id: number, type: RecordType, timeUs: number, pid: number, comm: string, domainId: number): ProcessRecord {
  return {
    id,
    type,
    timeUs,
    pid,
    tid: pid,
    ppid: 0,
    pstartUs: 0,
    ppstartUs: null,
    uid: null,
    program: null,
    comm,
    domainId,
    fromId: null,
    exitCode: null,
    signal: null,
    sigCode: null,
    senderPid: null,
    senderComm: null,
    senderProgram: null,
    senderKind: null,
    reconstructed: false,
    cpu: null,
    lost: null,
    detail: null,
    parentComm: null,
  };
}

/**
 * A record with every field a detector does not know empty (`ppid` and `pstartUs` 0, not
 * reconstructed): one place for the record's shape, for detectors and tests.
 */
export function newRecord(fields: RecordCore): ProcessRecord {
  return Object.assign(emptyRecord(fields.id, fields.type, fields.timeUs, fields.pid, fields.comm, fields.domainId), fields);
}

export interface ModelEnv {
  domains: DomainRegistry;
  /** Allocates record ids (the store's primary keys) so records can link to each other before they are written. */
  nextId(): number;
  /** Trace timestamp (ns, CLOCK_MONOTONIC) to wall clock µs. */
  toWallUs(ts: number): number;
  /** TOMOYO-style name of an exec'd file (absolute, directories resolved, last symlink kept). */
  normalizeProgram(pid: number, filename: string): string;
  /** Real uid of a live process, or null when it cannot be read any more. */
  uidOf(pid: number): number | null;
  /**
   * True when the setuid/setreuid/setresuid syscall events are traced: then a process's real uid
   * is followed from kernel data (inherited at fork, changed by those calls) and /proc is read
   * only when that chain is broken. False: the uid is read from /proc at each exec.
   */
  credsTraced?: boolean;
}

/** An id-changing syscall entered by a thread, applied when it returns 0. */
interface PendingCred {
  call: 'setuid' | 'setreuid' | 'setresuid';
  /** setuid's uid, or the ruid of setreuid/setresuid (null: -1, unchanged). */
  uid: number | null;
}

/** uid_t -1 ("unchanged"), whether the 8-byte syscall argument holds it as 32 or 64 bits. */
const UID_UNCHANGED = 0xffffffff;
const MAX_PENDING_CREDS = 10_000;

interface PendingSignal {
  sig: number;
  code: number;
  ts: number;
  senderTid: number;
  senderPid: number;
  senderComm: string | null;
  senderProgram: string | null;
}

export interface Proc {
  pid: number;
  /** Start in trace-clock ns (CLOCK_BOOTTIME, like /proc starttime): the identity used by sweeps. */
  startTs: number;
  startUs: number;
  ppid: number;
  ppstartUs: number | null;
  comm: string;
  program: string | null;
  domainId: number;
  lastExecId: number | null;
  uid: number | null;
  /**
   * The uid comes from kernel data: read from /proc at the scan (or at an exec) and carried by
   * traced forks and id-changing syscalls since. False for processes of unknown origin and after
   * a setuid() whose effect on the real uid cannot be told from the trace.
   */
  uidKnown: boolean;
  reconstructed: boolean;
  /** Trace time (ns) when the /proc scan read this process: older events are already reflected. */
  knownSinceTs: number;
  threads: Set<number>;
  exitCode: number | null;
  fatal: { sig: number; tid: number; ts: number } | null;
  signals: PendingSignal[];
  threadExitCodes: Map<number, number> | null;
  /** oom/mark_victim named this process: its SIGKILL comes from the OOM killer. */
  oomVictim?: boolean;
  /** Programs exec'd since the fork (the last few), for the exec log line. */
  images?: string[];
}

export interface ModelCounters {
  events: number;
  execs: number;
  exits: number;
  signals: number;
  forks: number;
  threads: number;
  /** Events about processes we never saw start (lost events or raced scan). */
  unknownProcess: number;
  /** A new process came with a pid still marked alive: its predecessor's exit was missed. */
  pidReuse: number;
  ignored: number;
}

const CLONE_PARENT = 0x8000;
const CLONE_THREAD = 0x10000;
const MAX_PENDING_SIGNALS = 4;
const MAX_IMAGES = 16;

/** A snapshot entry used to seed the table from /proc. */
export interface ScannedProcess {
  pid: number;
  ppid: number;
  /** Start in trace-clock ns (starttime ticks of /proc/<pid>/stat). */
  startTs: number;
  startUs: number;
  comm: string;
  /** /proc/<pid>/exe target, or null for kernel threads. */
  exe: string | null;
  cmdline: string;
  uid: number | null;
  tids: number[];
  /** Trace-clock time the scan read it. */
  scannedTs: number;
}

export class ProcessModel {
  readonly procs = new Map<number, Proc>();
  /** Thread id to thread-group id, for every live thread that is not a group leader. */
  readonly tidToTgid = new Map<number, number>();
  /** Id-changing syscalls entered and not yet returned, by thread id. */
  private readonly pendingCreds = new Map<number, PendingCred>();
  readonly counters: ModelCounters = { events: 0, execs: 0, exits: 0, signals: 0, forks: 0, threads: 0, unknownProcess: 0, pidReuse: 0, ignored: 0 };

  constructor(private readonly env: ModelEnv) {}

  /**
   * Seed from a /proc scan (parents before children is not required). Returns the
   * reconstructed exec records, parents first, for processes with an executable.
   */
  seed(scan: ScannedProcess[]): ProcessRecord[] {
    const byPid = new Map(scan.map((s) => [s.pid, s]));
    // Order parents before children, iteratively (trees may be very deep).
    const order: ScannedProcess[] = [];
    const seen = new Set<number>();
    for (const s of scan) {
      const chain: ScannedProcess[] = [];
      let cur: ScannedProcess | undefined = s;
      while (cur && !seen.has(cur.pid)) {
        seen.add(cur.pid);
        chain.push(cur);
        cur = cur.ppid !== cur.pid ? byPid.get(cur.ppid) : undefined;
      }
      for (let i = chain.length - 1; i >= 0; i--) order.push(chain[i]!);
    }
    const out: ProcessRecord[] = [];
    for (const s of order) {
      const parent = byPid.has(s.ppid) ? this.procs.get(s.ppid) : undefined;
      const parentDomain = parent ? parent.domainId : this.env.domains.root;
      const domainId = s.exe ? this.env.domains.intern(parentDomain, s.exe) : parentDomain;
      const proc: Proc = {
        pid: s.pid,
        startTs: s.startTs,
        startUs: s.startUs,
        ppid: s.ppid,
        ppstartUs: parent ? parent.startUs : null,
        comm: s.comm,
        program: s.exe ?? parent?.program ?? null,
        domainId,
        lastExecId: parent?.lastExecId ?? null,
        uid: s.uid,
        uidKnown: s.uid !== null,
        reconstructed: true,
        knownSinceTs: s.scannedTs,
        threads: new Set(s.tids.filter((t) => t !== s.pid)),
        exitCode: null,
        fatal: null,
        signals: [],
        threadExitCodes: null,
      };
      if (s.exe) {
        const rec = this.blank('exec', s.startUs, proc);
        rec.reconstructed = true;
        rec.parentComm = parent?.comm ?? null;
        rec.detail = s.cmdline || null;
        proc.lastExecId = rec.id;
        out.push(rec);
      }
      this.procs.set(s.pid, proc);
      for (const t of proc.threads) this.tidToTgid.set(t, s.pid);
    }
    return out;
  }

  private tgidOf(tid: number): number {
    return this.tidToTgid.get(tid) ?? tid;
  }

  private blank(type: RecordType, timeUs: number, p: Proc): ProcessRecord {
    // Two records per exec: the literal, then the process's fields set in place (no spread, no
    // copy of a fields object), one shape for every record (bench/record/stages, model stage).
    const r = emptyRecord(this.env.nextId(), type, timeUs, p.pid, p.comm, p.domainId);
    r.ppid = p.ppid;
    r.pstartUs = p.startUs;
    r.ppstartUs = p.ppstartUs;
    r.uid = p.uid;
    r.program = p.program;
    r.fromId = p.lastExecId;
    return r;
  }

  /** A process we hear about without having seen it start: give it an honest unknown origin. */
  private adopt(pid: number, ts: number, comm: string): Proc {
    this.counters.unknownProcess++;
    const domainId = this.env.domains.intern(this.env.domains.root, UNKNOWN_PROGRAM);
    const p: Proc = {
      pid,
      startTs: ts,
      startUs: this.env.toWallUs(ts),
      ppid: 0,
      ppstartUs: null,
      comm,
      program: null,
      domainId,
      lastExecId: null,
      uid: null,
      uidKnown: false,
      reconstructed: false,
      knownSinceTs: ts,
      threads: new Set(),
      exitCode: null,
      fatal: null,
      signals: [],
      threadExitCodes: null,
    };
    this.procs.set(pid, p);
    return p;
  }

  /** Feed one event (in time order). Returns the records it completes (usually none or one). */
  handle(ev: TraceEvent): ProcessRecord[] {
    this.counters.events++;
    switch (ev.name) {
      case 'task_newtask':
        return this.onNewTask(ev, Number(ev.fields.pid), Number(ev.fields.clone_flags ?? 0), String(ev.fields.comm ?? ''));
      case 'sched_process_fork':
        // Fallback when task_newtask is absent: no clone flags, so every task looks like a process.
        return this.onNewTask(ev, Number(ev.fields.child_pid), 0, String(ev.fields.child_comm ?? ''));
      case 'sched_process_exec':
        return this.onExec(ev);
      case 'sys_enter_exit_group':
        this.onExitCall(ev, true);
        return [];
      case 'sys_enter_exit':
        this.onExitCall(ev, false);
        return [];
      case 'signal_generate':
        this.onGenerate(ev);
        return [];
      case 'signal_deliver':
        this.onDeliver(ev);
        return [];
      case 'sched_process_exit':
        return this.onExit(ev);
      case 'sys_enter_setuid':
        this.onCredEnter(ev, 'setuid', ev.fields.uid);
        return [];
      case 'sys_enter_setreuid':
        this.onCredEnter(ev, 'setreuid', ev.fields.ruid);
        return [];
      case 'sys_enter_setresuid':
        this.onCredEnter(ev, 'setresuid', ev.fields.ruid);
        return [];
      case 'sys_exit_setuid':
      case 'sys_exit_setreuid':
      case 'sys_exit_setresuid':
        this.onCredExit(ev);
        return [];
      case 'mark_victim': {
        const p = this.procs.get(this.tgidOf(Number(ev.fields.pid)));
        if (p) p.oomVictim = true;
        return [];
      }
      default:
        this.counters.ignored++;
        return [];
    }
  }

  private onNewTask(ev: TraceEvent, child: number, flags: number, comm: string): ProcessRecord[] {
    const creatorTgid = this.tgidOf(ev.commonPid);
    if (flags & CLONE_THREAD) {
      this.counters.threads++;
      let p = this.procs.get(creatorTgid);
      if (!p) p = this.adopt(creatorTgid, ev.ts, comm);
      p.threads.add(child);
      this.tidToTgid.set(child, creatorTgid);
      return [];
    }
    const existing = this.procs.get(child);
    if (existing) {
      // The /proc scan already read it (the event predates the scan): keep the scanned entry.
      if (existing.reconstructed && ev.ts <= existing.knownSinceTs) return [];
      // Otherwise the old holder of this pid died without us seeing it.
      this.counters.pidReuse++;
      this.drop(existing);
    }
    this.counters.forks++;
    let parent = this.procs.get(creatorTgid);
    if (parent && flags & CLONE_PARENT) parent = this.procs.get(parent.ppid) ?? parent;
    if (!parent) parent = this.adopt(creatorTgid, ev.ts, comm);
    const p: Proc = {
      pid: child,
      startTs: ev.ts,
      startUs: this.env.toWallUs(ev.ts),
      ppid: parent.pid,
      ppstartUs: parent.startUs,
      comm,
      program: parent.program,
      domainId: parent.domainId,
      lastExecId: parent.lastExecId,
      uid: parent.uid,
      uidKnown: parent.uidKnown,
      reconstructed: false,
      knownSinceTs: ev.ts,
      threads: new Set(),
      exitCode: null,
      fatal: null,
      signals: [],
      threadExitCodes: null,
    };
    this.procs.set(child, p);
    this.tidToTgid.delete(child);
    return [];
  }

  private onExec(ev: TraceEvent): ProcessRecord[] {
    const pid = Number(ev.fields.pid);
    const oldPid = Number(ev.fields.old_pid ?? pid);
    const filename = String(ev.fields.filename ?? '');
    let p = this.procs.get(pid);
    if (p && p.reconstructed && ev.ts <= p.knownSinceTs) return []; // the scan already shows this image
    if (!p) p = this.adopt(pid, ev.ts, basename(filename));
    if (oldPid !== pid) {
      // A non-leader thread exec'd: it took over the group leader's pid (de_thread).
      p.threads.delete(oldPid);
      this.tidToTgid.delete(oldPid);
    }
    const parent = this.procs.get(p.ppid);
    const program = this.env.normalizeProgram(pid, filename);
    // The uid at exec: from kernel data when the chain is intact (exact even when the process is
    // gone by now); otherwise from /proc while the process still exists.
    if (!this.env.credsTraced || !p.uidKnown || p.uid === null) {
      const uid = this.env.uidOf(pid);
      if (uid !== null) {
        p.uid = uid;
        p.uidKnown = true;
      }
    }
    p.domainId = this.env.domains.intern(p.domainId, program);
    p.program = program;
    p.comm = basename(filename).slice(0, 15);
    // Exec ends any group-exit in progress (other threads were zapped with SIGKILL).
    p.fatal = null;
    p.exitCode = null;
    p.signals = [];
    const rec = this.blank('exec', this.env.toWallUs(ev.ts), p);
    rec.tid = oldPid;
    rec.parentComm = parent?.comm ?? null;
    rec.priorImages = p.images ? [...p.images] : [];
    (p.images ??= []).push(program);
    if (p.images.length > MAX_IMAGES) p.images.shift();
    p.lastExecId = rec.id;
    this.counters.execs++;
    return [rec];
  }

  private onCredEnter(ev: TraceEvent, call: PendingCred['call'], arg: unknown): void {
    if (this.pendingCreds.size >= MAX_PENDING_CREDS) this.pendingCreds.clear(); // returns lost: never grow
    const n = Number(arg ?? UID_UNCHANGED);
    this.pendingCreds.set(ev.commonPid, { call, uid: Number.isFinite(n) && n >= 0 && n < UID_UNCHANGED ? n : null });
  }

  /**
   * Apply a successful id change to the process's real uid. setreuid/setresuid name the new real
   * uid (-1: unchanged). setuid(u) sets it only with CAP_SETUID: assumed for uid 0 (root dropping
   * privileges, as su, setpriv and daemons do); for another uid the effect is unknown (it may have
   * changed only the effective uid), so the next exec reads /proc instead.
   */
  private onCredExit(ev: TraceEvent): void {
    const pending = this.pendingCreds.get(ev.commonPid);
    if (!pending) return;
    this.pendingCreds.delete(ev.commonPid);
    if (Number(ev.fields.ret ?? -1) !== 0 || pending.uid === null) return;
    const p = this.procs.get(this.tgidOf(ev.commonPid));
    if (!p) return;
    if (pending.call !== 'setuid') {
      p.uid = pending.uid;
      p.uidKnown = true;
    } else if (p.uid === pending.uid) {
      // setuid to the real uid changes nothing that we record.
    } else if (p.uid === 0 && p.uidKnown) {
      p.uid = pending.uid;
    } else {
      p.uidKnown = false;
    }
  }

  private onExitCall(ev: TraceEvent, group: boolean): void {
    const tgid = this.tgidOf(ev.commonPid);
    const p = this.procs.get(tgid);
    if (!p) return;
    // The kernel keeps the low 8 bits: do_exit((error_code & 0xff) << 8).
    const code = Number(ev.fields.error_code ?? 0) & 0xff;
    if (group) {
      if (p.exitCode === null && p.fatal === null) p.exitCode = code;
    } else {
      (p.threadExitCodes ??= new Map()).set(ev.commonPid, code);
    }
  }

  private onGenerate(ev: TraceEvent): void {
    const sig = Number(ev.fields.sig);
    const result = Number(ev.fields.result ?? 0);
    if (result !== 0 || !isFatalByDefault(sig)) return;
    const target = this.procs.get(this.tgidOf(Number(ev.fields.pid)));
    if (!target) return;
    const senderPid = this.tgidOf(ev.commonPid);
    const sender = this.procs.get(senderPid);
    target.signals.push({
      sig,
      code: Number(ev.fields.code ?? 0),
      ts: ev.ts,
      senderTid: ev.commonPid,
      senderPid,
      senderComm: sender?.comm ?? null,
      senderProgram: sender?.program ?? null,
    });
    if (target.signals.length > MAX_PENDING_SIGNALS) target.signals.shift();
  }

  private onDeliver(ev: TraceEvent): void {
    const sig = Number(ev.fields.sig);
    if (Number(ev.fields.sa_handler ?? 0) !== 0 || !isFatalByDefault(sig)) return;
    const p = this.procs.get(this.tgidOf(ev.commonPid));
    if (!p || p.fatal || p.exitCode !== null) return;
    p.fatal = { sig, tid: ev.commonPid, ts: ev.ts };
  }

  private onExit(ev: TraceEvent): ProcessRecord[] {
    const tid = Number(ev.fields.pid ?? ev.commonPid);
    const tgid = this.tgidOf(tid);
    const p = this.procs.get(tgid);
    this.pendingCreds.delete(tid);
    // Kernels before 6.16 have no group_dead: then the group is dead when its last known task goes.
    const groupDead = ev.fields.group_dead !== undefined ? Number(ev.fields.group_dead) !== 0 : tid === tgid ? (p?.threads.size ?? 0) === 0 : false;
    if (tid !== tgid) {
      this.tidToTgid.delete(tid);
      p?.threads.delete(tid);
    }
    if (!groupDead) return [];
    if (!p) {
      this.counters.unknownProcess++;
      return [];
    }
    const rec = this.blank('exit', this.env.toWallUs(ev.ts), p);
    rec.tid = tid;
    if (p.fatal) {
      const fatal = p.fatal;
      // The cause: a synthetic SIGKILL stands for the group's real fatal signal, which is the
      // latest fatal-by-default signal generated to the group before the delivery.
      const before = p.signals.filter((s) => s.ts <= fatal.ts);
      const cause = fatal.sig === 9 ? before[before.length - 1] : [...before].reverse().find((s) => s.sig === fatal.sig);
      rec.type = 'signal';
      rec.tid = fatal.tid;
      rec.signal = cause ? cause.sig : fatal.sig;
      if (cause) {
        rec.sigCode = cause.code;
        rec.senderPid = cause.senderPid;
        rec.senderComm = cause.senderComm;
        rec.senderProgram = cause.senderProgram;
        rec.senderKind = senderKindOf(cause.code);
      } else {
        rec.senderKind = 'unknown';
      }
      if (rec.signal === 9 && p.oomVictim) {
        rec.senderKind = 'kernel';
        rec.detail = 'oom-killer';
      }
      this.counters.signals++;
    } else {
      rec.exitCode = p.exitCode ?? p.threadExitCodes?.get(tid) ?? null;
      this.counters.exits++;
    }
    this.drop(p);
    return [rec];
  }

  private drop(p: Proc): void {
    for (const t of p.threads) this.tidToTgid.delete(t);
    this.procs.delete(p.pid);
  }

  /**
   * Forget processes that are gone without an exit event (events were lost): `alive` says
   * whether pid with that start time (trace clock) still runs. Keeps memory bounded over months.
   */
  sweep(alive: (pid: number, startTs: number) => boolean): number {
    let n = 0;
    for (const p of [...this.procs.values()]) {
      if (!alive(p.pid, p.startTs)) {
        this.drop(p);
        n++;
      }
    }
    return n;
  }

  domainName(id: number): string {
    return this.env.domains.name(id);
  }
}

export function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i >= 0 ? path.slice(i + 1) : path;
}

export { KERNEL_DOMAIN };
