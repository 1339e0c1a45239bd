/**
 * The recorder's side of the access lists: accesses from the running sources wait in a bounded
 * queue until the process model has seen every exec and exit before them (the recorder's tick
 * cut-off), then each is given the domain its pid had, deduplicated into the lists, optionally
 * logged, and the changes written to the store with the tick's records.
 *
 * Order: an access is stamped on the trace clock (by the backend, or on arrival), and an exec of its
 * pid after that time means it was made by the image before the exec, in the old domain (a shell's
 * redirection opened before `exec cat`). The recorder tells each exec with its time (noteExec).
 * `file execute PATH` belongs, as in TOMOYO, to the domain that called execve, not to the image it
 * starts: fanotify stamps it when read, mostly just after the exec it opened the file for, so an
 * execute stamped after an exec of its pid whose file name has PATH's last component (within
 * EXEC_MATCH_NS) goes to the domain before that exec.
 *
 * A pid is looked up in the live process table, then among processes that exited in the last
 * RECENT_MS (a short-lived `cat` is gone from the table before its accesses are attributed), and
 * otherwise goes to `<kernel> <unknown>`, counted. Nothing is dropped without a counter:
 * received = attributed + waiting + queueDropped, attributed = lists.events.
 *
 * `misc env NAME`: the names of each exec's environment, given to the domain of the model's exec
 * record. From the in-kernel source (env-source.ts) when it runs: its record of the exec (same
 * tgid, the closest time within ENV_MATCH_US) arrives before the model's exec record in practice
 * (the model holds events holdMs), but either may come first: an exec record without its env
 * record waits ENV_WAIT_MS, an env record without its exec record ENV_KEEP_NS (then counted
 * unmatched). Without it, or for an exec the kernel could not read (or whose record the full
 * ring lost), /proc/<pid>/environ is read, which a short-lived process has left already.
 * Counted: execs = envRead + envMissed + envWaiting; envRead = envKernel + envProc.
 */
import { posix } from 'node:path';
import type { AccessEvent, AccessSource } from './event.js';
import { AccessLists, type AccessEntry } from './lists.js';
import { accessLogLine, summaryLines, type DomainList } from './render.js';
import { encodeName } from './path.js';
import type { BackendReport } from './backend.js';
import { ENV_NO_MM, ENV_TRUNCATED, ENV_UNREADABLE, openEnvSource, type BpfenvCounters, type EnvRecord, type EnvSource } from './env-source.js';

export interface TrackerEnv {
  /** The live process's domain and comm, or null. */
  liveDomain(pid: number): { domainId: number; comm: string } | null;
  /** The `<kernel> <unknown>` domain. */
  unknownDomain(): number;
  domainName(id: number): string;
  /** A symbolic link's target (`dash` for /usr/bin/sh), or null when the path is not a link. */
  readLink?: (path: string) => string | null;
  /** /proc/<pid>/environ, or null (gone). */
  readEnviron(pid: number): string | null;
  /** Now on the trace clock (CLOCK_BOOTTIME ns): stamps accesses that came without a time. */
  nowTs(): number;
  /** Trace-clock ns to wall-clock µs, the same conversion the process records use. */
  toWallUs(ts: number): number;
}

export interface AccessOptions {
  /** `auto`, or comma-separated backend names. */
  backend: string;
  perDomain: number;
  /** Accesses waiting for attribution at most; beyond, counted as queueDropped. */
  maxQueued: number;
  /** Record `misc env NAME` for each exec (names only, never values). */
  env: boolean;
  /** Where the names come from: `auto` (in the kernel at the exec, else /proc), `bpf` (that or an error), `proc`. */
  envSource?: EnvSourceChoice;
  /** Record `file getattr PATH` (stat calls; off by default: most of all file traffic). */
  getattr?: boolean;
  /** Print each new access as it happens (record --access-log). */
  log?: (line: string) => void;
}

export const ENV_SOURCES = ['auto', 'bpf', 'proc'] as const;
export type EnvSourceChoice = (typeof ENV_SOURCES)[number];

export const DEFAULT_ACCESS: AccessOptions = { backend: 'auto', perDomain: 2048, maxQueued: 500_000, env: true };

export interface AccessStatus {
  backends: Array<BackendReport & { blind?: readonly string[]; lost?: number }>;
  received: number;
  attributed: number;
  waiting: number;
  queueDropped: number;
  unknownPid: number;
  added: number;
  merged: number;
  overflow: number;
  entries: number;
  domains: number;
  perDomain: number;
  /** Which env source runs, in words (and why not the kernel's, when it is /proc). */
  envSource: string;
  /** Exec records of the model while env is on: envRead + envMissed + envWaiting. */
  envExecs: number;
  envRead: number;
  /** Of envRead: names from the in-kernel record, and from /proc/<pid>/environ. */
  envKernel: number;
  envProc: number;
  /** Of envKernel: blocks longer than the cap (the first names kept). */
  envTruncated: number;
  envMissed: number;
  /** Exec records waiting for their in-kernel record. */
  envWaiting: number;
  /** In-kernel records not (yet) given to an exec record: pending, and expired without one. */
  envPending: number;
  envUnmatched: number;
  /** The in-kernel program's id and counters (seen = submitted + lost + noScratch), when it runs. */
  envProgId?: number;
  envKernelCounters?: BpfenvCounters;
  storeErrors: number;
  /** Backend counters (fanotify merged/unresolved, syscalls unresolved, …). */
  detail: Record<string, number>;
}

const RECENT_MS = 10_000;
/** How long after its exec a `file execute` event may be stamped and still go to the caller (fanotify's reader lags by ~1 ms; a loaded machine by more). */
const EXEC_MATCH_NS = 2e9;
/** The ELF dynamic loader's file names (glibc `ld-linux-x86-64.so.2`, `ld-linux-aarch64.so.1`, `ld64.so.2`; musl `ld-musl-x86_64.so.1`; `ld-2.31.so`, the file older glibc's link names). */
const LOADER_RE = /^ld(?:-linux[-\w]*|64|-musl-\w+|-\d+(?:\.\d+)*)?\.so(?:\.\d+)*$/;
const MAX_ENV_NAMES = 256;
/** The model's exec and the kernel's env record are stamped in the same tracepoint call: µs apart. */
const ENV_MATCH_US = 2_000;
/** An exec record waits this long for its in-kernel record (then /proc, then missed). */
const ENV_WAIT_MS = 1_000;
/** An in-kernel record waits this long (trace clock) for its exec record. */
const ENV_KEEP_NS = 30e9;
/** Beyond this many in-kernel records waiting (an exec storm the model lags behind), they wait 5 s, not 30. */
const MAX_ENV_PENDING = 50_000;

/** The names of a NUL-separated environment block (pure): `PATH`, `HOME`, … (encoded like paths). */
export function envNames(block: string): string[] {
  const out = new Set<string>();
  for (const kv of block.split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out.add(encodeName(kv.slice(0, eq)));
    if (out.size >= MAX_ENV_NAMES) break;
  }
  return [...out];
}

type ExecRecord = { pid: number; domainId: number; comm: string; timeUs: number };

export class AccessTracker {
  readonly lists: AccessLists;
  private queue: AccessEvent[] = [];
  private readonly recent = new Map<number, { domainId: number; comm: string; untilMs: number }>();
  /** Per pid, the execs of the last seconds: the domain and comm the pid had before each one. */
  private readonly execs = new Map<number, Array<{ ts: number; domainId: number; comm: string; file?: string }>>();
  sources: AccessSource[] = [];
  report: BackendReport[] = [];
  private readonly st = {
    received: 0,
    attributed: 0,
    queueDropped: 0,
    unknownPid: 0,
    envExecs: 0,
    envRead: 0,
    envKernel: 0,
    envProc: 0,
    envTruncated: 0,
    envMissed: 0,
    envUnmatched: 0,
    storeErrors: 0,
  };
  private envSource: EnvSource | null = null;
  private envSourceText = '/proc/<pid>/environ at the exec record';
  /** Exec records before this wall time (the start scan's) have no in-kernel record: /proc. */
  private envSinceUs = Infinity;
  /** In-kernel records by tgid, oldest first. */
  private readonly envByPid = new Map<number, EnvRecord[]>();
  private envPending = 0;
  private envWaiting: Array<{ r: ExecRecord; untilMs: number }> = [];
  private envStopping = false;

  constructor(
    readonly opts: AccessOptions,
    private readonly env: TrackerEnv,
  ) {
    this.lists = new AccessLists({ perDomain: opts.perDomain });
    if (!opts.env) this.envSourceText = 'off ([access] env = false)';
  }

  /** Sources call this (through SourceContext.emit). */
  readonly push = (ev: AccessEvent): void => {
    this.st.received++;
    if (ev.bootNs === undefined) ev.bootNs = this.env.nowTs();
    if (this.queue.length >= this.opts.maxQueued) {
      this.st.queueDropped++;
      return;
    }
    this.queue.push(ev);
  };

  /**
   * Start the env source the options ask for: `auto` tries the kernel's and says why not; `bpf`
   * throws that reason; `proc` (or env off) reads /proc. `open` is for tests (another BTF, ring size).
   */
  startEnv(open: () => { source: EnvSource } | { error: string } = () => openEnvSource()): void {
    const choice = this.opts.envSource ?? 'auto';
    if (!this.opts.env || choice === 'proc' || this.envSource) return;
    const r = open();
    if ('error' in r) {
      if (choice === 'bpf') throw new Error(`env source bpf: ${r.error}`);
      this.envSourceText = `/proc/<pid>/environ at the exec record (in-kernel source unavailable: ${r.error})`;
      return;
    }
    this.useEnvSource(r.source);
  }

  /** Names from this source from now on (exec records of earlier processes: /proc). */
  useEnvSource(source: EnvSource): void {
    this.envSource = source;
    this.envSourceText = source.describe;
    this.envSinceUs = this.env.toWallUs(this.env.nowTs());
  }

  /** The model's records of this tick: exits keep their domain a while; execs give env names. */
  noteRecords(records: Array<{ type: string; pid: number; domainId: number; comm: string; timeUs: number }>): void {
    const now = Date.now();
    if (this.opts.env && this.envSource) this.takeEnv();
    for (const r of records) {
      if (r.type === 'exit' || r.type === 'signal') this.recent.set(r.pid, { domainId: r.domainId, comm: r.comm, untilMs: now + RECENT_MS });
      else if (r.type === 'exec' && this.opts.env) {
        this.st.envExecs++;
        if (!this.envSource || r.timeUs < this.envSinceUs) this.envFromProc(r);
        else if (!this.envFromKernel(r)) this.envWaiting.push({ r, untilMs: now + ENV_WAIT_MS });
      }
    }
    if (this.envWaiting.length) this.retryWaiting(now, this.envStopping);
    if (this.recent.size > 50_000) for (const [pid, v] of this.recent) if (v.untilMs < now) this.recent.delete(pid);
  }

  /** The source's new records into envByPid; records too old for any exec record to come are unmatched. */
  private takeEnv(): void {
    for (const e of this.envSource!.take()) {
      let list = this.envByPid.get(e.tgid);
      if (!list) this.envByPid.set(e.tgid, (list = []));
      list.push(e);
      this.envPending++;
    }
    if (!this.envPending) return;
    // An exec storm the model lags behind: keep 5 s of records rather than 30 (still more than holdMs).
    const limit = this.env.nowTs() - (this.envPending > MAX_ENV_PENDING ? 5e9 : ENV_KEEP_NS);
    for (const [pid, list] of this.envByPid) {
      let k = 0;
      while (k < list.length && list[k]!.bootNs < limit) k++;
      if (k) {
        list.splice(0, k);
        this.envPending -= k;
        this.st.envUnmatched += k;
      }
      if (!list.length) this.envByPid.delete(pid);
    }
  }

  /** Gives r the names of its in-kernel record; false when there is none (yet). */
  private envFromKernel(r: ExecRecord): boolean {
    const list = this.envByPid.get(r.pid);
    if (!list) return false;
    let best = -1;
    let bestGap = ENV_MATCH_US;
    for (let k = 0; k < list.length; k++) {
      const gap = Math.abs(this.env.toWallUs(list[k]!.bootNs) - r.timeUs);
      if (gap <= bestGap) [best, bestGap] = [k, gap];
    }
    if (best < 0) return false;
    const [e] = list.splice(best, 1);
    this.envPending--;
    if (!list.length) this.envByPid.delete(r.pid);
    // The kernel could not read this image's block: /proc may still hold it.
    if (e!.flags & (ENV_UNREADABLE | ENV_NO_MM)) this.envFromProc(r);
    else {
      this.st.envRead++;
      this.st.envKernel++;
      if (e!.flags & ENV_TRUNCATED) this.st.envTruncated++;
      this.envLines(r, e!.names);
    }
    return true;
  }

  /** Exec records still without their in-kernel record: matched now, or past their wait (or `all`, at stop) read from /proc. */
  private retryWaiting(now: number, all: boolean): void {
    const still: Array<{ r: ExecRecord; untilMs: number }> = [];
    for (const w of this.envWaiting) {
      if (this.envFromKernel(w.r)) continue;
      if (all || w.untilMs <= now) this.envFromProc(w.r);
      else still.push(w);
    }
    this.envWaiting = still;
  }

  private envFromProc(r: ExecRecord): void {
    const block = this.env.readEnviron(r.pid);
    if (!block) {
      this.st.envMissed++;
      return;
    }
    this.st.envRead++;
    this.st.envProc++;
    this.envLines(r, block);
  }

  private envLines(r: ExecRecord, block: string): void {
    for (const name of envNames(block)) {
      this.st.received++;
      this.attribute(r.domainId, r.comm, { timeUs: r.timeUs, pid: r.pid, category: 'misc', operation: `env ${name}` });
    }
  }

  /**
   * The recorder is about to apply an exec of `pid` at trace time `ts`; `before` is its domain until
   * then, `file` the file name the exec was given (the tracepoint's, as passed).
   */
  noteExec(pid: number, ts: number, before: { domainId: number; comm: string } | null, file?: string): void {
    if (!before) return;
    let list = this.execs.get(pid);
    if (!list) this.execs.set(pid, (list = []));
    list.push({ ts, ...before, file });
    if (list.length > 16) list.shift();
  }

  /** The domain an access at trace time `ts` by `pid` was made in, from the execs after it. */
  private beforeExec(pid: number, ts: number): { domainId: number; comm: string } | null {
    const list = this.execs.get(pid);
    if (!list) return null;
    for (const x of list) if (x.ts > ts) return x; // the first exec after the access
    return null;
  }

  /**
   * For a successful `file execute PATH` stamped after the exec it was for: the domain before the
   * latest exec of its pid, at most EXEC_MATCH_NS earlier, whose file name ends in PATH's last
   * component, or a link's on the way (the names differ above it: `/bin/true` is passed,
   * `/usr/bin/true` reported; `/bin/sh` is passed, `/usr/bin/dash` reported); the
   * dynamic loader (`ld-linux-x86-64.so.2`, opened by the kernel for the image) goes with the latest
   * exec. Another name (a file that failed to run after it was opened, a script's interpreter)
   * stays with the live image.
   */
  private execCaller(ev: AccessEvent): { domainId: number; comm: string } | null {
    if (ev.errno || ev.category !== 'file' || !ev.operation.startsWith('execute ')) return null;
    const list = this.execs.get(ev.pid);
    if (!list) return null;
    const path = ev.operation.slice('execute '.length);
    const base = posix.basename(path);
    const loader = LOADER_RE.test(base);
    for (let k = list.length - 1; k >= 0; k--) {
      const x = list[k]!;
      if (x.ts > ev.bootNs! || ev.bootNs! - x.ts > EXEC_MATCH_NS) continue;
      if (loader || this.goesBy(x.file ?? '', base)) return x;
    }
    return null;
  }

  /**
   * Whether an exec's file name goes by `base` as its last component: its own, or a link's on the
   * way (`sh` -> `dash`), at most 4 deep; links are read only when the names so far differ.
   */
  private goesBy(file: string, base: string): boolean {
    let path = file;
    for (let depth = 0; posix.basename(path) !== base; depth++) {
      const target = depth < 4 && path.startsWith('/') ? this.env.readLink?.(path) : null;
      if (!target) return false;
      path = posix.resolve(posix.dirname(path), target);
    }
    return true;
  }

  /** Attribute every access stamped at or before `cutoffTs` (trace clock ns); later ones wait. */
  flush(cutoffTs: number): void {
    if (!this.queue.length) return this.forgetExecs(cutoffTs);
    // Sources deliver in their own order; attribution goes by time.
    this.queue.sort((a, b) => a.bootNs! - b.bootNs!);
    let i = 0;
    const q = this.queue;
    for (; i < q.length; i++) {
      const ev = q[i]!;
      if (ev.bootNs! > cutoffTs) break;
      ev.timeUs = this.env.toWallUs(ev.bootNs!);
      let who = this.beforeExec(ev.pid, ev.bootNs!) ?? this.execCaller(ev) ?? this.env.liveDomain(ev.pid);
      if (!who) {
        const r = this.recent.get(ev.pid);
        if (r) who = { domainId: r.domainId, comm: r.comm };
      }
      if (!who) {
        this.st.unknownPid++;
        who = { domainId: this.env.unknownDomain(), comm: ev.comm ?? '?' };
      }
      this.attribute(who.domainId, ev.comm ?? who.comm, ev);
    }
    this.queue = i === q.length ? [] : q.slice(i);
    this.forgetExecs(this.queue.length ? Math.min(cutoffTs, this.queue[0]!.bootNs!) : cutoffTs);
  }

  /** Execs older than every access still to come (less a margin for late backends) are not needed. */
  private forgetExecs(beforeTs: number): void {
    if (this.execs.size === 0 || !Number.isFinite(beforeTs)) {
      if (!Number.isFinite(beforeTs)) this.execs.clear();
      return;
    }
    const limit = beforeTs - 5e9;
    for (const [pid, list] of this.execs) {
      while (list.length && list[0]!.ts < limit) list.shift();
      if (!list.length) this.execs.delete(pid);
    }
  }

  private attribute(domainId: number, comm: string, ev: AccessEvent): void {
    this.st.attributed++;
    const r = this.lists.add(domainId, ev);
    if (r === 'added' && this.opts.log) this.opts.log(accessLogLine(ev.timeUs, ev.operation, ev.errno, encodeName(comm), ev.pid, this.env.domainName(domainId)));
  }

  /** Write the lists' changes; a failure puts them back for the next tick and is counted. */
  persist(write: (entries: AccessEntry[], overflow: Array<[number, number]>) => void): void {
    const d = this.lists.takeDirty();
    if (!d.entries.length && !d.overflow.length) return;
    try {
      write(d.entries, d.overflow);
    } catch {
      this.st.storeErrors++;
      this.lists.putBack(d);
    }
  }

  /** Stop the backends and the env source (its last records stay for the final tick, which also ends every wait). */
  async stopSources(): Promise<void> {
    this.envSource?.close();
    this.envStopping = true;
    await Promise.all(this.sources.map((s) => s.stop().catch(() => undefined)));
  }

  /** The per-domain summary (record --access-log at SIGINT/SIGTERM). */
  summary(): string[] {
    const lists: DomainList[] = this.lists.domains().map((id) => ({ domain: this.env.domainName(id), entries: this.lists.entries(id), overflow: this.lists.overflow.get(id) ?? 0 }));
    return summaryLines(lists);
  }

  status(): AccessStatus {
    const detail: Record<string, number> = {};
    for (const s of this.sources) for (const [k, v] of Object.entries(s.stats?.() ?? {})) detail[`${s.name}.${k}`] = v;
    return {
      backends: this.report.map((r) => {
        const s = this.sources.find((x) => x.name === r.name);
        return s ? { ...r, blind: s.blind, lost: s.lost } : r;
      }),
      ...this.st,
      envSource: this.envSourceText,
      envWaiting: this.envWaiting.length,
      envPending: this.envPending,
      ...(this.envSource ? { envProgId: this.envSource.progId, envKernelCounters: this.envSource.stats() } : {}),
      waiting: this.queue.length,
      added: this.lists.counters.added,
      merged: this.lists.counters.merged,
      overflow: this.lists.counters.overflow,
      entries: this.lists.size,
      domains: this.lists.domains().length,
      perDomain: this.opts.perDomain,
      detail,
    };
  }
}
