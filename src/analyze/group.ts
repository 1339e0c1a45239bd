/**
 * Grouping and the timeline: identical incidents (same kind and title) become one group with a
 * count and first/last times; every incident also gets a short timeline entry. Pure and bounded:
 * a group keeps its first incident in full, the timeline keeps at most `maxTimeline` entries.
 */
import { mainTask, type Incident, type IncidentKind } from './model.js';

export interface TimeRef {
  /** Wall clock (ISO 8601) when the log gave one. */
  wall?: string;
  /** False when `wall` has no zone (classic syslog, dmesg -T): the logging host's local time. */
  wallZoned?: boolean;
  /** Seconds since boot as printed. */
  kernel?: string;
  /** Boot number within its stream (0 = before any boot banner in that stream). */
  boot: number;
  file: string;
  line: number;
}

export interface TimelineEntry {
  time: TimeRef;
  kind: IncidentKind;
  title: string;
  host?: string;
  /** The main task ("comm:pid"), if any. */
  task?: string;
  partial: boolean;
  group: number;
  sortMs?: number;
  seq: number;
}

export interface Group {
  id: number;
  kind: IncidentKind;
  title: string;
  count: number;
  partialCount: number;
  first: TimeRef;
  last: TimeRef;
  hosts: string[];
  example: Incident;
  firstMs?: number;
  lastMs?: number;
}

export interface Filters {
  /** Wall-clock bounds (ms since the epoch; zone-less log stamps compare as if UTC). */
  sinceMs?: number;
  untilMs?: number;
  /** Boot-relative bounds: seconds since the boot of the incident's stream (`boot+600`), compared with the kernel stamp. */
  sinceBootSec?: number;
  untilBootSec?: number;
  kinds?: Set<IncidentKind>;
  hosts?: Set<string>;
}

export interface FilteredBy {
  kind: number;
  host: number;
  /** Earlier than --since (on the clock --since names: wall clock, or kernel seconds for boot+N). */
  beforeSince: number;
  afterUntil: number;
  /** A wall-clock bound was given but the incident has no wall-clock time (dmesg before the RTC line). */
  noWallClock: number;
  /** A boot-relative bound was given but the incident has no kernel stamp (syslog without `[ sec]`). */
  noKernelTime: number;
}

export function timeOf(inc: Incident): TimeRef {
  const t: TimeRef = { boot: inc.boot, file: inc.file, line: inc.lineNo };
  if (inc.wall) {
    t.wall = inc.wall.iso;
    t.wallZoned = inc.wall.zoned;
  }
  if (inc.kernelTimeText !== undefined) t.kernel = inc.kernelTimeText;
  return t;
}

export class Collector {
  readonly groups: Group[] = [];
  private readonly byKey = new Map<string, Group>();
  readonly timeline: TimelineEntry[] = [];
  timelineOmitted = 0;
  /** Incidents dropped by --since/--until because they carry no wall-clock time. */
  undatedExcluded = 0;
  filteredOut = 0;
  /** Why incidents were left out (the first filter that refused each one). */
  readonly filteredBy: FilteredBy = { kind: 0, host: 0, beforeSince: 0, afterUntil: 0, noWallClock: 0, noKernelTime: 0 };
  private seq = 0;
  /** Input file → the unit it was read in (a rotation set), for ordering undated incidents. */
  private readonly inputUnit = new Map<string, string>();

  constructor(
    private readonly filters: Filters = {},
    private readonly maxTimeline = 100_000,
    private readonly maxHostsPerGroup = 50,
  ) {}

  /** Declares that `file` was read as a piece of `unit` (a rotation set read as one input). */
  setInputUnit(file: string, unit: string): void {
    this.inputUnit.set(file, unit);
  }

  accepts(inc: Incident): boolean {
    const why = this.refusal(inc);
    if (why === null) return true;
    this.filteredBy[why]++;
    if (why === 'noWallClock') this.undatedExcluded++;
    return false;
  }

  private refusal(inc: Incident): keyof FilteredBy | null {
    const f = this.filters;
    if (f.kinds && !f.kinds.has(inc.kind)) return 'kind';
    if (f.hosts && (inc.host === undefined || !f.hosts.has(inc.host))) return 'host';
    if (f.sinceMs !== undefined || f.untilMs !== undefined) {
      if (!inc.wall) return 'noWallClock';
      if (f.sinceMs !== undefined && inc.wall.ms < f.sinceMs) return 'beforeSince';
      if (f.untilMs !== undefined && inc.wall.ms > f.untilMs) return 'afterUntil';
    }
    if (f.sinceBootSec !== undefined || f.untilBootSec !== undefined) {
      if (inc.kernelTime === undefined) return 'noKernelTime';
      if (f.sinceBootSec !== undefined && inc.kernelTime < f.sinceBootSec) return 'beforeSince';
      if (f.untilBootSec !== undefined && inc.kernelTime > f.untilBootSec) return 'afterUntil';
    }
    return null;
  }

  add(inc: Incident): void {
    if (!this.accepts(inc)) {
      this.filteredOut++;
      return;
    }
    const key = `${inc.kind}\u0000${inc.title}`;
    let g = this.byKey.get(key);
    const t = timeOf(inc);
    if (!g) {
      g = { id: this.groups.length + 1, kind: inc.kind, title: inc.title, count: 0, partialCount: 0, first: t, last: t, hosts: [], example: inc };
      if (inc.wall) g.firstMs = g.lastMs = inc.wall.ms;
      this.byKey.set(key, g);
      this.groups.push(g);
    } else if (g.example.partial && !inc.partial) {
      // Show the most complete report as the group's example.
      g.example = inc;
    }
    g.count++;
    if (inc.partial) g.partialCount++;
    if (inc.wall) {
      if (g.firstMs === undefined || inc.wall.ms < g.firstMs) {
        g.firstMs = inc.wall.ms;
        g.first = t;
      }
      if (g.lastMs === undefined || inc.wall.ms >= g.lastMs) {
        g.lastMs = inc.wall.ms;
        g.last = t;
      }
    } else if (g.firstMs === undefined) g.last = t;
    if (inc.host !== undefined && !g.hosts.includes(inc.host) && g.hosts.length < this.maxHostsPerGroup) g.hosts.push(inc.host);
    if (this.timeline.length < this.maxTimeline) {
      const e: TimelineEntry = { time: t, kind: inc.kind, title: inc.title, partial: inc.partial, group: g.id, seq: this.seq++ };
      if (inc.host !== undefined) e.host = inc.host;
      const task = mainTask(inc);
      if (task) e.task = task;
      if (inc.wall) e.sortMs = inc.wall.ms;
      this.timeline.push(e);
    } else this.timelineOmitted++;
  }

  /**
   * Orders the timeline by wall clock. An incident known only relative to boot takes the time of
   * the next dated incident of the same input (else the previous one), so it keeps its place in
   * that input's order; inputs with no dated incident at all follow, in input order. The pieces
   * of a rotation set are one input.
   */
  sortedTimeline(): TimelineEntry[] {
    const effective = new Map<TimelineEntry, number>();
    const byFile = new Map<string, TimelineEntry[]>();
    for (const e of this.timeline) {
      const unit = this.inputUnit.get(e.time.file) ?? e.time.file;
      const list = byFile.get(unit);
      if (list) list.push(e);
      else byFile.set(unit, [e]);
    }
    for (const list of byFile.values()) {
      let next: number | undefined;
      for (let i = list.length - 1; i >= 0; i--) {
        const e = list[i]!;
        if (e.sortMs !== undefined) next = e.sortMs;
        else if (next !== undefined) effective.set(e, next);
      }
      let prev: number | undefined;
      for (const e of list) {
        if (e.sortMs !== undefined) prev = e.sortMs;
        else if (!effective.has(e) && prev !== undefined) effective.set(e, prev);
      }
    }
    const key = (e: TimelineEntry) => e.sortMs ?? effective.get(e) ?? Number.POSITIVE_INFINITY;
    return [...this.timeline].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka !== kb) return ka < kb ? -1 : 1;
      return a.seq - b.seq;
    });
  }

  byKind(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.groups) out[g.kind] = (out[g.kind] ?? 0) + g.count;
    return out;
  }
}
