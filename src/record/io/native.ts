/**
 * Loader of the optional taskstats addon (native/taskstats, built by scripts/build-native.mjs at
 * install). Without it the recorder's I/O detector is off and says why.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The addon's counters (native/taskstats/taskstats.c explains how they add up). */
export interface TaskstatsCounters {
  /** Taskstats messages received. */
  messages: number;
  /** Per-thread (AGGR_PID) exit records received. */
  records: number;
  /** Records of threads that did no disk I/O (not queued). */
  skippedNoIo: number;
  /** Per-process summaries (AGGR_TGID): their I/O fields are zero, not used. */
  groupRecords: number;
  /** Records dropped because the queue was full (JavaScript did not take them in time). */
  queueDrops: number;
  /** Records waiting for take(). */
  queued: number;
  /** Receives that failed with ENOBUFS (the kernel dropped notifications). */
  enobufs: number;
  /** Notifications the kernel dropped for this socket (sk_drops via SO_MEMINFO), exact; -1 when unknown. */
  drops: number;
  parseErrors: number;
  truncated: number;
  recvErrors: number;
  lastErrno: number;
}

export interface TaskstatsAddon {
  ENTRY_BYTES: number;
  /** rcvbuf: bytes asked for (the kernel's minimum applies); cpumask: default every possible CPU; maxQueued: entries. */
  open(opts: { rcvbuf?: number; cpumask?: string; skipNoIo?: 0 | 1; maxQueued?: number }): { handle: object; family: number; rcvbuf: number; forced: boolean; cpumask: string };
  /** The entries queued since the last take (count × ENTRY_BYTES bytes). */
  take(handle: object): Buffer;
  stats(handle: object): TaskstatsCounters;
  /** Stops the receive thread, deregisters, closes the socket; take() still returns what was queued. */
  close(handle: object): void;
  /** The receive thread's parser on given bytes (tests). */
  parse(datagram: Buffer, familyId: number, skipNoIo: 0 | 1): { entries: Buffer; messages: number; records: number; skippedNoIo: number; groupRecords: number; parseErrors: number };
  /** Field offsets in the addon's struct taskstats (its header's version), and its size. */
  STATS_LAYOUT: Record<
    | 'version'
    | 'ac_exitcode'
    | 'ac_comm'
    | 'ac_uid'
    | 'ac_pid'
    | 'ac_ppid'
    | 'ac_btime'
    | 'ac_etime'
    | 'read_char'
    | 'write_char'
    | 'read_bytes'
    | 'write_bytes'
    | 'cancelled_write_bytes'
    | 'ac_btime64'
    | 'ac_tgid'
    | 'size',
    number
  >;
}

export const TASKSTATS_ADDON = fileURLToPath(new URL('../../../native/taskstats/build/Release/taskstats.node', import.meta.url));

let cached: { mod: TaskstatsAddon } | { error: string } | undefined;

/** The addon, or why it cannot be used. */
export function loadTaskstats(): { mod: TaskstatsAddon } | { error: string } {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { error: `not Linux (${process.platform})` });
  if (!existsSync(TASKSTATS_ADDON)) return (cached = { error: `native/taskstats is not built (${TASKSTATS_ADDON} missing; npm install builds it, or run: node scripts/build-native.mjs)` });
  try {
    return (cached = { mod: createRequire(import.meta.url)(TASKSTATS_ADDON) as TaskstatsAddon });
  } catch (e) {
    return (cached = { error: `cannot load ${TASKSTATS_ADDON}: ${(e as Error).message.split('\n')[0]}` });
  }
}
