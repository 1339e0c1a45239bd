/**
 * The latency detector: slow stat-family calls and slow block requests, paired in the kernel by
 * one bpftrace program (src/common/bpftrace.ts runs it), turned into `slow_stat` / `slow_io`
 * records on the recorder's tick. Started after the recorder (bpftrace attaches asynchronously);
 * a recorder asked for it does not run without it. Every read of /proc and /sys goes through the Host.
 */
import { Bpftrace, bpftraceVersion, findBpftrace, staleBpftrace } from '../../common/bpftrace.js';
import type { Host } from '../../host/host.js';
import type { ProcessRecord } from '../process/model.js';
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
} from './core.js';

export interface LatencyOptions {
  stat: SlowStatOptions | null;
  io: SlowIoOptions | null;
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
  backend: string;
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
    cannotSee: string;
  } | null;
  io: {
    thresholdMs: number;
    submitter: 'block_io_start' | 'none';
    slow: number;
    submitterUnknown: number;
    devices: DeviceLatency[];
    histogramAtUs: number | null;
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
    const found = findBpftrace();
    if ('missing' in found) throw new Error(found.missing);
    const has = (sys: string, ev: string) => env.host.exists(`${env.tracefs}/events/${sys}/${ev}/format`);
    const calls = opts.stat ? STAT_CALLS.filter((c) => has('syscalls', `sys_enter_${c.name}`) && has('syscalls', `sys_exit_${c.name}`)) : [];
    if (opts.stat && calls.length === 0) throw new Error('no stat-family syscall tracepoints on this kernel (syscalls:sys_enter_newfstatat, _statx … absent)');
    if (opts.io && !(has('block', BLOCK_EVENTS.issue) && has('block', BLOCK_EVENTS.complete))) throw new Error('block:block_rq_issue / block_rq_complete do not exist on this kernel');
    const d = new LatencyDetector(opts, env, calls);
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
    const program = latencyProgram({ marker: programMarker(env.name, env.ownerPid), stat: opts.stat, statCalls: calls, io: opts.io, blockStart });
    d.bt = await Bpftrace.start({
      program,
      strlen: 200,
      lineBuffered: true,
      readyPrintf: READY,
      env: { BPFTRACE_MAP_KEYS_MAX: String(MAP_KEYS_MAX) },
      onPrintf: (t) => d.onPrintf(t),
      onRecord: (type, data) => d.onRecord(type, data),
    });
    d.status.bpftracePid = d.bt.pid;
    d.status.probes = d.bt.status.probes;
    void d.bt.whenExited().then((x) => {
      if (!d.stopping) d.status.ended = `bpftrace exited (${x.signal ?? `code ${x.code}`})${d.bt?.stderr ? `: ${d.bt.stderr.split('\n')[0]}` : ''}`;
    });
    return d;
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
    if (type === 'hist' && d['@lat'] && typeof d['@lat'] === 'object') this.hist = d['@lat'] as Record<string, HistBucket[]>;
    else if (type === 'map' && d['@max'] && typeof d['@max'] === 'object') {
      this.maxNs = d['@max'] as Record<string, number>;
      this.refreshDevices();
    }
  }

  /** Calls in flight (tid → [enter ns, filename pointer, dirfd]): one past the threshold is recorded once, while it lasts. */
  private onInFlight(m: Record<string, unknown>): void {
    if (!this.opts.stat || !this.status.stat) return;
    const now = Number(process.hrtime.bigint());
    const seen = new Set<string>();
    for (const [tidText, v] of Object.entries(m)) {
      const ts = Array.isArray(v) ? Number(v[0]) : NaN;
      const tid = Number(tidText);
      if (!Number.isSafeInteger(tid) || !Number.isFinite(ts) || ts <= 0) continue;
      const key = `${tid}:${ts}`;
      seen.add(key);
      if (this.inFlightReported.has(key) || now - ts < this.opts.stat.thresholdNs) continue;
      this.inFlightReported.add(key);
      this.status.stat.inProgress++;
      const tgid = Number(/^Tgid:\s+(\d+)/m.exec(this.env.host.readHead(`/proc/${tid}/status`, 512) ?? '')?.[1] ?? tid);
      const comm = this.env.host.readHead(`/proc/${tid}/comm`, 64)?.trim() ?? '';
      this.out.push(this.record('slow_stat', ts, tgid, tid, comm, inProgressDetail(now - ts)));
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
    if (this.bt) {
      this.status.lost = this.bt.status.lost;
      this.status.malformed = this.bt.status.malformed;
      this.status.firstMalformed = this.bt.status.firstMalformed ?? null;
    }
    const cutoff = final ? Infinity : Number(process.hrtime.bigint()) - (holdMs + 20) * 1e6;
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
    this.status.stat.slow++;
    const early = this.bases.get(line);
    this.bases.delete(line);
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
    return {
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
      detail,
      parentComm: null,
    };
  }

  /** End bpftrace (SIGINT: it prints its last histograms), then take what it printed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.bt?.stop();
    this.refreshDevices();
  }

  /** Last resort (crash path): SIGINT now, without waiting; pdeathsig covers the rest. */
  abort(): void {
    this.stopping = true;
    void this.bt?.stop(500);
  }
}

/** The `slow_stat` line of `record status`. */
export function slowStatText(l: LatencyStatus): string {
  const s = l.stat!;
  return `${l.backend} (pid ${l.bpftracePid ?? '-'}): ${s.calls.join(', ')} slower than ${s.thresholdMs} ms; ${s.slow} recorded, ${s.inProgress ?? 0} seen still in flight${s.unresolved ? ` (${s.unresolved} relative paths not resolved: the caller was gone)` : ''}, ${l.lost} lost${s.absent.length ? `; absent: ${s.absent.join(', ')}` : ''}${l.ended ? `; ${l.ended}` : ''}; cannot see: ${s.cannotSee}`;
}

function us(v: number | null): string {
  return v === null ? '-' : v >= 1000 ? msText(v * 1000) : `${v} µs`;
}

/** The `slow_io` lines of `record status` (per device: requests, p50, p99 as log2 bucket bounds, exact max). */
export function slowIoText(l: LatencyStatus): string {
  const s = l.io!;
  const head = `${l.backend}: block_rq_issue -> block_rq_complete slower than ${s.thresholdMs} ms; ${s.slow} recorded (${s.submitterUnknown} without a submitter), ${l.lost} lost; submitter from ${s.submitter}${l.ended ? `; ${l.ended}` : ''}`;
  const devs = s.devices.map((d) => `${d.dev}${d.name ? ` ${d.name}` : ''}: ${d.requests} requests, p50 <= ${us(d.p50Us)}, p99 <= ${us(d.p99Us)}, max ${us(d.maxUs)}`);
  return [head, ...devs, `cannot see: ${s.cannotSee}`].join('\n           ');
}
