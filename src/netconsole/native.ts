/**
 * Loader of the optional native receive path (native/netconsole-recv, built by
 * scripts/build-native.mjs at install). When it is missing the receiver uses Node's dgram.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What the addon preformats: 0 nothing, 1 the text format, 2 udplogger's, 3 JSON (pipeline.ts picks). */
export type PreformatFormat = 0 | 1 | 2 | 3;

export interface NativeRecv {
  ENTRY_BYTES: number;
  openSocket(family: 4 | 6, address: string, port: number, rcvbuf: number, reusePort?: boolean): { fd: number; port: number; rcvbuf: number; forced: boolean };
  closeFd(fd: number): void;
  /** preformat 1|2|3: the addon formats plain lines as text, udplogger or JSON; localTime 1: local stamps (see native-batch.ts). */
  start(
    fds: number[],
    opts: { vlen?: number; slotBytes?: number; batchBytes?: number; maxQueuedBytes?: number; preformat?: PreformatFormat; localTime?: 0 | 1 },
    onBatch: (batch: ArrayBuffer | null, count: number, bytes: number, length: number) => void,
  ): object;
  /**
   * JS has processed a batch: `bytes` as onBatch gave them (the receive thread may read on).
   * Giving back the batch's ArrayBuffer lets the addon reuse it: no view of it may be kept.
   */
  ack(handle: object, bytes: number, batch?: ArrayBuffer): void;
  stop(handle: object): void;
  stats(handle: object): { queuedBytes: number; waits: number; lostBatches: number };
  /** The receive thread's preformatting of one datagram (tests); reserved = bytes it set aside. */
  preformat(
    payload: Buffer,
    family: 4 | 6,
    address: Buffer,
    port: number,
    timeUs: number,
    opts?: { preformat?: PreformatFormat; localTime?: 0 | 1 },
  ): { kind: 1 | 2; lines: number; seq: number; tsUsec: number; reserved: number; zoneQuarters: number; text: Buffer } | null;
}

/** Where the addon is built (from dist/netconsole/ or src/netconsole/). */
export const NATIVE_PATH = fileURLToPath(new URL('../../native/netconsole-recv/build/Release/netconsole_recv.node', import.meta.url));

let cached: { mod: NativeRecv } | { error: string } | undefined;

/** The addon, or why it cannot be used. Loaded once per thread. */
export function loadNative(): { mod: NativeRecv } | { error: string } {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { error: `not Linux (${process.platform})` });
  if (!existsSync(NATIVE_PATH)) return (cached = { error: `not built (${NATIVE_PATH} missing; npm install builds it with node-gyp, or run: node scripts/build-native.mjs)` });
  try {
    const mod = createRequire(import.meta.url)(NATIVE_PATH) as NativeRecv;
    return (cached = { mod });
  } catch (e) {
    return (cached = { error: `cannot load ${NATIVE_PATH}: ${(e as Error).message.split('\n')[0]}` });
  }
}
