/**
 * The tracing engine's edge: find (or mount) tracefs, own a private instance
 * (`instances/lantern.<name>.<pid>`), enable exactly the events asked for, read the per-CPU
 * binary pipes without blocking, and clean up, including instances left behind by a
 * predecessor killed with SIGKILL. The global buffer and other instances are never touched.
 *
 * Reads of tracefs text files go through the Host; control writes (mkdir, echo 1 > enable)
 * are here because the Host is deliberately read-only.
 */
import { procPid } from '../../common/proc-pid.js';
import { closeSync, constants as fsc, mkdirSync, openSync, readSync, rmdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { posix } from 'node:path';
import { CliError, EXIT } from '../../common/exit.js';
import { Host } from '../../host/host.js';
import { compileDecoder, decodePage, type DecodedEvent, type EventType, type PageResult } from './decode.js';
import { parseEventFormat, parseHeaderEvent, parseHeaderPage, type EventFormat, type EventHeaderLayout, type PageLayout } from './format.js';

export const TRACEFS_CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const INSTANCE_PREFIX = 'lantern.';
/** Names end up in a directory name: keep them to a safe alphabet. */
export const INSTANCE_NAME_RE = /^[A-Za-z0-9_-]{1,40}$/;

export interface EventSpec {
  system: string;
  event: string;
  /** An ftrace filter expression, set in our instance only. */
  filter?: string;
  /** When true, a missing event is tolerated (the caller has a fallback). */
  optional?: boolean;
}

export interface InstanceOptions {
  /** Recorder name; the instance directory is `lantern.<name>.<pid>`. */
  name: string;
  /** Per-CPU ring buffer size in KiB. */
  bufferKb: number;
  events: EventSpec[];
  /**
   * Trace clock (default `boot`, CLOCK_BOOTTIME: global across CPUs, counts suspend, and is the
   * clock of /proc/<pid>/stat starttime; `mono` where the kernel has no `boot`).
   */
  clock?: string;
  /** Tracefs mount point; found (or mounted) when absent. */
  tracefs?: string;
  host?: Host;
  /** Owner pid written into the instance name (default: this process). */
  ownerPid?: number;
}

export interface CpuStats {
  cpu: number;
  entries: number;
  overrun: number;
  commitOverrun: number;
  dropped: number;
  readEvents: number;
}

/** Find a mounted tracefs; mount it at /sys/kernel/tracing when none is. */
export function findTracefs(host = new Host(), allowMount = true): string {
  for (const dir of TRACEFS_CANDIDATES) if (host.exists(posix.join(dir, 'instances'))) return dir;
  if (allowMount && host.isDirectory('/sys/kernel/tracing')) {
    // Fixed arguments only: nothing from event data reaches this command.
    spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore', timeout: 10_000 });
    if (host.exists('/sys/kernel/tracing/instances')) return '/sys/kernel/tracing';
  }
  throw new CliError(`tracefs is not available (looked in ${TRACEFS_CANDIDATES.join(', ')}; mount -t tracefs nodev /sys/kernel/tracing failed or the kernel lacks CONFIG_FTRACE)`, EXIT.UNAVAILABLE);
}

export function requireRoot(): void {
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
    throw new CliError('recording needs root (tracefs instances and per-CPU buffers are root-only)', EXIT.NOPERM);
  }
}

export function instanceDirName(name: string, pid: number): string {
  return `${INSTANCE_PREFIX}${name}.${pid}`;
}

/** Parse `lantern.<name>.<pid>`; null for anything else (other tools' instances are not ours). */
export function parseInstanceDirName(dir: string): { name: string; pid: number } | null {
  const m = /^lantern\.([A-Za-z0-9_-]{1,40})\.(\d{1,10})$/.exec(dir);
  return m ? { name: m[1]!, pid: Number(m[2]) } : null;
}

/** Is `pid` a live process that looks like a Lantern recorder (node or lantern in its command line)? */
export function isLiveRecorder(host: Host, pid: number): boolean {
  const r = host.readText(`/proc/${pid}/cmdline`);
  if (!r.ok) return false;
  const cmd = r.text.replace(/\0/g, ' ');
  return /\bnode(js)?\b|lantern/.test(cmd);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writeControl(path: string, value: string): void {
  writeFileSync(path, value);
}

function tryWrite(path: string, value: string): void {
  try {
    writeControl(path, value);
  } catch {
    /* best effort during teardown */
  }
}

/** Stop and remove one instance directory; retries while the kernel reports it busy. */
export function removeInstanceDir(dir: string): boolean {
  tryWrite(posix.join(dir, 'tracing_on'), '0');
  tryWrite(posix.join(dir, 'events/enable'), '0');
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rmdirSync(dir);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY') return false;
      sleepSync(50);
    }
  }
  return false;
}

/**
 * Remove instances left by recorders that no longer run (killed with SIGKILL, crashed).
 * Returns the directory names removed. Refuses to start over a live recorder of the same name.
 */
// The instance is named with procPid() (common/proc-pid.ts): with process.pid, in a pid namespace, it
// looked to a recorder outside like the instance of a dead process and was removed under a live recorder.
export { procPid };

export function cleanStaleInstances(tracefs: string, name: string, host: Host, selfPid = procPid()): string[] {
  const list = host.list(posix.join(tracefs, 'instances'));
  if (!list.ok) return [];
  const removed: string[] = [];
  for (const entry of list.entries) {
    const owner = parseInstanceDirName(entry);
    if (!owner || owner.pid === selfPid) continue;
    if (isLiveRecorder(host, owner.pid)) {
      if (owner.name === name) {
        throw new CliError(`a recorder named "${name}" is already running as pid ${owner.pid} (instance ${entry})`, EXIT.UNAVAILABLE);
      }
      continue;
    }
    if (removeInstanceDir(posix.join(tracefs, 'instances', entry))) removed.push(entry);
  }
  return removed;
}

export class TraceInstance {
  readonly dir: string;
  readonly dirName: string;
  readonly cpus: number[];
  readonly pageLayout: PageLayout;
  readonly headerLayout: EventHeaderLayout;
  readonly pageSize: number;
  readonly formats = new Map<string, EventFormat>();
  readonly types = new Map<number, EventType>();
  /** Events asked for but absent on this kernel (only optional ones get here). */
  readonly missing: string[] = [];
  readonly staleRemoved: string[];
  private readonly fds = new Map<number, number>();
  private readonly page: Buffer;
  private destroyed = false;
  readonly tracefs: string;
  /** The trace clock in use (`boot` or `mono`). */
  clock = 'boot';

  private constructor(tracefs: string, dirName: string, opts: InstanceOptions, host: Host, staleRemoved: string[]) {
    this.tracefs = tracefs;
    this.dirName = dirName;
    this.dir = posix.join(tracefs, 'instances', dirName);
    this.staleRemoved = staleRemoved;
    const hp = host.readText(posix.join(tracefs, 'events/header_page'));
    const he = host.readText(posix.join(tracefs, 'events/header_event'));
    if (!hp.ok || !he.ok) throw new CliError(`tracefs at ${tracefs} has no events/header_page or header_event`, EXIT.UNAVAILABLE);
    this.pageLayout = parseHeaderPage(hp.text);
    this.headerLayout = parseHeaderEvent(he.text);
    this.pageSize = this.pageLayout.dataOffset + this.pageLayout.dataSize;
    this.page = Buffer.alloc(this.pageSize);
    const cpuList = host.list(posix.join(tracefs, 'per_cpu'));
    this.cpus = cpuList.ok
      ? cpuList.entries
          .filter((e) => /^cpu\d+$/.test(e))
          .map((e) => Number(e.slice(3)))
          .sort((a, b) => a - b)
      : [];
  }

  /** Create and configure the instance; on any failure the half-made instance is removed. */
  static create(opts: InstanceOptions): TraceInstance {
    if (!INSTANCE_NAME_RE.test(opts.name)) throw new CliError(`bad recorder name ${JSON.stringify(opts.name)}: use letters, digits, _ and - (at most 40)`, EXIT.USAGE);
    requireRoot();
    const host = opts.host ?? new Host();
    const tracefs = opts.tracefs ?? findTracefs(host);
    if (opts.tracefs && !host.exists(posix.join(tracefs, 'instances'))) {
      throw new CliError(`no tracefs at ${tracefs} (no instances/ directory)`, EXIT.UNAVAILABLE);
    }
    // Check every needed event before touching anything, and name the missing one.
    for (const ev of opts.events) {
      if (!ev.optional && !host.exists(posix.join(tracefs, 'events', ev.system, ev.event, 'format'))) {
        throw new CliError(`kernel event ${ev.system}/${ev.event} does not exist on this kernel (no ${tracefs}/events/${ev.system}/${ev.event})`, EXIT.UNAVAILABLE);
      }
    }
    const stale = cleanStaleInstances(tracefs, opts.name, host);
    const dirName = instanceDirName(opts.name, opts.ownerPid ?? procPid());
    const dir = posix.join(tracefs, 'instances', dirName);
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError(`cannot create tracefs instance ${dir}: ${(e as Error).message}`, EXIT.UNAVAILABLE);
    }
    const inst = new TraceInstance(tracefs, dirName, opts, host, stale);
    try {
      inst.configure(opts, host);
    } catch (e) {
      inst.destroy();
      throw e;
    }
    return inst;
  }

  private configure(opts: InstanceOptions, host: Host): void {
    const d = this.dir;
    writeControl(posix.join(d, 'tracing_on'), '0');
    const clocks = host.readValue(posix.join(d, 'trace_clock'));
    const offered = clocks.ok ? clocks.text.replace(/[[\]]/g, '').split(/\s+/) : [];
    this.clock = opts.clock ?? (offered.includes('boot') ? 'boot' : 'mono');
    writeControl(posix.join(d, 'trace_clock'), this.clock);
    writeControl(posix.join(d, 'buffer_size_kb'), String(Math.max(4, Math.floor(opts.bufferKb))));
    // Overwrite mode: when full, the oldest page goes and the reader is told how many events it lost.
    tryWrite(posix.join(d, 'options/overwrite'), '1');
    for (const ev of opts.events) {
      const evDir = posix.join(d, 'events', ev.system, ev.event);
      const fmt = host.readText(posix.join(evDir, 'format'));
      if (!fmt.ok) {
        if (ev.optional) {
          this.missing.push(`${ev.system}/${ev.event}`);
          continue;
        }
        throw new CliError(`kernel event ${ev.system}/${ev.event} does not exist on this kernel`, EXIT.UNAVAILABLE);
      }
      const format = parseEventFormat(fmt.text, `${ev.system}/${ev.event}/format`);
      this.formats.set(format.name, format);
      this.types.set(format.id, { name: format.name, decode: compileDecoder(format) });
      if (ev.filter) {
        try {
          writeControl(posix.join(evDir, 'filter'), ev.filter);
        } catch (e) {
          throw new CliError(`kernel rejected filter for ${ev.system}/${ev.event} (${ev.filter}): ${(e as Error).message}`, EXIT.UNAVAILABLE);
        }
      }
      writeControl(posix.join(evDir, 'enable'), '1');
    }
    for (const cpu of this.cpus) {
      const p = posix.join(d, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw');
      // Non-blocking: a timer drains the pipes, so no thread ever sits in a blocking read
      // and shutdown never waits on the kernel.
      this.fds.set(cpu, openSync(p, fsc.O_RDONLY | fsc.O_NONBLOCK));
    }
    writeControl(posix.join(d, 'tracing_on'), '1');
  }

  /**
   * Drain up to `maxPages` pages per CPU and decode them. Events of each CPU are in time
   * order; the caller merges CPUs. Loss markers and decode problems are returned, not thrown.
   */
  drain(out: DecodedEvent[], maxPages = 4096): { pages: number; results: Array<PageResult & { cpu: number }> } {
    const results: Array<PageResult & { cpu: number }> = [];
    let pages = 0;
    for (const [cpu, fd] of this.fds) {
      for (let i = 0; i < maxPages; i++) {
        let n: number;
        try {
          n = readSync(fd, this.page, 0, this.pageSize, null);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') break;
          throw e;
        }
        if (n <= 0) break;
        pages++;
        const r = decodePage(this.page, n, this.pageLayout, this.headerLayout, this.types, cpu, out);
        if (r.missed !== 0 || r.bad !== 0 || r.unknown !== 0) results.push({ ...r, cpu });
      }
    }
    return { pages, results };
  }

  /** Per-CPU counters from `per_cpu/cpuN/stats` (overrun = events overwritten before being read). */
  stats(host = new Host()): CpuStats[] {
    const out: CpuStats[] = [];
    for (const cpu of this.cpus) {
      const r = host.readText(posix.join(this.dir, 'per_cpu', `cpu${cpu}`, 'stats'));
      if (!r.ok) continue;
      out.push({ cpu, ...parseCpuStats(r.text) });
    }
    return out;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Close the pipes and remove the instance. Synchronous and idempotent: safe in signal and exit handlers. */
  destroy(): boolean {
    if (this.destroyed) return true;
    this.destroyed = true;
    for (const fd of this.fds.values()) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.fds.clear();
    return removeInstanceDir(this.dir);
  }
}

export function parseCpuStats(text: string): Omit<CpuStats, 'cpu'> {
  const get = (key: string): number => {
    const m = new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return {
    entries: get('entries'),
    overrun: get('overrun'),
    commitOverrun: get('commit overrun'),
    dropped: get('dropped events'),
    readEvents: get('read events'),
  };
}
