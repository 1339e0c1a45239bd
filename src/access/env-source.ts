/**
 * Where the `misc env NAME` lines come from: the names of each exec's environment, read in the
 * kernel at the exec by native/bpfenv (a raw_tp program on sched_process_exec, offsets of
 * task_struct.mm and mm_struct.env_start/env_end from the running kernel's BTF), so that a
 * process gone 1 ms after its exec still gives its names. Optional: without the addon, the BTF
 * or the kernel's consent the tracker reads /proc/<pid>/environ when the model reports the exec
 * (tracker.ts), and `record status` says which source runs and why.
 *
 * Only names reach JavaScript: the addon cuts every entry after its first '=' (see bpfenv.c).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BtfError, parseBtf, VMLINUX_BTF } from '../common/btf.js';
import { readEvidence } from '../common/evidence.js';

/** The offsets the program reads at (bytes): task_struct.mm, mm_struct.env_start, mm_struct.env_end. */
export interface EnvOffsets {
  mm: number;
  env_start: number;
  env_end: number;
}

/** The addon's counters: seen = submitted + lost + noScratch; submitted = taken + malformed + in the ring. */
export interface BpfenvCounters {
  /** Execs the program ran at (every exec on the machine). */
  seen: number;
  submitted: number;
  /** The ring was full: the exec's record was not written. */
  lost: number;
  noScratch: number;
  taken: number;
  malformed: number;
  attached: 0 | 1;
  /** With open({ runStats: 1 }): the kernel's run time and run count of the program. */
  runNs?: number;
  runCount?: number;
}

export interface BpfenvAddon {
  CAP_BYTES: number;
  ENTRY_HEAD_BYTES: number;
  PROG_NAME: string;
  open(opts: { offsets: EnvOffsets; ringBytes?: number; runStats?: 0 | 1 }): { handle: object; progId: number; ringBytes: number; cpus: number; insns: number };
  take(handle: object): Buffer;
  stats(handle: object): BpfenvCounters;
  /** Detaches and reads the final counters; take() still drains the ring once. */
  close(handle: object): void;
  release(handle: object): void;
  progExists(id: number): boolean;
}

export const BPFENV_ADDON = fileURLToPath(new URL('../../native/bpfenv/build/Release/bpfenv.node', import.meta.url));

const cache = new Map<string, { mod: BpfenvAddon } | { error: string }>();

/** The addon, or why it cannot be used. LANTERN_BPFENV_ADDON names another build (tests point it at a missing one). */
export function loadBpfenv(): { mod: BpfenvAddon } | { error: string } {
  const path = process.env.LANTERN_BPFENV_ADDON || BPFENV_ADDON;
  const hit = cache.get(path);
  if (hit) return hit;
  let r: { mod: BpfenvAddon } | { error: string };
  if (process.platform !== 'linux') r = { error: `not Linux (${process.platform})` };
  else if (!existsSync(path)) r = { error: `native/bpfenv is not built (${path} missing; npm install builds it, or run: node scripts/build-native.mjs)` };
  else {
    try {
      r = { mod: createRequire(import.meta.url)(path) as BpfenvAddon };
    } catch (e) {
      r = { error: `cannot load ${path}: ${(e as Error).message.split('\n')[0]}` };
    }
  }
  cache.set(path, r);
  return r;
}

/** vmlinux BTF is ~6 MiB on 6.18; a file far beyond is not one. */
const MAX_BTF_BYTES = 256 << 20;

/** The offsets of the running kernel (or of the BTF file given), or why there are none. */
export function kernelEnvOffsets(btfPath = VMLINUX_BTF): { offsets: EnvOffsets } | { error: string } {
  const r = readEvidence(btfPath, { maxBytes: MAX_BTF_BYTES, whenLonger: 'fail' });
  if (!r.ok) return { error: `no kernel BTF at ${btfPath} (${r.reason})` };
  try {
    const b = parseBtf(r.bytes);
    return { offsets: { mm: b.byteOffset('task_struct', 'mm', 8), env_start: b.byteOffset('mm_struct', 'env_start', 8), env_end: b.byteOffset('mm_struct', 'env_end', 8) } };
  } catch (e) {
    if (e instanceof BtfError) return { error: `${btfPath}: ${e.message}` };
    throw e;
  }
}

/** Flags of a record (bpfenv.c). */
export const ENV_TRUNCATED = 1;
export const ENV_UNREADABLE = 2;
export const ENV_NO_MM = 4;

/** One exec's environment names, as the kernel saw them at the exec. */
export interface EnvRecord {
  /** CLOCK_BOOTTIME ns of the exec (the trace clock). */
  bootNs: number;
  tgid: number;
  tid: number;
  flags: number;
  /** The block's size in the new image (bytes; more than the cap when truncated). */
  blockBytes: number;
  /** `NAME=` entries, NUL after each: what envNames() reads. */
  names: string;
}

/** The entries of take() (pure): ENTRY_HEAD bytes each, then its names. A cut entry ends the list. */
export function decodeEnvEntries(buf: Buffer, headBytes = 32): EnvRecord[] {
  const out: EnvRecord[] = [];
  let off = 0;
  while (off + headBytes <= buf.length) {
    const n = buf.readUInt32LE(off + 24);
    if (off + headBytes + n > buf.length) break;
    out.push({
      bootNs: buf.readDoubleLE(off),
      tgid: buf.readUInt32LE(off + 8),
      tid: buf.readUInt32LE(off + 12),
      flags: buf.readUInt32LE(off + 16),
      blockBytes: buf.readUInt32LE(off + 20),
      names: buf.toString('utf8', off + headBytes, off + headBytes + n),
    });
    off += headBytes + n;
  }
  return out;
}

/** A running in-kernel env source: what the tracker calls. */
export interface EnvSource {
  /** For `record status`: what runs. */
  readonly describe: string;
  readonly progId: number;
  /** The bytes a block is cut at. */
  readonly capBytes: number;
  take(): EnvRecord[];
  stats(): BpfenvCounters;
  /** Detach, drain the ring, close every descriptor; take() hands out what was drained, once. */
  close(): void;
}

/** Loads and attaches native/bpfenv, or says why it cannot run (one line). */
export function openEnvSource(opts: { btfPath?: string; ringBytes?: number } = {}): { source: EnvSource } | { error: string } {
  const loaded = loadBpfenv();
  if ('error' in loaded) return { error: loaded.error };
  const off = kernelEnvOffsets(opts.btfPath);
  if ('error' in off) return { error: off.error };
  const mod = loaded.mod;
  let o: ReturnType<BpfenvAddon['open']>;
  try {
    o = mod.open({ offsets: off.offsets, ringBytes: opts.ringBytes ?? 4 << 20 });
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0]! };
  }
  let tail: Buffer | null = null;
  let final: BpfenvCounters | null = null;
  return {
    source: {
      describe: `in the kernel at each exec (native/bpfenv, BPF program ${o.progId} on sched_process_exec)`,
      progId: o.progId,
      capBytes: mod.CAP_BYTES,
      take() {
        let b: Buffer;
        if (tail === null) b = mod.take(o.handle);
        else {
          b = tail;
          tail = Buffer.alloc(0);
        }
        return decodeEnvEntries(b, mod.ENTRY_HEAD_BYTES);
      },
      stats() {
        return final ?? mod.stats(o.handle);
      },
      close() {
        if (tail !== null) return;
        // Detached first (the final counters are read after), then the ring drained and every
        // descriptor closed at once: nothing stays open waiting for a take() that may never come.
        mod.close(o.handle);
        tail = mod.take(o.handle);
        final = mod.stats(o.handle);
        mod.release(o.handle);
      },
    },
  };
}
