/**
 * The slab-shrinker detector, driven by the recorder's tick: vmscan:mm_shrink_slab_start/_end
 * decoded from the recorder's own tracefs instance (paired per task: a pass longer than `slow`
 * becomes a `slab` record, and so does any pass with absurd counts, fast or not), and a sampled
 * /proc/sys/fs/dentry-state series (kept bounded in the store's meta, shown as a trend; a
 * `dentry` record warns when the old dcache shrinker's int product nears INT_MAX on a kernel
 * that still computes it). Every read goes through the Host.
 */
import type { Host } from '../../host/host.js';
import { parseKernelRelease } from '../../host/formats/kernel.js';
import { newRecord, type ProcessRecord } from '../process/model.js';
import type { Store } from '../store/store.js';
import type { DecodedEvent } from '../tracefs/decode.js';
import type { EventSpec } from '../tracefs/instance.js';
import {
  absurdCounts,
  decodeEnd,
  decodeStart,
  dentryOverflow,
  dentryTrend,
  Kallsyms,
  parseDentryState,
  passDetail,
  pushBounded,
  sampleOf,
  ShrinkPairer,
  type DentryOverflow,
  type DentrySample,
  type DentryTrend,
  type ShrinkPass,
} from './core.js';

export interface SlabOptions {
  /** Passes longer than this (ns) are recorded; 0 records every pass. */
  slowNs: number;
  /** The tracepoints (off: only the dentry sampler). */
  tracepoints: boolean;
  /** dentry-state sampling interval, ms; 0 turns the sampler off. */
  dentryIntervalMs: number;
  /** Samples kept in the store (the oldest go). */
  maxSamples: number;
}

export const DEFAULT_SLAB: SlabOptions = {
  // 100 ms: a shrinker pass of that length is a visible stall of the allocating task (the
  // talk's cases were seconds); normal passes take microseconds.
  slowNs: 100e6,
  tracepoints: true,
  dentryIntervalMs: 60_000,
  // 24 h at the default interval.
  maxSamples: 1440,
};

export const SLAB_EVENTS: EventSpec[] = [
  { system: 'vmscan', event: 'mm_shrink_slab_start', optional: true },
  { system: 'vmscan', event: 'mm_shrink_slab_end', optional: true },
];

export const DENTRY_META = 'dentry.samples';
const DENTRY_STATE = '/proc/sys/fs/dentry-state';
const CACHE_PRESSURE = '/proc/sys/vm/vfs_cache_pressure';

export interface SlabStatus {
  tracepoints: 'attached' | 'missing' | 'off';
  note: string | null;
  slowMs: number;
  passes: number;
  slow: number;
  absurd: number;
  unpaired: number;
  /** How shrinker names are found: kallsyms with real addresses, zeroed (not root / kptr_restrict), unreadable, or not read yet. */
  symbols: 'kallsyms' | 'zeroed' | 'unreadable' | 'unread';
  dentry: {
    intervalMs: number;
    samples: number;
    readErrors: number;
    lastError: string | null;
    last: DentrySample | null;
    trend: DentryTrend | null;
    overflow: DentryOverflow | null;
    kernel: string | null;
    warnings: number;
  };
}

export interface SlabEnv {
  store: Store;
  host: Host;
  /** Trace timestamp (ns) to wall clock µs. */
  toWallUs(ts: number): number;
  commOf(pid: number): string;
}

export class SlabDetector {
  readonly status: SlabStatus;
  private readonly pairer = new ShrinkPairer();
  private readonly out: ProcessRecord[] = [];
  private syms: Kallsyms | null = null;
  private readonly names = new Map<string, string>();
  private samples: DentrySample[];
  private lastSampleMs = 0;
  private readonly kernel: [number, number, number] | null;
  /** 0: far, 1: within the margin, 2: past INT_MAX (on a kernel that overflows). */
  private warnLevel = 0;

  constructor(
    readonly opts: SlabOptions,
    private readonly env: SlabEnv,
    attached: boolean,
  ) {
    const rel = env.host.readValue('/proc/sys/kernel/osrelease');
    const k = rel.ok ? parseKernelRelease(rel.text) : null;
    this.kernel = k ? k.version : null;
    let prev: DentrySample[] = [];
    try {
      const m = env.store.getMeta<DentrySample[]>(DENTRY_META);
      if (Array.isArray(m)) prev = m.slice(-opts.maxSamples);
    } catch {
      /* an unreadable meta row starts a new series */
    }
    this.samples = prev;
    this.status = {
      tracepoints: !opts.tracepoints ? 'off' : attached ? 'attached' : 'missing',
      note: opts.tracepoints && !attached ? 'vmscan:mm_shrink_slab_start/_end do not exist on this kernel (no shrinker passes are seen; the dentry sampler still runs)' : null,
      slowMs: opts.slowNs / 1e6,
      passes: 0,
      slow: 0,
      absurd: 0,
      unpaired: 0,
      symbols: 'unread',
      dentry: {
        intervalMs: opts.dentryIntervalMs,
        samples: prev.length,
        readErrors: 0,
        lastError: null,
        last: prev.at(-1) ?? null,
        trend: dentryTrend(prev),
        overflow: null,
        kernel: k ? k.raw : null,
        warnings: 0,
      },
    };
  }

  /** True for the events this detector takes (the recorder routes them here). */
  static takes(name: string): boolean {
    return name === 'mm_shrink_slab_start' || name === 'mm_shrink_slab_end';
  }

  onEvent(ev: DecodedEvent): void {
    if (ev.name === 'mm_shrink_slab_start') {
      this.pairer.onStart(decodeStart(ev.ts, ev.commonPid, ev.fields));
      return;
    }
    const pass = this.pairer.onEnd(decodeEnd(ev.ts, ev.commonPid, ev.fields));
    this.status.unpaired = this.pairer.unpaired;
    if (!pass) return;
    this.status.passes++;
    const why = absurdCounts(pass.start, pass.end);
    if (why) {
      this.status.absurd++;
      this.out.push(this.record(pass, passDetail('absurd', pass, this.nameOf(pass.start.shrink), why)));
    }
    if (pass.durationNs !== null && pass.durationNs >= this.opts.slowNs) {
      this.status.slow++;
      this.out.push(this.record(pass, passDetail('slow', pass, this.nameOf(pass.start.shrink))));
    }
  }

  /** The records made since the last poll, plus a dentry sample when one is due. */
  poll(nowMs = Date.now()): ProcessRecord[] {
    if (this.opts.dentryIntervalMs > 0 && nowMs - this.lastSampleMs >= this.opts.dentryIntervalMs) {
      this.lastSampleMs = nowMs;
      this.sampleDentry(nowMs * 1000);
    }
    return this.out.splice(0);
  }

  /** The shrinker's scan function by name (what the kernel's own %pS prints), or "unknown". */
  private nameOf(addr: string): string {
    const known = this.names.get(addr);
    if (known) return known;
    if (!this.syms && this.status.symbols === 'unread') {
      const r = this.env.host.readText('/proc/kallsyms');
      if (!r.ok) this.status.symbols = 'unreadable';
      else {
        this.syms = Kallsyms.parse(r.text);
        this.status.symbols = this.syms.zeroed || this.syms.size === 0 ? 'zeroed' : 'kallsyms';
      }
    }
    const name = (this.status.symbols === 'kallsyms' && this.syms?.lookup(addr)) || 'unknown';
    if (this.names.size < 10_000) this.names.set(addr, name);
    return name;
  }

  private sampleDentry(timeUs: number): void {
    const d = this.env.host.readValue(DENTRY_STATE);
    const p = this.env.host.readValue(CACHE_PRESSURE);
    const state = d.ok ? parseDentryState(d.text) : null;
    const pressure = p.ok ? Number(p.text) : Number.NaN;
    if (!state || !Number.isFinite(pressure)) {
      this.status.dentry.readErrors++;
      this.status.dentry.lastError = !d.ok
        ? `${DENTRY_STATE}: ${d.reason}`
        : !state
          ? `${DENTRY_STATE}: not four numbers`
          : !p.ok
            ? `${CACHE_PRESSURE}: ${p.reason}`
            : `${CACHE_PRESSURE}: not a number`;
      return;
    }
    const sample = sampleOf(state, pressure, timeUs);
    pushBounded(this.samples, sample, this.opts.maxSamples);
    const ov = dentryOverflow(state.nrUnused, pressure, this.kernel);
    Object.assign(this.status.dentry, { samples: this.samples.length, last: sample, trend: dentryTrend(this.samples), overflow: ov });
    try {
      this.env.store.setMeta(DENTRY_META, this.samples);
    } catch (e) {
      this.status.dentry.readErrors++;
      this.status.dentry.lastError = `cannot store the sample: ${(e as Error).message}`;
    }
    // Warn once per approach and once more when it passes INT_MAX (again after it fell back below the margin).
    const level = !ov.affected || !ov.close ? 0 : ov.distance < 0 ? 2 : 1;
    if (level > this.warnLevel) {
      this.status.dentry.warnings++;
      this.out.push(this.blank('dentry', timeUs, 0, '', null, overflowDetail(sample, ov, this.status.dentry.kernel)));
    }
    this.warnLevel = level;
  }

  private record(p: ShrinkPass, detail: string): ProcessRecord {
    return this.blank('slab', this.env.toWallUs(p.start.ts), p.pid, this.env.commOf(p.pid), p.start.nid, detail);
  }

  private blank(type: 'slab' | 'dentry', timeUs: number, tid: number, comm: string, nid: number | null, detail: string): ProcessRecord {
    // cpu holds the NUMA node of a slab record (nid in --json): there is no other column for it.
    return newRecord({ id: this.env.store.nextId(), type, timeUs, pid: tid, comm, domainId: this.env.store.root, cpu: nid, detail });
  }
}

export function overflowDetail(s: DentrySample, ov: DentryOverflow, kernel: string | null): string {
  return (
    `dcache shrinker overflow ${ov.distance < 0 ? 'passed' : 'close'}: floor(nr_unused ${s.nrUnused} / 100) * vfs_cache_pressure ${s.pressure} = ${ov.product}, ` +
    `${(ov.fraction * 100).toFixed(1)}% of INT_MAX ${ov.intMax} (${ov.distance} to go); kernel ${kernel ?? 'unknown'} is before 3.12, whose shrinker computes this in an int`
  );
}

/** The `dentry` line of `record status`. */
export function dentryStatusText(d: SlabStatus['dentry']): string {
  if (d.intervalMs === 0) return 'sampler off';
  const parts: string[] = [`every ${d.intervalMs / 1000} s, ${d.samples} samples`];
  if (d.last) parts.push(`nr_dentry ${d.last.nrDentry} nr_unused ${d.last.nrUnused}`);
  if (d.trend && d.trend.perHour !== null) parts.push(`unused ${d.trend.firstUnused} -> ${d.trend.lastUnused} (${d.trend.perHour >= 0 ? '+' : ''}${d.trend.perHour}/h)`);
  if (d.overflow) {
    const o = d.overflow;
    parts.push(
      `old-shrinker product ${o.product} = ${(o.fraction * 100).toFixed(2)}% of INT_MAX (${o.distance} to go)` +
        (o.affected
          ? o.distance < 0
            ? ' WARNING: past INT_MAX, the old shrinker overflows'
            : o.close
              ? ' WARNING: close to the overflow'
              : ''
          : `; only kernels before 3.12 overflow, this is ${d.kernel ?? 'unknown'}: shown, not warned`),
    );
  }
  if (d.warnings) parts.push(`${d.warnings} warnings`);
  if (d.readErrors) parts.push(`${d.readErrors} failed samples (${d.lastError})`);
  return parts.join('; ');
}

const SYMBOLS_TEXT: Record<SlabStatus['symbols'], string> = {
  kallsyms: 'names from kallsyms',
  zeroed: 'names unknown: /proc/kallsyms shows zeroed addresses',
  unreadable: 'names unknown: /proc/kallsyms cannot be read',
  unread: 'kallsyms not read yet (no pass recorded)',
};

/** The `slab` line of `record status`. */
export function slabStatusText(s: SlabStatus): string {
  if (s.tracepoints === 'off') return 'shrink_slab tracepoints off';
  if (s.tracepoints === 'missing') return `tracepoints missing: ${s.note}`;
  return `vmscan:mm_shrink_slab_start/_end attached; ${s.passes} passes, ${s.slow} slower than ${s.slowMs} ms, ${s.absurd} with absurd counts, ${s.unpaired} unpaired; ${SYMBOLS_TEXT[s.symbols]}`;
}
