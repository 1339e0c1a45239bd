/**
 * Pure core of the slab-shrinker detector: pairing vmscan:mm_shrink_slab_start/_end per task,
 * the slow-pass and absurd-count rules, kernel symbol lookup in /proc/kallsyms text, and the
 * dentry-state series (trend, distance to the old dcache shrinker's int overflow). The
 * overflow arithmetic itself is the shared format module's (src/host/formats/dentry-state.ts), used by
 * check too: one implementation.
 */
import { INT_MAX, parseDentryState, shrinkerProduct, type DentryState } from '../../host/formats/dentry-state.js';
import { versionBefore } from '../../host/formats/kernel.js';
import { durationIn } from '../../common/duration.js';
import type { FieldValue } from '../tracefs/decode.js';

export { parseDentryState };

/** The first kernel whose dcache shrinker no longer computes nr_unused/100*pressure in an int (3.12 moved to list_lru counts). */
export const OVERFLOW_FIXED_IN: [number, number, number] = [3, 12, 0];
/** Warn when the old shrinker's product reaches this fraction of INT_MAX (20% margin: nr_unused grows by millions a day on a file server). */
export const OVERFLOW_WARN_FRACTION = 0.8;

export const TWO63 = 2 ** 63;
const TWO64 = 2 ** 64;

/** A 64-bit value decoded as unsigned (the format says signed:0) read as the signed long the kernel computed with. */
export function asSigned64(v: number): number {
  return v >= TWO63 ? v - TWO64 : v;
}

export interface ShrinkStart {
  ts: number;
  pid: number;
  shr: string;
  shrink: string;
  nid: number;
  nrObjectsToShrink: number;
  gfpFlags: number;
  cacheItems: number;
  delta: number;
  totalScan: number;
  priority: number;
}

export interface ShrinkEnd {
  ts: number;
  pid: number;
  shr: string;
  shrink: string | null;
  nid: number;
  unusedScan: number;
  newScan: number;
  retval: number;
  totalScan: number;
}

export interface ShrinkPass {
  pid: number;
  start: ShrinkStart;
  end: ShrinkEnd | null;
  /** ns between start and end (null when only one side was seen). */
  durationNs: number | null;
}

const num = (v: FieldValue | undefined): number => (typeof v === 'number' ? v : Number.NaN);
const ptr = (v: FieldValue | undefined): string => (typeof v === 'string' ? v : typeof v === 'number' ? v.toString(16).padStart(16, '0') : '');

export function decodeStart(ts: number, pid: number, f: Record<string, FieldValue>): ShrinkStart {
  return {
    ts,
    pid,
    shr: ptr(f.shr),
    shrink: ptr(f.shrink),
    nid: num(f.nid),
    nrObjectsToShrink: num(f.nr_objects_to_shrink),
    gfpFlags: num(f.gfp_flags),
    cacheItems: num(f.cache_items),
    delta: num(f.delta),
    // `unsigned long` in the format, `long` in the kernel's arithmetic (the decoder reads it signed).
    totalScan: asSigned64(num(f.total_scan)),
    priority: num(f.priority),
  };
}

export function decodeEnd(ts: number, pid: number, f: Record<string, FieldValue>): ShrinkEnd {
  return {
    ts,
    pid,
    shr: ptr(f.shr),
    shrink: f.shrink === undefined ? null : ptr(f.shrink),
    nid: num(f.nid),
    unusedScan: num(f.unused_scan),
    newScan: num(f.new_scan),
    retval: num(f.retval),
    totalScan: num(f.total_scan),
  };
}

/**
 * Pairs starts and ends per task: shrink_slab passes do not nest within a task, so the end
 * of a task closes its open start (same shrinker). A start left open by a second start, or an
 * end with no start (the recorder started mid-pass), is counted as unpaired.
 */
export class ShrinkPairer {
  private readonly open = new Map<number, ShrinkStart>();
  unpaired = 0;
  constructor(private readonly maxOpen = 4096) {}

  onStart(s: ShrinkStart): void {
    if (this.open.has(s.pid)) this.unpaired++;
    else if (this.open.size >= this.maxOpen) {
      // Bounded memory: the oldest open start goes (counted).
      const first = this.open.keys().next().value as number;
      this.open.delete(first);
      this.unpaired++;
    }
    this.open.set(s.pid, s);
  }

  onEnd(e: ShrinkEnd): ShrinkPass | null {
    const s = this.open.get(e.pid);
    if (!s || s.shr !== e.shr) {
      this.unpaired++;
      return null;
    }
    this.open.delete(e.pid);
    return { pid: e.pid, start: s, end: e, durationNs: e.ts - s.ts };
  }

  get openCount(): number {
    return this.open.size;
  }
}

/**
 * Why the counts of a pass are absurd, or null: anything negative (the old kernels'
 * `shrink_slab: … negative objects to delete nr=-…`), or a scan far above the cache (the
 * kernel caps total_scan at twice the freeable objects, so more means the arithmetic broke).
 */
export function absurdCounts(start: ShrinkStart, end: ShrinkEnd | null): string | null {
  const why: string[] = [];
  const neg = (name: string, v: number) => {
    if (Number.isFinite(v) && v < 0) why.push(`${name}=${v} is negative`);
  };
  neg('nr_objects_to_shrink', start.nrObjectsToShrink);
  neg('total_scan', start.totalScan);
  if (end) {
    neg('unused_scan', end.unusedScan);
    neg('new_scan', end.newScan);
    neg('end total_scan', end.totalScan);
  }
  if (Number.isFinite(start.cacheItems) && start.totalScan > 2 * start.cacheItems && start.totalScan > 0) {
    why.push(`total_scan=${start.totalScan} is above twice the cache size (${start.cacheItems} items)`);
  }
  return why.length ? why.join('; ') : null;
}

/** Kernel text symbols, sorted by address (fixed-width hex compares as the numbers do). */
export class Kallsyms {
  private constructor(
    private readonly addrs: string[],
    private readonly names: string[],
    readonly zeroed: boolean,
  ) {}

  static parse(text: string): Kallsyms {
    const rows: [string, string][] = [];
    let zeros = 0;
    let total = 0;
    for (const line of text.split('\n')) {
      const m = /^([0-9a-fA-F]{16}) ([tTwW]) (\S+)/.exec(line);
      if (!m) continue;
      total++;
      if (/^0+$/.test(m[1]!)) {
        zeros++;
        continue;
      }
      rows.push([m[1]!.toLowerCase(), m[3]!]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return new Kallsyms(
      rows.map((r) => r[0]),
      rows.map((r) => r[1]),
      total > 0 && zeros === total,
    );
  }

  /** The function holding addr (16 hex digits): its name, or null when below every symbol. */
  lookup(addr: string): string | null {
    const a = addr.toLowerCase().padStart(16, '0');
    let lo = 0;
    let hi = this.addrs.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid]! <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best < 0 ? null : this.names[best]!;
  }

  get size(): number {
    return this.addrs.length;
  }
}

/** The line of a recorded pass: the shrinker and every count the two tracepoints carry. */
export function passDetail(kind: 'slow' | 'absurd', p: ShrinkPass, name: string, why?: string): string {
  const s = p.start;
  const dur = p.durationNs === null ? 'duration unknown' : `${(p.durationNs / 1e6).toFixed(3)} ms`;
  const end = p.end ? ` -> unused_scan ${p.end.unusedScan} new_scan ${p.end.newScan} retval ${p.end.retval} total_scan ${p.end.totalScan}` : ' (no end seen)';
  const head = kind === 'slow' ? `slow shrink_slab pass ${dur}` : `absurd shrink_slab counts (${why}), ${dur}`;
  return `${head}: ${name} nid ${s.nid} nr_objects_to_shrink ${s.nrObjectsToShrink} cache_items ${s.cacheItems} delta ${s.delta} total_scan ${s.totalScan} priority ${s.priority} gfp_flags 0x${Number.isFinite(s.gfpFlags) ? s.gfpFlags.toString(16) : '?'}${end}`;
}

/* ------------------------------------------------------------------ dentry-state series */

export interface DentrySample {
  timeUs: number;
  nrDentry: number;
  nrUnused: number;
  nrNegative: number | null;
  pressure: number;
}

export interface DentryOverflow {
  /** floor(nr_unused/100) * vfs_cache_pressure: what the old shrinker returned as an int. */
  product: number;
  intMax: number;
  /** INT_MAX - product (negative: already overflowed on an old kernel). */
  distance: number;
  fraction: number;
  /** The kernel is older than 3.12, where the overflow happens. */
  affected: boolean;
  close: boolean;
}

export function dentryOverflow(nrUnused: number, pressure: number, kernel: [number, number, number] | null): DentryOverflow {
  const product = shrinkerProduct(nrUnused, pressure);
  const fraction = product / INT_MAX;
  // An unknown release is treated as affected: saying too much beats missing the old bug.
  const affected = kernel === null ? true : versionBefore(kernel, OVERFLOW_FIXED_IN);
  return { product, intMax: INT_MAX, distance: INT_MAX - product, fraction, affected, close: fraction >= OVERFLOW_WARN_FRACTION };
}

export interface DentryTrend {
  samples: number;
  firstUs: number;
  lastUs: number;
  firstUnused: number;
  lastUnused: number;
  /** Unused dentries gained per hour over the series (null with fewer than two samples). */
  perHour: number | null;
}

export function dentryTrend(samples: DentrySample[]): DentryTrend | null {
  if (!samples.length) return null;
  const a = samples[0]!;
  const b = samples[samples.length - 1]!;
  const spanUs = b.timeUs - a.timeUs;
  return {
    samples: samples.length,
    firstUs: a.timeUs,
    lastUs: b.timeUs,
    firstUnused: a.nrUnused,
    lastUnused: b.nrUnused,
    perHour: samples.length >= 2 && spanUs > 0 ? Math.round(((b.nrUnused - a.nrUnused) * 3600e6) / spanUs) : null,
  };
}

/** Append a sample, keeping at most max (the oldest go). */
export function pushBounded<T>(list: T[], item: T, max: number): T[] {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
  return list;
}

export function sampleOf(state: DentryState, pressure: number, timeUs: number): DentrySample {
  return { timeUs, nrDentry: state.nrDentry, nrUnused: state.nrUnused, nrNegative: state.nrNegative, pressure };
}

/**
 * `[slab] slow`: "100ms", "1us", "250µs", "2s", "0", or a number of milliseconds (a shrinker pass
 * is counted in ms, so a bare number here is ms, not seconds as elsewhere); ns, or null when malformed.
 */
export function parseDurationNs(v: unknown): number | null {
  return durationIn(v, 'ms', 'ns');
}
