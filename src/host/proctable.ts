/**
 * The process table of one run, read once: the /proc listing and each /proc/<pid> file the
 * checks ask for (oom_score_adj, oom_adj, stat, and comm and status where stat is missing),
 * every one read at most once and kept for the rest of the run. The OOM-exempt scan and the
 * thread count both walk it, so a host with 10,000 processes costs one pass over /proc, not two.
 * Reads go through the Host (regular files only, capped, never blocking); stat and status are
 * kept parsed, not as text.
 *
 * /proc/<pid>/stat gives the name, the parent and the thread count in one file, for less kernel
 * work than comm and status together (the kernel builds all of status, ~1.5 KiB, for one line):
 * it is read first, and comm and status only where stat cannot be read (a copied tree or a
 * fixture that holds no stat), so such roots are read exactly as before.
 */
import type { Host } from './host.js';
import type { Sources } from './sources.js';

/** The files the OOM scan reads of every process (Facts.processes()); others only for some. */
export const PROCESS_FILES: readonly string[] = ['oom_score_adj', 'comm'];

/** A scan of the live process table started before the run that uses it (startEarlyScan). */
interface EarlyScan {
  host: Host;
  files: string;
  table: ReturnType<Host['readProcTableAsync']>;
}
let early: EarlyScan | null = null;

/**
 * Start reading these files of every process of the live host now, on other threads, for the
 * ProcTable of a run that is about to begin: `lantern check` starts it before its ~30 ms of
 * modules load, so the kernel's work on 20,000 /proc files overlaps the loading. The first live
 * ProcTable whose prefetchAsync asks for the same files takes its listing and values, as if it had
 * read them itself (a process that exits after the listing reads as null either way). Nothing
 * starts off the live host or while another early scan waits; where the Host cannot batch (no
 * native/kernfile) the run reads the table as before. Whether a scan was started.
 */
export function startEarlyScan(host: Host, files: readonly string[]): boolean {
  if (!host.isLive || early) return false;
  early = { host, files: files.join('\0'), table: host.readProcTableAsync(files).catch(() => null) };
  return true;
}

function takeEarlyScan(host: Host, files: readonly string[]): EarlyScan | null {
  if (!early || !host.isLive || early.files !== files.join('\0')) return null;
  const e = early;
  early = null;
  return e;
}

/** The fields of /proc/<pid>/status the checks use, parsed as the scans always did. */
export interface PidStatus {
  /** `Name:` (the rest of the line), or null when there is none. */
  name: string | null;
  /** `PPid:`, NaN when absent. */
  ppid: number;
  /** `Threads:` as text, null when absent. */
  threads: string | null;
}

/** The fields of /proc/<pid>/stat the checks use. */
export interface PidStat {
  /** The command name (field 2, between the first '(' and the last ')'), trimmed as /proc/<pid>/comm is read. */
  name: string;
  /** Field 4. */
  ppid: number;
  /** Field 20 (num_threads), as text. */
  threads: string;
  /** Field 22 (starttime, clock ticks after boot): with the pid, which process this is; NaN when the line stops before it. */
  startTicks: number;
}

/** Parse the (trimmed) text of /proc/<pid>/status; pure. */
export function parsePidStatus(text: string): PidStatus {
  return {
    name: /^Name:\s*(.*)$/m.exec(text)?.[1] ?? null,
    ppid: Number(/^PPid:\s*(\d+)/m.exec(text)?.[1] ?? NaN),
    threads: /^Threads:\s*(\d+)/m.exec(text)?.[1] ?? null,
  };
}

/**
 * Parse the (trimmed) text of /proc/<pid>/stat; null when it is not in that format. The name
 * may hold spaces and parentheses: it ends at the last ')', and the fields after it are counted
 * from there (field 3, the state, is the first).
 */
export function parsePidStat(text: string): PidStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open || text.charCodeAt(close + 1) !== 32) return null;
  // Walk the spaces rather than split the line: this runs once per process, 10,000 times a run.
  let ppid = '';
  let threads = '';
  let startTicks = '';
  let start = close + 2;
  for (let field = 3; field <= 22 && start <= text.length; field++) {
    let end = text.indexOf(' ', start);
    if (end < 0) end = text.length;
    if (field === 4) ppid = text.slice(start, end);
    else if (field === 20) threads = text.slice(start, end);
    else if (field === 22) startTicks = text.slice(start, end);
    start = end + 1;
    if (start > text.length && field < 20) return null;
  }
  if (!DIGITS.test(ppid) || !DIGITS.test(threads)) return null;
  return { name: text.slice(open + 1, close).trim(), ppid: Number(ppid), threads, startTicks: DIGITS.test(startTicks) ? Number(startTicks) : NaN };
}

const DIGITS = /^\d+$/;

export class ProcTable {
  private listing: string[] | undefined;
  /** Per file name, per pid (no `pid/file` key string per lookup: 20,000 lookups a run). */
  private readonly values = new Map<string, Map<string, string | null>>();
  private readonly statuses = new Map<string, PidStatus | null>();
  private readonly stats = new Map<string, PidStat | null>();
  /** Files actually read (each once): for tests and the benchmark. */
  reads = 0;

  constructor(private readonly src: Sources) {}

  /** The numeric entries of /proc, in listing order (one listing per run); [] when /proc cannot be listed. */
  pids(): string[] {
    this.listing ??= (this.src.list('/proc') ?? []).filter((e) => /^\d+$/.test(e));
    return this.listing;
  }

  /**
   * Read these per-process files of every process now, in one batch where the Host can (the live
   * host with the native addon: both cores), so that value() and stat() find them. Elsewhere it
   * does nothing and they are read one by one when asked. Files already read are not read again.
   */
  prefetch(files: readonly string[]): void {
    const todo = this.unread(files);
    if (todo) this.keep(todo, this.src.pidValues(todo.pids, todo.files));
  }

  /** prefetch() while the event loop runs: the caller starts other work meanwhile. */
  async prefetchAsync(files: readonly string[]): Promise<void> {
    if (this.listing === undefined) {
      // The live table in one call (listed and read on other threads), started early or now.
      const e = takeEarlyScan(this.src.host, files);
      const table = await (e ? e.table : this.src.host.isLive ? this.src.procTableAsync(files) : null);
      // What an early Host noted (a capped read, a refused path) is this run's to show.
      if (e) for (const k of ['cuts', 'refused', 'notes'] as const) for (const n of e.host[k]) if (!this.src.host[k].includes(n)) this.src.host[k].push(n);
      if (table && this.listing === undefined) {
        this.listing = table.pids;
        return this.keep({ pids: table.pids, files: [...files] }, table.values);
      }
    }
    const todo = this.unread(files);
    if (todo) this.keep(todo, await this.src.pidValuesAsync(todo.pids, todo.files));
  }

  /** The pids none of these files has been read of yet (a batch reads all or none), and the files. */
  private unread(files: readonly string[]): { pids: string[]; files: string[] } | null {
    const done = (pid: string, file: string) => (file === 'stat' ? this.stats.has(pid) : file === 'status' ? this.statuses.has(pid) : this.valuesOf(file).has(pid));
    const pids = this.pids().filter((pid) => files.every((f) => !done(pid, f)));
    return pids.length && files.length ? { pids, files: [...files] } : null;
  }

  private keep(todo: { pids: string[]; files: string[] }, texts: Map<string, (string | null)[]> | null): void {
    if (!texts) return;
    for (const file of todo.files) {
      const got = texts.get(file);
      if (!got) continue;
      this.reads += todo.pids.length;
      const kept = this.valuesOf(file);
      todo.pids.forEach((pid, i) => {
        const text = got[i]!;
        if (file === 'stat') this.stats.set(pid, text === null ? null : parsePidStat(text));
        else if (file === 'status') this.statuses.set(pid, text === null ? null : parsePidStatus(text));
        else kept.set(pid, text);
      });
    }
  }

  /** A small per-process file (`oom_score_adj`, `comm` ...), trimmed; null when unreadable. Read at most once. */
  value(pid: string, file: string): string | null {
    const kept = this.valuesOf(file);
    const hit = kept.get(pid);
    if (hit !== undefined || kept.has(pid)) return hit ?? null;
    this.reads++;
    const v = this.src.value(`/proc/${pid}/${file}`);
    kept.set(pid, v);
    return v;
  }

  private valuesOf(file: string): Map<string, string | null> {
    let kept = this.values.get(file);
    if (!kept) this.values.set(file, (kept = new Map()));
    return kept;
  }

  /** /proc/<pid>/stat, parsed; null when unreadable or not in its format. Read at most once. */
  stat(pid: string): PidStat | null {
    return this.parsed(this.stats, pid, 'stat', parsePidStat);
  }

  /** /proc/<pid>/status, parsed; null when unreadable. Read at most once. */
  status(pid: string): PidStatus | null {
    return this.parsed(this.statuses, pid, 'status', parsePidStatus);
  }

  private parsed<T>(kept: Map<string, T | null>, pid: string, file: string, parse: (text: string) => T | null): T | null {
    if (kept.has(pid)) return kept.get(pid)!;
    this.reads++;
    const text = this.src.value(`/proc/${pid}/${file}`);
    const v = text === null ? null : parse(text);
    kept.set(pid, v);
    return v;
  }
}
