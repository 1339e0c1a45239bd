/**
 * The process table of one run, read once: the /proc listing and each /proc/<pid> file the
 * checks ask for (oom_score_adj, oom_adj, comm, status), every one read at most once and kept
 * for the rest of the run. The OOM-exempt scan and the thread count both walk it, so a host with
 * 10,000 processes costs one pass over /proc, not two. Reads go through the Host (regular files
 * only, capped, never blocking); /proc/<pid>/status is kept parsed, not as text.
 */
import type { Sources } from './sources.js';

/** The fields of /proc/<pid>/status the checks use, parsed as the scans always did. */
export interface PidStatus {
  /** `Name:` (the rest of the line), or null when there is none. */
  name: string | null;
  /** `PPid:`, NaN when absent. */
  ppid: number;
  /** `Threads:` as text, null when absent. */
  threads: string | null;
}

/** Parse the (trimmed) text of /proc/<pid>/status; pure. */
export function parsePidStatus(text: string): PidStatus {
  return {
    name: /^Name:\s*(.*)$/m.exec(text)?.[1] ?? null,
    ppid: Number(/^PPid:\s*(\d+)/m.exec(text)?.[1] ?? NaN),
    threads: /^Threads:\s*(\d+)/m.exec(text)?.[1] ?? null,
  };
}

export class ProcTable {
  private listing: string[] | undefined;
  private readonly values = new Map<string, string | null>();
  private readonly statuses = new Map<string, PidStatus | null>();
  /** Files actually read (each once): for tests and the benchmark. */
  reads = 0;

  constructor(private readonly src: Sources) {}

  /** The numeric entries of /proc, in listing order (one listing per run); [] when /proc cannot be listed. */
  pids(): string[] {
    this.listing ??= (this.src.list('/proc') ?? []).filter((e) => /^\d+$/.test(e));
    return this.listing;
  }

  /** A small per-process file (`oom_score_adj`, `comm` ...), trimmed; null when unreadable. Read at most once. */
  value(pid: string, file: string): string | null {
    const key = `${pid}/${file}`;
    if (this.values.has(key)) return this.values.get(key)!;
    this.reads++;
    const v = this.src.value(`/proc/${key}`);
    this.values.set(key, v);
    return v;
  }

  /** /proc/<pid>/status, parsed; null when unreadable. Read at most once. */
  status(pid: string): PidStatus | null {
    if (this.statuses.has(pid)) return this.statuses.get(pid)!;
    this.reads++;
    const text = this.src.value(`/proc/${pid}/status`);
    const st = text === null ? null : parsePidStatus(text);
    this.statuses.set(pid, st);
    return st;
  }
}
