/**
 * The latency detector: slow stat-family calls and slow block requests, paired in the kernel,
 * turned into `slow_stat` / `slow_io` records on the recorder's tick. Slow stats come from the
 * raw_tp backend (native/bpfstat: two small programs on the raw sys_enter/sys_exit tracepoints,
 * slow calls only through a BPF ring buffer) when it loads, else from bpftrace; slow I/O always
 * from one bpftrace program (src/common/bpftrace.ts runs it). Started after the recorder
 * (bpftrace attaches asynchronously); a recorder asked for it does not run without it. Every
 * read of /proc and /sys goes through the Host.
 */
import { Bpftrace, bpftraceVersion, findBpftrace, staleBpftrace } from '../../common/bpftrace.js';
import type { Host } from '../../host/host.js';
import { newRecord, type ProcessRecord } from '../process/model.js';
import type { Store } from '../store/store.js';
import {
  AT_FDCWD,
  BLOCK_EVENTS,
  inProgressDetail,
  READY,
  deviceLatencies,
  ioDetail,
  latencyProgram,
  MAP_KEYS_MAX,
  markerPrefix,
  msText,
  parseIoLine,
  parseStatLine,
  programMarker,
  resolvedPath,
  STAT_CALLS,
  statDetail,
  type DeviceLatency,
  type HistBucket,
  type SlowIoOptions,
  type SlowStatOptions,
  type StatCall,
  type SlowStat,
  RAW_PATH_BYTES,
  parseRawStat,
  parseRawInFlight,
  RAW_REC_BYTES,
  RAW_INFLIGHT_BYTES,
  log2PercentileNs,
  IN_FLIGHT_MS,
} from './core.js';
import { loadBpfstat, type BpfstatAddon } from './native.js';

/** Which backend times stat-family calls: auto (raw_tp when it loads, else bpftrace), or one of them only. */
export type StatBackendChoice = 'auto' | 'raw_tp' | 'bpftrace';
export const STAT_BACKEND_ENV = 'LANTERN_SLOW_STAT_BACKEND';

/** The choice from the environment (LANTERN_SLOW_STAT_BACKEND), auto when unset; an unknown value is an error. */
export function statBackendChoice(v = process.env[STAT_BACKEND_ENV]): StatBackendChoice {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'raw_tp' || v === 'bpftrace') return v;
  throw new Error(`${STAT_BACKEND_ENV}=${JSON.stringify(v)}: expected auto, raw_tp or bpftrace`);
}

export interface LatencyOptions {
  stat: SlowStatOptions | null;
  io: SlowIoOptions | null;
  /** Default: statBackendChoice() (the environment). */
  statBackend?: StatBackendChoice;
  /** The raw_tp backend's ring buffer (bytes, a power of 2; default 256 KiB). */
  statRingBytes?: number;
  /** bpftrace backend: entries its maps hold (default MAP_KEYS_MAX; tests make it small to fill it). */
  mapKeysMax?: number;
}

/** What the recorder knows of a process (live, or exited a moment ago). */
export interface ProcInfo {
  program: string | null;
  comm: string;
  domainId: number;
  ppid: number;
  pstartUs: number;
  ppstartUs: number | null;
  uid: number | null;
}

export interface LatencyEnv {
  store: Store;
  host: Host;
  /** The recorder's name and pid (they mark its bpftrace program, for the stale check). */
  name: string;
  ownerPid: number;
  procOf(pid: number): ProcInfo | null;
  ownerAlive(pid: number): boolean;
  tracefs: string;
}

export interface LatencyStatus {
  /** bpftrace's version when it runs (slow I/O, or slow stats on the fallback), else the raw_tp backend. */
  backend: string;
  /** What times stat-family calls (absent in statuses written before the raw_tp backend: bpftrace). */
  statBackend?: 'raw_tp' | 'bpftrace';
  /** Why that backend (the raw_tp backend's error when auto fell back to bpftrace). */
  statBackendNote?: string | null;
  /** The raw_tp backend's program ids (sys_enter, sys_exit). */
  progIds?: number[];
  /** raw_tp backend: how the exit program is attached (tp_btf where the kernel's BTF allows). */
  exitAttach?: 'tp_btf' | 'raw_tp';
  bpftracePid: number | null;
  probes: number;
  /** printf records the kernel dropped (perf ring full): slow calls or requests not recorded. */
  lost: number;
  malformed: number;
  firstMalformed: string | null;
  /** Stale bpftrace processes of a killed predecessor, ended at start. */
  staleKilled: number[];
  /** Set when bpftrace exited while recording (no more records after this). */
  ended: string | null;
  stat: {
    thresholdMs: number;
    calls: string[];
    absent: string[];
    slow: number;
    /** Calls seen in flight past the threshold (recorded before they return; again when they do). */
    inProgress: number;
    unresolved: number;
    /** raw_tp backend: calls timed in the kernel, and their p50/p99 (log2 bucket bounds, µs). */
    timed?: number;
    p50Us?: number | null;
    p99Us?: number | null;
    /** Exits without a seen start (raw_tp: begun before attach, or startFailed); startFailed: enters the map of calls could not hold (both backends). */
    unpaired?: number;
    startFailed?: number;
    /** raw_tp backend: slow calls whose path could not be read (not resident), or was cut at RAW_PATH_BYTES - 1 bytes. */
    pathsUnread?: number;
    pathsCut?: number;
    /** raw_tp backend: threads with an entry in the map of calls (one each, idle between calls), and entries of exited threads removed. */
    tracked?: number;
    forgotten?: number;
    cannotSee: string;
  } | null;
  io: {
    thresholdMs: number;
    submitter: 'block_io_start' | 'none';
    slow: number;
    submitterUnknown: number;
    devices: DeviceLatency[];
    histogramAtUs: number | null;
    /** Requests whose issue the map of requests in flight could not hold (full): not timed. */
    issueFailed?: number;
    cannotSee: string;
  } | null;
}

const STAT_CANNOT_SEE = 'the path of a call still in flight (it is recorded when the call returns), calls begun before the detector attached, 32-bit (compat) calls';
const IO_CANNOT_SEE =
  "requests issued before the detector attached; the task that dirtied page-cache data written back later (the submitter of writeback is the flusher); a front-merged request's submitter";

/** Records kept for pids that exited a moment ago, so a slow call reported after the exit still names its program. */
const RECENT_EXITS = 4096;

export class LatencyDetector {
  readonly status: LatencyStatus;
  private readonly out: ProcessRecord[] = [];
  private readonly lines: string[] = [];
  private readonly recent = new Map<number, ProcInfo>();
  private bt: Bpftrace | null = null;
  private hist: Record<string, HistBucket[]> = {};
  private maxNs: Record<string, number> = {};
  private readonly devNames = new Map<string, string | null>();
  /** Wall-clock µs minus CLOCK_MONOTONIC µs (bpftrace's nsecs is CLOCK_MONOTONIC, like process.hrtime). */
  private readonly wallMinusMonoUs = Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n);

  private constructor(
    readonly opts: LatencyOptions,
    private readonly env: LatencyEnv,
    private readonly statCalls: StatCall[],
  ) {
    const absent = STAT_CALLS.filter((c) => !statCalls.includes(c)).map((c) => c.name);
    this.status = {
      backend: 'bpftrace',
      bpftracePid: null,
      probes: 0,
      lost: 0,
      malformed: 0,
      firstMalformed: null,
      staleKilled: [],
      ended: null,
      stat: opts.stat ? { thresholdMs: opts.stat.thresholdNs / 1e6, calls: statCalls.map((c) => c.call), absent, slow: 0, inProgress: 0, unresolved: 0, cannotSee: STAT_CANNOT_SEE } : null,
      io: opts.io ? { thresholdMs: opts.io.thresholdNs / 1e6, submitter: 'none', slow: 0, submitterUnknown: 0, devices: [], histogramAtUs: null, cannotSee: IO_CANNOT_SEE } : null,
    };
  }

  /** Start bpftrace; rejects with a one-line reason (bpftrace missing, refused, no tracepoints). */
  static async start(opts: LatencyOptions, env: LatencyEnv): Promise<LatencyDetector> {
    const choice = opts.statBackend ?? statBackendChoice();
    const has = (sys: string, ev: string) => env.host.exists(`${env.tracefs}/events/${sys}/${ev}/format`);
    if (opts.io && !(has('block', BLOCK_EVENTS.issue) && has('block', BLOCK_EVENTS.complete))) throw new Error('block:block_rq_issue / block_rq_complete do not exist on this kernel');
    // Slow stats: the raw_tp backend first (unless bpftrace was chosen); auto falls back to bpftrace and says why.
    let raw: RawStat | null = null;
    let note: string | null = null;
    if (opts.stat && choice !== 'bpftrace') {
      try {
        raw = RawStat.open(opts.stat.thresholdNs, opts.statRingBytes);
        note = choice === 'auto' ? 'auto: native/bpfstat loaded' : `${STAT_BACKEND_ENV}=raw_tp`;
      } catch (e) {
        const why = (e as Error).message.split('\n')[0]!;
        if (choice === 'raw_tp') throw new Error(`raw_tp backend (${STAT_BACKEND_ENV}=raw_tp): ${why}`);
        note = `auto: raw_tp backend unavailable (${why})`;
      }
    } else if (opts.stat) note = `${STAT_BACKEND_ENV}=bpftrace`;
    try {
      const btStat = raw ? null : opts.stat;
      const calls = raw ? raw.calls : btStat ? STAT_CALLS.filter((c) => has('syscalls', `sys_enter_${c.name}`) && has('syscalls', `sys_exit_${c.name}`)) : [];
      if (btStat && calls.length === 0) throw new Error(`no stat-family syscall tracepoints on this kernel (syscalls:sys_enter_newfstatat, _statx … absent)${note ? `; ${note}` : ''}`);
      const d = new LatencyDetector(opts, env, calls);
      d.raw = raw;
      if (opts.stat) {
        d.status.statBackend = raw ? 'raw_tp' : 'bpftrace';
        d.status.statBackendNote = note;
      }
      if (raw) {
        d.status.backend = 'raw_tp';
        d.status.progIds = raw.progIds;
        d.status.exitAttach = raw.exitAttach;
        d.rawTimer = setInterval(() => {
          try {
            d.takeRaw();
          } catch (e) {
            // Not expected (the fds are ours); say it in status rather than crash the recorder.
            d.status.ended ??= `raw_tp backend: ${(e as Error).message.split('\n')[0]}`;
          }
        }, RAW_TAKE_MS);
        d.rawTimer.unref();
      }
      if (!btStat && !opts.io) return d;
      const found = findBpftrace();
      if ('missing' in found) throw new Error(`${found.missing}${note && btStat ? `; ${note}` : ''}`);
      const version = bpftraceVersion(found.path);
      d.status.backend = `bpftrace ${version ?? '(version unknown)'}`;
      // A predecessor killed where pdeathsig could not reach its bpftrace: end that first.
      for (const pid of staleBpftrace(markerPrefix(env.name), (pid) => env.ownerAlive(pid))) {
        try {
          process.kill(pid, 'SIGKILL');
          d.status.staleKilled.push(pid);
        } catch {
          /* gone meanwhile */
        }
      }
      const blockStart = Boolean(opts.io) && has('block', BLOCK_EVENTS.start);
      if (d.status.io) d.status.io.submitter = blockStart ? 'block_io_start' : 'none';
      const program = latencyProgram({ marker: programMarker(env.name, env.ownerPid), stat: btStat, statCalls: btStat ? calls : [], io: opts.io, blockStart });
      d.bt = await Bpftrace.start({
        program,
        strlen: 200,
        lineBuffered: true,
        readyPrintf: READY,
        env: { BPFTRACE_MAP_KEYS_MAX: String(opts.mapKeysMax ?? MAP_KEYS_MAX) },
        onPrintf: (t) => d.onPrintf(t),
        onRecord: (type, data) => d.onRecord(type, data),
      });
      d.status.bpftracePid = d.bt.pid;
      d.status.probes = d.bt.status.probes;
      void d.bt.whenExited().then((x) => {
        if (!d.stopping) d.status.ended = `bpftrace exited (${x.signal ?? `code ${x.code}`})${d.bt?.stderr ? `: ${d.bt.stderr.split('\n')[0]}` : ''}`;
      });
      return d;
    } catch (e) {
      raw?.close();
      throw e;
    }
  }

  private raw: RawStat | null = null;
  private rawTimer: NodeJS.Timeout | null = null;
  /** Slow calls taken from the ring, waiting for the poll's cutoff (with the directory a relative path names, read as they arrived). */
  private readonly rawPending: Array<{ s: SlowStat; base: string | null | undefined }> = [];
  private lastInFlightNs = 0;
  private forgotten = 0;
  private rawMalformed = 0;

  /** Take the ring's records now (a relative path's directory is read while the caller likely still runs), and every IN_FLIGHT_MS the calls in flight. */
  private takeRaw(): void {
    const raw = this.raw;
    if (!raw) return;
    const buf = raw.take();
    for (let off = 0; off + RAW_REC_BYTES <= buf.length; off += RAW_REC_BYTES) {
      const st = parseRawStat(buf, off, raw.byId);
      if (!st) {
        this.rawMalformed++;
        continue;
      }
      const base = !st.path.startsWith('/') && this.rawPending.length < 10_000 ? this.dirOf(st.tid, st.dfd) : undefined;
      this.rawPending.push({ s: st, base });
    }
    const now = Number(process.hrtime.bigint());
    if (now - this.lastInFlightNs >= IN_FLIGHT_MS * 1e6) {
      this.lastInFlightNs = now;
      const fl = raw.inFlight();
      const calls: Array<{ pid: number; tid: number; startNs: number }> = [];
      // Every thread that made a watched call keeps its entry (idle: start 0); an exited thread's is removed here.
      const gone: Buffer[] = [];
      for (let off = 0; off + RAW_INFLIGHT_BYTES <= fl.length; off += RAW_INFLIGHT_BYTES) {
        const c = parseRawInFlight(fl, off, raw.byId);
        if (c && c.startNs > 0) calls.push(c);
        const pid = fl.readUInt32LE(off + 4);
        const tid = fl.readUInt32LE(off);
        if (gone.length < MAX_FORGET && !this.env.host.exists(`/proc/${pid}/task/${tid}`)) gone.push(fl.subarray(off, off + 8));
      }
      if (gone.length) this.forgotten += raw.forget(Buffer.concat(gone));
      if (this.status.stat) {
        this.status.stat.tracked = fl.length / RAW_INFLIGHT_BYTES - gone.length;
        this.status.stat.forgotten = this.forgotten;
      }
      this.onInFlightCalls(calls, now);
    }
  }

  private stopping = false;
  /** The directory a relative path was resolved against, read as its line arrived (the caller may be gone by the poll). */
  private readonly bases = new Map<string, string | null>();

  private onPrintf(text: string): void {
    this.lines.push(text);
    const s = text.startsWith('S ') ? parseStatLine(text, this.statCalls) : null;
    if (s && !s.path.startsWith('/') && this.bases.size < 10_000) this.bases.set(text, this.dirOf(s.tid, s.dfd));
  }

  private dirOf(tid: number, dfd: number): string | null {
    return this.env.host.readLink(`/proc/${tid}/${dfd === AT_FDCWD ? 'cwd' : `fd/${dfd}`}`);
  }

  private onRecord(type: string, data: unknown): void {
    const d = data as Record<string, unknown> | null;
    if (!d || typeof d !== 'object') return;
    if (type === 'map' && d['@s'] && typeof d['@s'] === 'object') return this.onInFlight(d['@s'] as Record<string, unknown>);
    // Enters and issues the full maps refused (their calls and requests are not timed), printed every
    // second and once more at exit; the counts only grow.
    if (type === 'map' && typeof d['@full'] === 'number' && this.status.stat && !this.raw) this.status.stat.startFailed = Math.max(this.status.stat.startFailed ?? 0, d['@full']);
    if (type === 'map' && typeof d['@iofull'] === 'number' && this.status.io) this.status.io.issueFailed = Math.max(this.status.io.issueFailed ?? 0, d['@iofull']);
    if (type === 'hist' && d['@lat'] && typeof d['@lat'] === 'object') this.hist = d['@lat'] as Record<string, HistBucket[]>;
    else if (type === 'map' && d['@max'] && typeof d['@max'] === 'object') {
      this.maxNs = d['@max'] as Record<string, number>;
      this.refreshDevices();
    }
  }

  /** Calls in flight (tid → [enter ns, filename pointer, dirfd]): one past the threshold is recorded once, while it lasts. */
  private onInFlight(m: Record<string, unknown>): void {
    const calls: Array<{ pid: number | null; tid: number; startNs: number }> = [];
    for (const [tidText, v] of Object.entries(m)) {
      const ts = Array.isArray(v) ? Number(v[0]) : NaN;
      const tid = Number(tidText);
      if (!Number.isSafeInteger(tid) || !Number.isFinite(ts) || ts <= 0) continue;
      calls.push({ pid: null, tid, startNs: ts });
    }
    this.onInFlightCalls(calls, Number(process.hrtime.bigint()));
  }

  /** Calls in flight (pid null: read from /proc): one past the threshold is recorded once, while it lasts. */
  private onInFlightCalls(calls: Array<{ pid: number | null; tid: number; startNs: number }>, now: number): void {
    if (!this.opts.stat || !this.status.stat) return;
    const seen = new Set<string>();
    for (const c of calls) {
      const key = `${c.tid}:${c.startNs}`;
      seen.add(key);
      if (this.inFlightReported.has(key) || now - c.startNs < this.opts.stat.thresholdNs) continue;
      this.inFlightReported.add(key);
      this.status.stat.inProgress++;
      const tgid = c.pid ?? Number(/^Tgid:\s+(\d+)/m.exec(this.env.host.readHead(`/proc/${c.tid}/status`, 512) ?? '')?.[1] ?? c.tid);
      const comm = this.env.host.readHead(`/proc/${c.tid}/comm`, 64)?.trim() ?? '';
      this.out.push(this.record('slow_stat', c.startNs, tgid, c.tid, comm, inProgressDetail(now - c.startNs)));
    }
    for (const k of this.inFlightReported) if (!seen.has(k)) this.inFlightReported.delete(k);
  }

  private readonly inFlightReported = new Set<string>();

  private refreshDevices(): void {
    if (!this.status.io) return;
    this.status.io.devices = deviceLatencies(this.hist, this.maxNs, (ma, mi) => this.devName(ma, mi));
    this.status.io.histogramAtUs = Date.now() * 1000;
  }

  /** sda, nvme0n1p2, loop3: the name /sys/dev/block/MAJ:MIN links to. */
  private devName(major: number, minor: number): string | null {
    const key = `${major}:${minor}`;
    if (!this.devNames.has(key)) {
      const link = this.env.host.readLink(`/sys/dev/block/${key}`);
      const name = link ? link.slice(link.lastIndexOf('/') + 1) : null;
      if (this.devNames.size < 4096) this.devNames.set(key, name);
      return name;
    }
    return this.devNames.get(key)!;
  }

  /** The recorder's exit records of this tick: their process stays nameable for a while. */
  noteRecords(records: ProcessRecord[]): void {
    for (const r of records) {
      if (r.type !== 'exit' && r.type !== 'signal') continue;
      this.recent.delete(r.pid);
      this.recent.set(r.pid, { program: r.program, comm: r.comm, domainId: r.domainId, ppid: r.ppid, pstartUs: r.pstartUs, ppstartUs: r.ppstartUs, uid: r.uid });
      if (this.recent.size > RECENT_EXITS) this.recent.delete(this.recent.keys().next().value!);
    }
  }

  /**
   * The records made from what bpftrace printed, up to `holdMs` ago (CLOCK_MONOTONIC): the
   * recorder's model handles its kernel events that late, and a slow call's exec must be known
   * first to name its program. `final` takes everything.
   */
  poll(holdMs: number, final = false): ProcessRecord[] {
    const cutoff = final ? Infinity : Number(process.hrtime.bigint()) - (holdMs + 20) * 1e6;
    this.takeRaw();
    this.rawStats();
    if (this.bt) {
      this.status.lost = this.bt.status.lost + this.rawLost;
      this.status.malformed = this.bt.status.malformed + this.rawMalformed;
      this.status.firstMalformed = this.bt.status.firstMalformed ?? null;
    } else {
      this.status.lost = this.rawLost;
      this.status.malformed = this.rawMalformed;
    }
    // Ring records are in reservation order, not exit order across CPUs: the same cutoff as for lines.
    const keepRaw = [];
    for (const p of this.rawPending.splice(0)) {
      if (p.s.endNs > cutoff) keepRaw.push(p);
      else this.onSlowStat(p.s, p.base);
    }
    this.rawPending.push(...keepRaw);
    // Lines arrive in kernel order per CPU only: take every line at or before the cutoff.
    const keep: string[] = [];
    for (const line of this.lines.splice(0)) {
      const end = Number((/^S \d+ (\d+) /.exec(line) ?? /^B (\d+) /.exec(line))?.[1] ?? 0);
      if (end > cutoff) {
        keep.push(line);
        continue;
      }
      if (line.startsWith('S ')) this.onStat(line);
      else if (line.startsWith('B ')) this.onIo(line);
      else this.malformedLine(line);
    }
    this.lines.push(...keep);
    return this.out.splice(0);
  }

  private malformedLine(line: string): void {
    this.status.malformed++;
    this.status.firstMalformed ??= line.slice(0, 200);
  }

  private proc(pid: number): ProcInfo | null {
    return this.env.procOf(pid) ?? this.recent.get(pid) ?? null;
  }

  private onStat(line: string): void {
    const s = parseStatLine(line, this.statCalls);
    if (!s || !this.status.stat) return this.malformedLine(line);
    const early = this.bases.get(line);
    this.bases.delete(line);
    this.onSlowStat(s, early);
  }

  private rawLost = 0;
  /** The raw_tp backend's kernel counters into the status (lost: ring reservations that failed). */
  private rawStats(): void {
    if (!this.raw || !this.status.stat) return;
    const c = this.raw.stats();
    if (!c) return;
    this.rawLost = c.lost;
    Object.assign(this.status.stat, {
      timed: c.calls,
      unpaired: c.unpaired,
      startFailed: c.startFailed,
      p50Us: usOf(log2PercentileNs(c.hist, 0.5)),
      p99Us: usOf(log2PercentileNs(c.hist, 0.99)),
    });
  }

  private onSlowStat(s: SlowStat, early: string | null | undefined): void {
    if (!this.status.stat) return;
    this.status.stat.slow++;
    if (s.pathUnread) this.status.stat.pathsUnread = (this.status.stat.pathsUnread ?? 0) + 1;
    if (s.pathCut) this.status.stat.pathsCut = (this.status.stat.pathsCut ?? 0) + 1;
    const resolved = resolvedPath(s.path, s.dfd, () => early ?? this.dirOf(s.tid, s.dfd));
    if (resolved === null) this.status.stat.unresolved++;
    this.out.push(this.record('slow_stat', s.endNs - s.durationNs, s.pid, s.tid, s.comm, statDetail(s, resolved)));
  }

  private onIo(line: string): void {
    const r = parseIoLine(line);
    if (!r || !this.status.io) return this.malformedLine(line);
    this.status.io.slow++;
    if (!r.pid) this.status.io.submitterUnknown++;
    this.out.push(this.record('slow_io', r.endNs - r.latencyNs, r.pid, r.pid, r.comm, ioDetail(r, this.devName(r.major, r.minor))));
  }

  private record(type: 'slow_stat' | 'slow_io', startMonoNs: number, pid: number, tid: number, comm: string, detail: string): ProcessRecord {
    const p = pid ? this.proc(pid) : null;
    return newRecord({
      id: this.env.store.nextId(),
      type,
      timeUs: Math.round(startMonoNs / 1000 + this.wallMinusMonoUs),
      pid,
      tid,
      ppid: p?.ppid ?? 0,
      pstartUs: p?.pstartUs ?? 0,
      ppstartUs: p?.ppstartUs ?? null,
      uid: p?.uid ?? null,
      program: p?.program ?? null,
      comm: comm || p?.comm || '',
      domainId: p?.domainId ?? this.env.store.root,
      detail,
    });
  }

  /** End bpftrace (SIGINT: it prints its last histograms) and the raw_tp programs (detached, ring drained), then take what they gave. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.closeRaw();
    await this.bt?.stop();
    this.refreshDevices();
  }

  /** Take the ring's last records and counters, then detach and close every fd. */
  private closeRaw(): void {
    if (this.rawTimer) clearInterval(this.rawTimer);
    this.rawTimer = null;
    if (!this.raw) return;
    try {
      this.takeRaw();
      this.rawStats();
    } finally {
      this.raw.close();
    }
  }

  /** Last resort (crash path): SIGINT now, without waiting; pdeathsig covers the rest. The raw_tp fds are closed now (and by the kernel at exit in any case). */
  abort(): void {
    this.stopping = true;
    if (this.rawTimer) clearInterval(this.rawTimer);
    this.raw?.close();
    void this.bt?.stop(500);
  }
}

function usOf(ns: number | null): number | null {
  return ns === null ? null : Math.max(1, Math.round(ns / 1000));
}

/** The `slow_stat` line of `record status`: which backend times the calls (and why), what it recorded and lost. */
export function slowStatText(l: LatencyStatus): string {
  const s = l.stat!;
  const raw = l.statBackend === 'raw_tp';
  const who = raw ? `raw_tp sys_enter, ${l.exitAttach ?? 'raw_tp'} sys_exit (native/bpfstat, BPF programs ${(l.progIds ?? []).join(', ')})` : `${l.backend} (pid ${l.bpftracePid ?? '-'})`;
  const timed =
    raw && s.timed !== undefined
      ? `; ${s.timed} calls timed in the kernel (p50 <= ${us(s.p50Us ?? null)}, p99 <= ${us(s.p99Us ?? null)}), ${s.unpaired ?? 0} unpaired, ${s.tracked ?? 0} threads tracked${s.startFailed ? ` (${s.startFailed} starts not stored: map full)` : ''}`
      : s.startFailed
        ? `; ${s.startFailed} calls not timed (map of calls full)`
        : '';
  const paths = `${s.pathsUnread ? `, ${s.pathsUnread} paths unreadable` : ''}${s.pathsCut ? `, ${s.pathsCut} paths cut at ${RAW_PATH_BYTES - 1} bytes` : ''}`;
  return (
    `${who}: ${s.calls.join(', ')} slower than ${s.thresholdMs} ms; ${s.slow} recorded, ${s.inProgress ?? 0} seen still in flight${s.unresolved ? ` (${s.unresolved} relative paths not resolved: the caller was gone)` : ''}${paths}, ${l.lost} lost` +
    `${timed}${s.absent.length ? `; absent: ${s.absent.join(', ')}` : ''}${l.ended ? `; ${l.ended}` : ''}${l.statBackendNote ? `; backend: ${l.statBackendNote}` : ''}; cannot see: ${s.cannotSee}`
  );
}

function us(v: number | null): string {
  return v === null ? '-' : v >= 1000 ? msText(v * 1000) : `${v} µs`;
}

/** The `slow_io` lines of `record status` (per device: requests, p50, p99 as log2 bucket bounds, exact max). */
export function slowIoText(l: LatencyStatus): string {
  const s = l.io!;
  const head = `${l.backend}: block_rq_issue -> block_rq_complete slower than ${s.thresholdMs} ms; ${s.slow} recorded (${s.submitterUnknown} without a submitter), ${l.lost} lost${s.issueFailed ? `, ${s.issueFailed} requests not timed (map of requests full)` : ''}; submitter from ${s.submitter}${l.ended ? `; ${l.ended}` : ''}`;
  const devs = s.devices.map((d) => `${d.dev}${d.name ? ` ${d.name}` : ''}: ${d.requests} requests, p50 <= ${us(d.p50Us)}, p99 <= ${us(d.p99Us)}, max ${us(d.maxUs)}`);
  return [head, ...devs, `cannot see: ${s.cannotSee}`].join('\n           ');
}

/** How often the ring is emptied (ms): its 256 KiB hold ~770 slow calls; a relative path's directory is read while the caller likely still runs. */
const RAW_TAKE_MS = 100;
const DEFAULT_RING_BYTES = 256 * 1024;
const START_ENTRIES = 65536;
/** Exited threads' entries removed per scan at most (one /proc lookup each). */
const MAX_FORGET = 20_000;

/** The raw_tp backend (native/bpfstat): the addon's handle, the watched calls by syscall id. */
class RawStat {
  private closed = false;
  private constructor(
    private readonly mod: BpfstatAddon,
    private readonly handle: object,
    readonly calls: StatCall[],
    readonly byId: ReadonlyMap<number, StatCall>,
    readonly progIds: number[],
    readonly exitAttach: 'tp_btf' | 'raw_tp',
  ) {}

  /** Loads and attaches both programs; throws one line (the addon missing, EPERM, the verifier's words). */
  static open(thresholdNs: number, ringBytes = DEFAULT_RING_BYTES): RawStat {
    const loaded = loadBpfstat();
    if ('error' in loaded) throw new Error(loaded.error);
    const mod = loaded.mod;
    if (mod.REC_BYTES !== RAW_REC_BYTES || mod.INFLIGHT_BYTES !== RAW_INFLIGHT_BYTES || mod.PATH_BYTES !== RAW_PATH_BYTES)
      throw new Error('native/bpfstat is a different build (record layout differs): rebuild it (node scripts/build-native.mjs)');
    const calls = STAT_CALLS.filter((c) => (mod.CALL_IDS[c.name] ?? -1) >= 0);
    if (calls.length === 0) throw new Error('native/bpfstat knows no stat-family syscall ids on this architecture');
    const o = mod.open({ calls: calls.map((c) => c.name), thresholdNs, entries: START_ENTRIES, ringBytes });
    return new RawStat(mod, o.handle, calls, new Map(calls.map((c) => [mod.CALL_IDS[c.name]!, c])), o.progIds, o.exitAttach);
  }

  take(): Buffer {
    return this.closed ? Buffer.alloc(0) : this.mod.take(this.handle);
  }

  inFlight(): Buffer {
    return this.closed ? Buffer.alloc(0) : this.mod.inFlight(this.handle);
  }

  /** Removes the entries of these pid_tgid keys (u64 each); how many were there. */
  forget(keys: Buffer): number {
    return this.closed ? 0 : this.mod.forget(this.handle, keys);
  }

  stats(): ReturnType<BpfstatAddon['stats']> | null {
    return this.closed ? null : this.mod.stats(this.handle);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mod.close(this.handle);
  }
}
