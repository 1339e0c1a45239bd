/**
 * Edge: the process history of a pid at a record's time, from the recorder's store, else from
 * /proc (through the Host), else unknown. Nothing from the record is used but the pid (a
 * number) and the time: event content never becomes a path beyond /proc/<decimal pid>/stat.
 */
import type { Host } from '../host/host.js';
import { liveClocks, parseStat, type Clocks } from '../record/process/procfs.js';
import { execChain, imageAt } from '../record/query.js';
import type { Store, StoredEvent } from '../record/store/store.js';
import type { HistoryStep } from './history.js';

export type Resolution = { source: 'store'; steps: HistoryStep[] } | { source: 'proc'; steps: HistoryStep[] } | { source: 'unknown'; why: string };

/**
 * Slack between the audit clock and the recorder's: audit stamps a record with the coarse
 * real-time clock at syscall entry (up to a tick, 4 ms at HZ=250, behind), the recorder turns
 * boot-clock trace times into wall time with a /proc/uptime anchor good to 10 ms.
 */
export const CLOCK_SLACK_US = 20_000;
/** Deepest /proc ancestry walked (a loop in a racing ppid chain must end). */
const MAX_PROC_DEPTH = 1024;
/** Chains kept in memory (a few hundred bytes each). */
const MAX_CACHED_CHAINS = 10_000;

export interface Resolver {
  resolve(pid: number, atUs: number): Resolution;
}

export class StoreProcResolver implements Resolver {
  private clocks: Clocks | null = null;
  /** History steps by exec id: an image's chain never changes, and one image has many records. */
  private readonly chains = new Map<number, HistoryStep[]>();
  constructor(
    private readonly store: Store | null,
    private readonly host: Host,
    private readonly useProc = true,
  ) {}

  resolve(pid: number, atUs: number): Resolution {
    let why = this.store ? 'not in the store' : 'no store';
    if (this.store) {
      const at = imageAt(this.store, pid, atUs, CLOCK_SLACK_US);
      if (at.found === 'image') return { source: 'store', steps: this.chainOf(at.image) };
      if (at.found === 'exited') why = 'exited before the record (per the store)';
    }
    if (!this.useProc) return { source: 'unknown', why };
    const fromProc = this.procChain(pid, atUs);
    return fromProc ? { source: 'proc', steps: fromProc } : { source: 'unknown', why: `${why}; not a live process started before the record` };
  }

  private chainOf(image: StoredEvent): HistoryStep[] {
    let steps = this.chains.get(image.id);
    if (!steps) {
      steps = execChain(this.store!, image).map((e) => ({ comm: e.comm ?? basename(e.program), timeUs: e.time_us }));
      if (this.chains.size >= MAX_CACHED_CHAINS) this.chains.clear();
      this.chains.set(image.id, steps);
    }
    return steps;
  }

  /**
   * The live process and its ancestors from /proc, oldest first: comm and process start time,
   * as the recorder reconstructs processes it found running. Only when the process started
   * before the record (else the pid was reused since). Racing exits end the chain early.
   */
  private procChain(pid: number, atUs: number): HistoryStep[] | null {
    this.clocks ??= liveClocks(this.host);
    const steps: HistoryStep[] = [];
    let cur = pid;
    for (let depth = 0; cur > 0 && depth < MAX_PROC_DEPTH; depth++) {
      const st = this.host.readText(`/proc/${cur}/stat`);
      const stat = st.ok ? parseStat(st.text) : null;
      if (!stat) break;
      const startUs = this.clocks.toWallUs((stat.startTicks / this.clocks.ticksPerSec) * 1e9);
      if (depth === 0 && startUs > atUs + CLOCK_SLACK_US) return null;
      steps.push({ comm: stat.comm, timeUs: startUs });
      if (stat.ppid === cur) break;
      cur = stat.ppid;
    }
    return steps.length ? steps.reverse() : null;
  }
}

function basename(p: string | null): string {
  return p ? p.slice(p.lastIndexOf('/') + 1) : '?';
}
