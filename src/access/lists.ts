/**
 * Per-domain access lists (pure): each distinct access line of a process-history domain once,
 * successes and failures (with their errno) kept apart, with first/last time and a count, and a
 * bound per domain: what does not fit is counted per domain, never silently dropped.
 *
 * Counters add up: every event given to add() is new, a repeat of a kept entry (merged), or over
 * the domain's bound (overflow): events = added + merged + overflow.
 */
import type { AccessEvent } from './event.js';

export interface AccessEntry {
  domainId: number;
  /** The TOMOYO-style line: `file read /etc/passwd`. */
  line: string;
  /** errno name for a failed operation, '' for a success. */
  errno: string;
  firstUs: number;
  lastUs: number;
  count: number;
}

export interface ListCounters {
  events: number;
  added: number;
  merged: number;
  overflow: number;
}

export interface ListOptions {
  /** Most entries (successes and failures together) kept per domain. */
  perDomain: number;
}

export const DEFAULT_PER_DOMAIN = 2048;

export function lineOf(ev: Pick<AccessEvent, 'category' | 'operation'>): string {
  return `${ev.category} ${ev.operation}`;
}

function keyOf(line: string, errno: string): string {
  return errno ? `${line}\0${errno}` : line;
}

export class AccessLists {
  private readonly byDomain = new Map<number, Map<string, AccessEntry>>();
  /** Entries changed since takeDirty(): what the store must write. */
  private dirty = new Set<AccessEntry>();
  /** Per domain: accesses that did not fit (the store keeps the total). */
  readonly overflow = new Map<number, number>();
  private readonly dirtyOverflow = new Set<number>();
  readonly counters: ListCounters = { events: 0, added: 0, merged: 0, overflow: 0 };

  constructor(readonly opts: ListOptions = { perDomain: DEFAULT_PER_DOMAIN }) {}

  /** Entries from an earlier run (the store): they count toward the bound and are merged into. */
  load(entries: Iterable<AccessEntry>, overflow: Iterable<[number, number]> = []): void {
    for (const e of entries) this.domain(e.domainId).set(keyOf(e.line, e.errno), { ...e });
    for (const [d, n] of overflow) this.overflow.set(d, n);
  }

  private domain(id: number): Map<string, AccessEntry> {
    let m = this.byDomain.get(id);
    if (!m) this.byDomain.set(id, (m = new Map()));
    return m;
  }

  /** Count one access of `domainId`; returns what became of it. */
  add(domainId: number, ev: AccessEvent): 'added' | 'merged' | 'overflow' {
    this.counters.events++;
    const line = lineOf(ev);
    const errno = ev.errno ?? '';
    const m = this.domain(domainId);
    const key = keyOf(line, errno);
    const e = m.get(key);
    if (e) {
      e.count++;
      if (ev.timeUs > e.lastUs) e.lastUs = ev.timeUs;
      if (ev.timeUs < e.firstUs) e.firstUs = ev.timeUs;
      this.dirty.add(e);
      this.counters.merged++;
      return 'merged';
    }
    if (m.size >= this.opts.perDomain) {
      this.overflow.set(domainId, (this.overflow.get(domainId) ?? 0) + 1);
      this.dirtyOverflow.add(domainId);
      this.counters.overflow++;
      return 'overflow';
    }
    const entry: AccessEntry = { domainId, line, errno, firstUs: ev.timeUs, lastUs: ev.timeUs, count: 1 };
    m.set(key, entry);
    this.dirty.add(entry);
    this.counters.added++;
    return 'added';
  }

  /** What changed since the last call (entries as they are now, and overflow totals). */
  takeDirty(): { entries: AccessEntry[]; overflow: Array<[number, number]> } {
    const entries = [...this.dirty].map((e) => ({ ...e }));
    const overflow = [...this.dirtyOverflow].map((d) => [d, this.overflow.get(d) ?? 0] as [number, number]);
    this.dirty = new Set();
    this.dirtyOverflow.clear();
    return { entries, overflow };
  }

  /** Give back what a failed store write did not take: written with the next batch. */
  putBack(d: { entries: AccessEntry[]; overflow: Array<[number, number]> }): void {
    for (const e of d.entries) {
      const cur = this.byDomain.get(e.domainId)?.get(keyOf(e.line, e.errno));
      if (cur) this.dirty.add(cur);
    }
    for (const [id] of d.overflow) this.dirtyOverflow.add(id);
  }

  entries(domainId: number): AccessEntry[] {
    return [...(this.byDomain.get(domainId)?.values() ?? [])];
  }

  domains(): number[] {
    return [...this.byDomain.keys()];
  }

  get size(): number {
    let n = 0;
    for (const m of this.byDomain.values()) n += m.size;
    return n;
  }
}
