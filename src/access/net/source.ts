/**
 * The network AccessSource: bind, listen, connect, accept and datagram sends (inet and unix) as
 * TOMOYO-style `network` lines, from the one network probe program (program.ts).
 */
import type { AccessEvent, AccessSource } from '../event.js';
import { monoToWall, NetProbe } from './probe.js';
import { operandOf, type NetRecord } from './records.js';

export interface NetworkSourceOptions {
  /** Processes not reported (the recorder itself is always left out). */
  excludePids?: readonly number[];
  /** Report every datagram send, not only the first per process and destination (default false). */
  everySend?: boolean;
}

/** What this source cannot see on this kernel family, said in `lantern record status`. */
export const NETWORK_BLIND: readonly string[] = [
  'unix listen and accept are not reported (inet listen and accept are)',
  'stream sends are not access lines (their connect or accept is); raw and packet sockets are not reported',
  'io_uring network operations do not pass through the syscall tracepoints and are not seen',
  'a datagram send is reported once per process and destination (deduplicated in the kernel); a full dedupe map reports repeats, never fewer',
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

class NetworkSource implements AccessSource {
  readonly name = 'bpftrace';
  readonly blind = NETWORK_BLIND;
  constructor(private readonly probe: NetProbe) {}
  /** bpftrace's pid: the file backends leave their own helpers out. */
  get pid(): number {
    return this.probe.pid;
  }
  get lost(): number {
    return this.probe.lost;
  }
  stop(): Promise<void> {
    return this.probe.stop();
  }
}

/**
 * Starts the network source; resolves once the probes are attached. Rejects with bpftrace's own
 * reason when it is missing or refuses the program.
 */
export async function startNetworkSource(opts: NetworkSourceOptions, onEvent: (e: AccessEvent) => void): Promise<AccessSource> {
  const wall = monoToWall();
  const probe = await NetProbe.start(
    { ops: ['send', 'connect', 'bind', 'listen', 'accept'], unix: true, dedupeSends: !opts.everySend, excludePids: opts.excludePids },
    {
      onRecord: (r) => {
        const e = networkEvent(r, wall(r.monoUs));
        if (e) onEvent(e);
      },
    },
  );
  return new NetworkSource(probe);
}
