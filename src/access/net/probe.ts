/**
 * Edge: the network program running under bpftrace, its records decoded. Shared by the access
 * source (source.ts) and `lantern who-sends`.
 */
import { Bpftrace } from '../../common/bpftrace.js';
import { NET_STRLEN, netProgram, READY_RECORD, type NetProgramConfig } from './program.js';
import { emptyNetCounts, NetDecoder, parseNetCounts, parseSentMap, type ExeRecord, type NetCounts, type NetRecord, type SentCount } from './records.js';

export interface NetProbeHandlers {
  onRecord: (r: NetRecord) => void;
  /** The executable of a process at its exec (a process that exec'd before the start has none). */
  onExe?: (e: ExeRecord) => void;
  /** With countSends: every send counted in the kernel, once, when the program ends. */
  onSentCounts?: (counts: SentCount[]) => void;
}

/** Wall-clock microseconds for CLOCK_MONOTONIC microseconds (bpftrace's nsecs), anchored once at start. */
export function monoToWall(): (monoUs: number) => number {
  const offset = Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n);
  return (monoUs) => monoUs + offset;
}

export class NetProbe {
  private constructor(
    private readonly bt: Bpftrace,
    readonly decoder: NetDecoder,
    private readonly seen: { counts: NetCounts },
  ) {}

  /**
   * What the kernel saw, per operation and outcome, as of its last print (every second, and at
   * the end): printed + duplicates + printedMapFull is every call the probes followed.
   */
  get counts(): NetCounts {
    return this.seen.counts;
  }

  /** `mapKeys`: entries per map (dedupe and calls in flight); tests make it small to fill the dedupe map. */
  static async start(cfg: NetProgramConfig, h: NetProbeHandlers, mapKeys = 65536): Promise<NetProbe> {
    const decoder = new NetDecoder();
    const seen = { counts: emptyNetCounts() };
    const bt = await Bpftrace.start({
      program: netProgram({ ...cfg, excludePids: [...(cfg.excludePids ?? []), process.pid] }),
      strlen: NET_STRLEN,
      // bpftrace reports "attached" before it attaches the probes; the program's BEGIN says when all are.
      readyPrintf: READY_RECORD,
      attachTimeoutMs: 60_000,
      // Per-thread maps of calls in flight and the dedupe map: room for a busy server.
      // A 4 MiB ring per CPU (bpftrace's default is 256 KiB): a burst of sends is read, not lost.
      env: { BPFTRACE_MAP_KEYS_MAX: String(mapKeys), BPFTRACE_PERF_RB_PAGES: '1024' },
      onRecord: (type, data) => {
        if (type !== 'map') return;
        const net = parseNetCounts(data);
        if (net) {
          decoder.counters.malformed += net.malformed;
          seen.counts = net.counts;
          return;
        }
        const { counts, malformed } = parseSentMap(data);
        decoder.counters.malformed += malformed;
        if (counts.length) h.onSentCounts?.(counts);
      },
      onPrintf: (text) => {
        const r = decoder.feed(text);
        if (!r) return;
        if ('op' in r) h.onRecord(r);
        else h.onExe?.(r);
      },
    });
    return new NetProbe(bt, decoder, seen);
  }

  /** Events the kernel dropped (the perf ring was full). */
  get lost(): number {
    return this.bt.status.lost;
  }

  get malformed(): number {
    return this.decoder.counters.malformed + this.bt.status.malformed;
  }

  /** What bpftrace said on stderr (for an error message). */
  get stderr(): string {
    return this.bt.stderr;
  }

  get pid(): number {
    return this.bt.pid;
  }

  get ended(): boolean {
    return this.bt.ended;
  }

  whenExited(): Promise<unknown> {
    return this.bt.whenExited();
  }

  stop(): Promise<void> {
    return this.bt.stop();
  }
}
