/**
 * The network AccessSource: bind, listen, connect, accept and datagram sends (inet and unix) as
 * TOMOYO-style `network` lines, from the one network probe program (program.ts).
 *
 * The program prints an access only the first time a process image makes it (deduplicated in the
 * kernel) and counts the rest there; its counts and this source's make one account, shown in
 * `lantern record status` (stats()): seen = printed + duplicates + printedMapFull (kernel), and
 * printed + printedMapFull = records + unreceived (what the ring lost, or is still on its way).
 */
import type { AccessEvent, AccessSource } from '../event.js';
import { NET_OPS } from './program.js';
import { monoToWall, NetProbe } from './probe.js';
import { operandOf, type NetRecord } from './records.js';

export interface NetworkSourceOptions {
  /** Processes not reported (the recorder itself is always left out). */
  excludePids?: readonly number[];
  /** Report every access, not only the first per process image (default false: deduplicated in the kernel). */
  everyAccess?: boolean;
  /** Entries of the in-kernel dedupe map (default 65536; tests fill a small one). */
  mapKeys?: number;
}

/** What this source cannot see on this kernel family, said in `lantern record status`. */
export const NETWORK_BLIND: readonly string[] = [
  'stream sends are not access lines (their connect or accept is); raw and packet sockets are not reported',
  'io_uring network operations do not pass through the syscall tracepoints and are not seen',
  'an access is printed once per process image (deduplicated in the kernel); a full dedupe map prints repeats until it is emptied, never fewer',
];

/**
 * The TOMOYO operation of a record (`inet stream connect 127.0.0.1 22`, `unix dgram bind /dev/log`,
 * `inet dgram send ::1 53`), or null for what has no access line (stream sends, raw sockets).
 */
export function networkOperation(r: NetRecord): string | null {
  if (r.family === 'other' || r.sockType === 'other' || r.sockType === 'raw') return null;
  const fam = r.family === 'unix' ? 'unix' : 'inet';
  if (r.op === 'send' && (r.family === 'unix' || r.sockType !== 'dgram')) return null;
  return `${fam} ${r.sockType} ${r.op} ${operandOf(r)}`;
}

/** The AccessEvent of a record (pure; timeUs from the caller's clock anchor). */
export function networkEvent(r: NetRecord, timeUs: number): AccessEvent | null {
  const operation = networkOperation(r);
  if (!operation) return null;
  const e: AccessEvent = { timeUs, pid: r.pid, tid: r.tid, comm: r.comm, category: 'network', operation };
  if (r.errno) e.errno = r.errno;
  return e;
}

/** The account of one network source (every figure a total since the start). */
export type NetworkStats = {
  /** Calls the probes followed (kernel counts, as of bpftrace's last print: every second and at the end). */
  seen: number;
  /** First occurrences the kernel printed. */
  printed: number;
  /** Repeats the kernel kept (counted, not printed). */
  duplicates: number;
  /** Printed again because the dedupe map was full (it is then emptied). */
  printedMapFull: number;
  /** Access records that arrived here. */
  records: number;
  /** Of those, records with no access line (a raw socket's connect, an unknown family). */
  withoutLine: number;
  /** Printed in the kernel but not (yet) arrived: lost in the ring, or still on their way. */
  unreceived: number;
  /** Events the kernel ring dropped (bpftrace's count; a unix access is up to three events). */
  lostEvents: number;
  /** Records that did not parse. */
  malformed: number;
  /** unix records whose path record did not arrive. */
  unixWithoutPath: number;
};

export class NetworkSource implements AccessSource {
  readonly name = 'network';
  readonly blind = NETWORK_BLIND;
  constructor(
    private readonly probe: NetProbe,
    private readonly tally: { withoutLine: number },
  ) {}
  /** bpftrace's pid: the file backends leave their own helpers out. */
  get pid(): number {
    return this.probe.pid;
  }
  get lost(): number {
    return this.probe.lost;
  }
  get malformed(): number {
    return this.probe.malformed;
  }
  stats(): NetworkStats {
    const c = this.probe.counts;
    const sum = (k: 'printed' | 'duplicate' | 'printedMapFull') => NET_OPS.reduce((n, op) => n + c[op][k], 0);
    const printed = sum('printed');
    const printedMapFull = sum('printedMapFull');
    const duplicates = sum('duplicate');
    const records = this.probe.decoder.counters.records;
    return {
      seen: printed + duplicates + printedMapFull,
      printed,
      duplicates,
      printedMapFull,
      records,
      withoutLine: this.tally.withoutLine,
      // The kernel's counts lag by up to a second while running; exact once stopped.
      unreceived: Math.max(0, printed + printedMapFull - records),
      lostEvents: this.probe.lost,
      malformed: this.probe.malformed,
      unixWithoutPath: this.probe.decoder.counters.unixWithoutPath,
    };
  }
  stop(): Promise<void> {
    return this.probe.stop();
  }
}

/**
 * Starts the network source; resolves once the probes are attached. Rejects with bpftrace's own
 * reason when it is missing or refuses the program.
 */
export async function startNetworkSource(opts: NetworkSourceOptions, onEvent: (e: AccessEvent) => void): Promise<NetworkSource> {
  const wall = monoToWall();
  const tally = { withoutLine: 0 };
  const probe = await NetProbe.start(
    { ops: NET_OPS, unix: true, dedupe: !opts.everyAccess, countSends: false, dgramSendsOnly: true, excludePids: opts.excludePids },
    {
      onRecord: (r) => {
        const e = networkEvent(r, wall(r.monoUs));
        if (e) onEvent(e);
        else tally.withoutLine++;
      },
    },
    opts.mapKeys,
  );
  return new NetworkSource(probe, tally);
}
