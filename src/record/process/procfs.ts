/**
 * Edges to /proc (through the Host): the start-up scan that reconstructs the existing tree,
 * uid lookup, liveness checks, and TOMOYO-style normalisation of exec'd file names.
 * Parsers are pure and exported for tests; the functions taking a Host do the reading.
 */
import { realpathSync } from 'node:fs';
import { posix } from 'node:path';
import type { Host } from '../../host/host.js';
import type { ScannedProcess } from './model.js';

export interface StatFields {
  pid: number;
  comm: string;
  ppid: number;
  /** Field 22: start time in clock ticks after boot. */
  startTicks: number;
}

/** Parse /proc/<pid>/stat. comm may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): StatFields | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, starttime field 22.
  const ppid = Number(rest[1]);
  const startTicks = Number(rest[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isFinite(startTicks)) return null;
  return { pid, comm: text.slice(open + 1, close), ppid, startTicks };
}

/** Real uid from /proc/<pid>/status. */
export function parseStatusUid(text: string): number | null {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * The recorder's clocks. The trace clock is `boot` (CLOCK_BOOTTIME), the clock of
 * /proc/<pid>/stat's starttime, so a traced start and a scanned start compare exactly.
 * Node reads only CLOCK_MONOTONIC (process.hrtime); the boot offset (time spent suspended)
 * is estimated from /proc/uptime, to 10 ms, which only matters for the hold-back cutoff
 * and for wall-clock display.
 */
export interface Clocks {
  /** Clock ticks per second (USER_HZ), 100 on every mainstream Linux. */
  ticksPerSec: number;
  /** Now, in trace-clock ns. */
  nowTs(): number;
  /** Trace-clock ns to wall-clock µs since the epoch. */
  toWallUs(ts: number): number;
  /** Re-anchor to the wall clock (after NTP steps) and the boot clock (after a suspend). */
  refresh(): void;
}

export class LiveClocks implements Clocks {
  readonly ticksPerSec = 100;
  private bootOffsetNs = 0;
  private wallOffsetUs = 0;
  /** `traceClock` is the instance's clock: with `mono` there is no boot offset to add. */
  constructor(
    private readonly host: Host,
    private readonly traceClock = 'boot',
  ) {
    this.refresh();
  }

  refresh(): void {
    const mono = Number(process.hrtime.bigint());
    const up = this.host.readValue('/proc/uptime');
    const uptimeNs = up.ok ? Number(up.text.split(/\s+/)[0]) * 1e9 : mono;
    const offset = this.traceClock === 'mono' ? 0 : Math.max(0, uptimeNs - mono);
    // /proc/uptime has 10 ms resolution: only move the offset for a real change (a suspend).
    if (this.bootOffsetNs === 0 || offset === 0 || Math.abs(offset - this.bootOffsetNs) > 20e6) this.bootOffsetNs = offset;
    this.wallOffsetUs = Date.now() * 1000 - this.nowTs() / 1000;
  }

  nowTs(): number {
    return Number(process.hrtime.bigint()) + this.bootOffsetNs;
  }

  toWallUs(ts: number): number {
    return ts / 1000 + this.wallOffsetUs;
  }
}

export function liveClocks(host: Host, traceClock = 'boot'): Clocks {
  return new LiveClocks(host, traceClock);
}

/** Read every process under /proc. Races (a process exiting mid-read) are skipped, as Laurel does. */
export function scanProc(host: Host, clocks: Clocks): ScannedProcess[] {
  const list = host.list('/proc');
  if (!list.ok) return [];
  const out: ScannedProcess[] = [];
  for (const name of list.entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const scannedTs = clocks.nowTs();
    const st = host.readText(`/proc/${pid}/stat`);
    if (!st.ok) continue;
    const stat = parseStat(st.text);
    if (!stat) continue;
    const status = host.readText(`/proc/${pid}/status`);
    const cmd = host.readText(`/proc/${pid}/cmdline`);
    const tasks = host.list(`/proc/${pid}/task`);
    // Kernel threads have no exe link (and an empty cmdline).
    const exe = host.readLink(`/proc/${pid}/exe`);
    out.push({
      pid,
      ppid: stat.ppid,
      startTs: (stat.startTicks / clocks.ticksPerSec) * 1e9,
      startUs: Math.round(clocks.toWallUs((stat.startTicks / clocks.ticksPerSec) * 1e9)),
      comm: stat.comm,
      exe: exe ? exe.replace(/ \(deleted\)$/, '') : null,
      cmdline: cmd.ok ? cmd.text.replace(/\0+$/, '').replace(/\0/g, ' ').slice(0, 4096) : '',
      uid: status.ok ? parseStatusUid(status.text) : null,
      tids: tasks.ok ? tasks.entries.filter((t) => /^\d+$/.test(t)).map(Number) : [pid],
      scannedTs,
    });
  }
  return out;
}

/**
 * Is the process that started at `startTs` (trace clock = boot clock) still holding `pid`?
 * No when the pid is gone, or when it is held by a process that started after ours (reuse).
 * The kernel's start_boottime is taken just before task_newtask fires; /proc rounds it down
 * to a tick, hence the small tolerance. A process first met mid-life (startTs later than its
 * real start) is kept.
 */
export function isAlive(host: Host, clocks: Clocks, pid: number, startTs: number): boolean {
  const st = host.readText(`/proc/${pid}/stat`);
  if (!st.ok) return false;
  const stat = parseStat(st.text);
  if (!stat) return false;
  const procStartTs = (stat.startTicks / clocks.ticksPerSec) * 1e9;
  return procStartTs <= startTs + 50e6;
}

/**
 * TOMOYO-style program names. TOMOYO names a domain after realpath_nofollow(filename): the
 * path made absolute with directories resolved but the final symlink kept (/bin/sh stays
 * .../sh, not dash). Here: absolute paths get their directory resolved (cached; /bin -> /usr/bin
 * on merged-/usr systems), relative ones are anchored at the process's cwd while it still
 * exists, and fexecve-style /dev/fd/N names fall back to /proc/<pid>/exe as TOMOYO does.
 * Only read-only lookups are made; a failed lookup keeps the lexically normalised name.
 */
export class ProgramNamer {
  private readonly dirCache = new Map<string, string>();
  /** Absolute exec'd names already resolved: an exec storm runs the same few programs. */
  private readonly absCache = new Map<string, string>();
  constructor(
    private readonly host: Host,
    private readonly maxCache = 10_000,
  ) {}

  name(pid: number, filename: string): string {
    if (filename === '') return '<empty>';
    if (/^\/(dev\/fd|proc\/self\/fd|proc\/\d+\/fd)\//.test(filename)) {
      const exe = this.host.readLink(`/proc/${pid}/exe`);
      return exe ? exe.replace(/ \(deleted\)$/, '') : posix.normalize(filename);
    }
    if (filename.startsWith('/')) {
      const hit = this.absCache.get(filename);
      if (hit !== undefined) return hit;
      const named = this.resolve(filename);
      if (this.absCache.size >= this.maxCache) this.absCache.clear();
      this.absCache.set(filename, named);
      return named;
    }
    const cwd = this.host.readLink(`/proc/${pid}/cwd`);
    if (!cwd) return filename; // the process is gone: keep what it asked for
    return this.resolve(posix.join(cwd, filename));
  }

  /** Directories resolved, last component kept. */
  private resolve(path: string): string {
    const abs = posix.normalize(path);
    const dir = posix.dirname(abs);
    const base = posix.basename(abs);
    return posix.join(this.resolveDir(dir), base);
  }

  private resolveDir(dir: string): string {
    const hit = this.dirCache.get(dir);
    if (hit !== undefined) return hit;
    let real = dir;
    if (this.host.isLive) {
      try {
        real = realpathSync.native(dir);
      } catch {
        real = dir;
      }
    }
    if (this.dirCache.size >= this.maxCache) this.dirCache.clear();
    this.dirCache.set(dir, real);
    return real;
  }
}

/** Real uid of a live process; the Uid: line sits in the first few hundred bytes of status. */
export function uidOf(host: Host, pid: number): number | null {
  const head = host.readHead(`/proc/${pid}/status`, 1024);
  return head === null ? null : parseStatusUid(head);
}
