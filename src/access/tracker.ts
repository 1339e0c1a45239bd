/**
 * The recorder's side of the access lists: accesses from the running sources wait in a bounded
 * queue until the process model has seen every exec and exit before them (the recorder's tick
 * cut-off), then each is given the domain its pid had, deduplicated into the lists, optionally
 * logged, and the changes written to the store with the tick's records.
 *
 * Order: an access is stamped on the trace clock (by the backend, or on arrival), and an exec of its
 * pid after that time means it was made by the image before the exec, in the old domain (a shell's
 * redirection opened before `exec cat`). The recorder tells each exec with its time (noteExec).
 *
 * A pid is looked up in the live process table, then among processes that exited in the last
 * RECENT_MS (a short-lived `cat` is gone from the table before its accesses are attributed), and
 * otherwise goes to `<kernel> <unknown>`, counted. Nothing is dropped without a counter:
 * received = attributed + waiting + queueDropped, attributed = lists.events.
 */
import type { AccessEvent, AccessSource } from './event.js';
import { AccessLists, type AccessEntry } from './lists.js';
import { accessLogLine, summaryLines, type DomainList } from './render.js';
import { encodeName } from './path.js';
import type { BackendReport } from './backend.js';

export interface TrackerEnv {
  /** The live process's domain and comm, or null. */
  liveDomain(pid: number): { domainId: number; comm: string } | null;
  /** The `<kernel> <unknown>` domain. */
  unknownDomain(): number;
  domainName(id: number): string;
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
  /** Record `file getattr PATH` (stat calls; off by default: most of all file traffic). */
  getattr?: boolean;
  /** Print each new access as it happens (record --access-log). */
  log?: (line: string) => void;
}

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
  envRead: number;
  envMissed: number;
  storeErrors: number;
  /** Backend counters (fanotify merged/unresolved, syscalls unresolved, …). */
  detail: Record<string, number>;
}

const RECENT_MS = 10_000;
const MAX_ENV_NAMES = 256;

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

export class AccessTracker {
  readonly lists: AccessLists;
  private queue: AccessEvent[] = [];
  private readonly recent = new Map<number, { domainId: number; comm: string; untilMs: number }>();
  /** Per pid, the execs of the last seconds: the domain and comm the pid had before each one. */
  private readonly execs = new Map<number, Array<{ ts: number; domainId: number; comm: string }>>();
  sources: AccessSource[] = [];
  report: BackendReport[] = [];
  private readonly st = { received: 0, attributed: 0, queueDropped: 0, unknownPid: 0, envRead: 0, envMissed: 0, storeErrors: 0 };

  constructor(
    readonly opts: AccessOptions,
    private readonly env: TrackerEnv,
  ) {
    this.lists = new AccessLists({ perDomain: opts.perDomain });
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

  /** The model's records of this tick: exits keep their domain a while; execs give env names. */
  noteRecords(records: Array<{ type: string; pid: number; domainId: number; comm: string; timeUs: number }>): void {
    const now = Date.now();
    for (const r of records) {
      if (r.type === 'exit' || r.type === 'signal') this.recent.set(r.pid, { domainId: r.domainId, comm: r.comm, untilMs: now + RECENT_MS });
      else if (r.type === 'exec' && this.opts.env) {
        const block = this.env.readEnviron(r.pid);
        if (!block) {
          this.st.envMissed++;
          continue;
        }
        this.st.envRead++;
        for (const name of envNames(block)) {
          this.st.received++;
          this.attribute(r.domainId, r.comm, { timeUs: r.timeUs, pid: r.pid, category: 'misc', operation: `env ${name}` });
        }
      }
    }
    if (this.recent.size > 50_000) for (const [pid, v] of this.recent) if (v.untilMs < now) this.recent.delete(pid);
  }

  /** The recorder is about to apply an exec of `pid` at trace time `ts`; `before` is its domain until then. */
  noteExec(pid: number, ts: number, before: { domainId: number; comm: string } | null): void {
    if (!before) return;
    let list = this.execs.get(pid);
    if (!list) this.execs.set(pid, (list = []));
    list.push({ ts, ...before });
    if (list.length > 16) list.shift();
  }

  /** The domain an access at trace time `ts` by `pid` was made in, from the execs after it. */
  private beforeExec(pid: number, ts: number): { domainId: number; comm: string } | null {
    const list = this.execs.get(pid);
    if (!list) return null;
    for (const x of list) if (x.ts > ts) return x; // the first exec after the access
    return null;
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
      let who = this.beforeExec(ev.pid, ev.bootNs!) ?? this.env.liveDomain(ev.pid);
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

  async stopSources(): Promise<void> {
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
