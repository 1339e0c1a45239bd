/**
 * Edge: who a sender is — its program and its process-history domain — from, in this order:
 * the recorder's store (exact TOMOYO domain: the chain of execs), else the ancestry as it is at the
 * moment the event arrives (/proc, the exe records the probe took at each exec while who-sends ran,
 * and the parent pid the kernel gave with the event). Only numbers from the event become paths,
 * and only /proc/<decimal pid>/{stat,exe}.
 */
import type { ExeRecord, NetRecord } from '../access/net/records.js';
import type { Host } from '../host/host.js';
import { KERNEL_DOMAIN, UNKNOWN_PROGRAM } from '../record/process/domains.js';
import { parseStat } from '../record/process/procfs.js';
import { imageAt } from '../record/query.js';
import type { Store } from '../record/store/store.js';

/**
 * Where a sender's domain came from: `store` (the recorder's exec chain), `proc` (the ancestors'
 * programs, each found live or in an exec the probe saw), `partial` (the chain breaks at an
 * ancestor gone before anything saw it: `<unknown>` stands for the rest).
 */
export type DomainSource = 'store' | 'proc' | 'partial';

export interface Lineage {
  program: string;
  domain: string;
  source: DomainSource;
}

/** USER_HZ: /proc/<pid>/stat counts start times in these. */
const TICKS_PER_SEC = 100;
/** A start time from /proc (ticks) and one from the kernel (ns) are the same process within a tick. */
const START_SLACK_US = 1_000_000 / TICKS_PER_SEC + 1000;
/** The recorder's wall time of an exec and ours of a send disagree by up to its clock anchor's error. */
const STORE_SLACK_US = 20_000;
const MAX_DEPTH = 64;
const MAX_REMEMBERED = 65_536;

interface Known {
  pstartUs: number;
  ppid: number;
  path: string;
}

export class LineageResolver {
  private readonly exes = new Map<number, Known>();
  /** Named processes by pid (with their start: a pid is reused); an exec forgets its process. */
  private readonly cache = new Map<number, { pstartUs: number; lineage: Lineage }>();

  constructor(
    private readonly host: Host,
    private readonly store: Store | null,
  ) {}

  /** An exec the probe saw: the process's program from then on. */
  noteExe(e: ExeRecord): void {
    this.exes.delete(e.pid);
    this.exes.set(e.pid, { pstartUs: e.pstartUs, ppid: e.ppid, path: e.path });
    if (this.exes.size > MAX_REMEMBERED) this.exes.delete(this.exes.keys().next().value!);
    this.cache.delete(e.pid);
  }

  /** The sender's lineage from what is visible now (/proc and the exec records), cached per process. */
  fromNow(r: NetRecord): Lineage {
    const hit = this.cache.get(r.pid);
    if (hit && hit.pstartUs === r.pstartUs) return hit.lineage;
    const programs: string[] = [];
    let complete = true;
    const self = this.programOf(r.pid, r.pstartUs) ?? this.programOf(r.ppid, null);
    programs.push(self ?? `[${r.comm}]`);
    let cur = r.ppid;
    for (let depth = 0; cur > 0 && depth < MAX_DEPTH; depth++) {
      const prog = this.programOf(cur, null);
      if (prog === null) {
        // pid 2 (kthreadd) and kernel threads have no program: the chain ends at the kernel.
        if (cur !== 2) complete = false;
        if (cur !== 2) programs.push(UNKNOWN_PROGRAM);
        break;
      }
      programs.push(prog);
      if (cur === 1) break;
      cur = this.parentOf(cur);
    }
    const l: Lineage = { program: programs[0]!, domain: [KERNEL_DOMAIN, ...programs.reverse()].join(' '), source: complete ? 'proc' : 'partial' };
    if (this.cache.size >= MAX_REMEMBERED) this.cache.clear();
    this.cache.set(r.pid, { pstartUs: r.pstartUs, lineage: l });
    return l;
  }

  /** The recorder's record of the process at that time, or null when the store does not know it (yet). */
  fromStore(pid: number, wallUs: number): Lineage | null {
    if (!this.store) return null;
    const at = imageAt(this.store, pid, wallUs, STORE_SLACK_US);
    if (at.found !== 'image' || at.image.domain_id === null) return null;
    return { program: at.image.program ?? UNKNOWN_PROGRAM, domain: this.store.name(at.image.domain_id), source: 'store' };
  }

  /**
   * A process's program: the exec the probe saw (when it is this process: same start), else
   * /proc/<pid>/exe while it runs (and, when a start is given, is the same process).
   */
  private programOf(pid: number, pstartUs: number | null): string | null {
    const k = this.exes.get(pid);
    if (k && (pstartUs === null || Math.abs(k.pstartUs - pstartUs) < 1000)) return k.path;
    if (pstartUs !== null) {
      const st = this.stat(pid);
      if (!st || Math.abs((st.startTicks * 1_000_000) / TICKS_PER_SEC - pstartUs) > START_SLACK_US) return null;
    }
    const exe = this.host.readLink(`/proc/${pid}/exe`);
    return exe ? exe.replace(/ \(deleted\)$/, '') : null;
  }

  private parentOf(pid: number): number {
    const st = this.stat(pid);
    if (st) return st.ppid;
    return this.exes.get(pid)?.ppid ?? 0;
  }

  private stat(pid: number) {
    const t = this.host.readText(`/proc/${pid}/stat`);
    return t.ok ? parseStat(t.text) : null;
  }
}
