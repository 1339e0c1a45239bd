/**
 * Loader of the optional bpfstat addon (native/bpfstat, built by scripts/build-native.mjs at
 * install): the slow-stat detector's raw-tracepoint backend. Without it the detector runs on
 * bpftrace and `record status` says why.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BtfError, KIND, parseBtf, VMLINUX_BTF } from '../../common/btf.js';
import { readEvidence } from '../../common/evidence.js';

/** The kernel-side counters, summed over CPUs (native/bpfstat/bpfstat.c says how they add up). */
export interface BpfstatCounters {
  /** Stat-family calls paired (enter seen, exit seen) and timed. */
  calls: number;
  /** Of them, at or above the threshold: written to the ring or lost. */
  slow: number;
  /** Slow calls whose ring-buffer reservation failed (ring full): not recorded. */
  lost: number;
  /** Exits of watched calls without a start (begun before attach, or their slot held another thread's call). */
  unpaired: number;
  /** Starts not stored (the thread's slot in the array of calls held another thread's call: tids equal modulo the slots). */
  startFailed: number;
  /** pt_regs reads at a system call exit that failed (that call, if watched, was not timed). */
  readFailed: number;
  /** Records taken from the ring by this process. */
  taken: number;
  /** Paired calls by duration: bucket i holds [2^i, 2^(i+1)) ns (bucket 0 also 0 ns). */
  hist: number[];
  /** With open({ runStats: 1 }): the kernel's run time (ns) and run count of each program. */
  enterRunNs?: number;
  enterRuns?: number;
  exitRunNs?: number;
  exitRuns?: number;
}

export interface BpfstatAddon {
  /** Tracepoint name (syscalls:sys_enter_<name>) → this architecture's syscall id; -1 where unsupported. */
  CALL_IDS: Record<string, number>;
  REC_BYTES: number;
  PATH_BYTES: number;
  INFLIGHT_BYTES: number;
  /** Creates the maps, loads and attaches both programs; throws a one-line error (the verifier's last lines on a refused load). */
  /**
   * exitBtfId: the kernel's BTF id of the typedef btf_trace_sys_exit: the exit program is then
   * tp_btf (plain loads from the pt_regs instead of a helper call per system call exit), raw_tp
   * when the kernel refuses it (exitNote says why). loadBpfstat()'s open() fills it in.
   */
  open(opts: { calls: string[]; thresholdNs: number; entries?: number; ringBytes?: number; runStats?: 0 | 1; exitBtfId?: number }): {
    handle: object;
    progIds: number[];
    ringBytes: number;
    entries: number;
    cpus: number;
    exitAttach: 'tp_btf' | 'raw_tp';
    exitNote?: string;
  };
  /** The records in the ring (REC_BYTES each), consumed. */
  take(handle: object): Buffer;
  /** Every thread's entry in the map of calls (INFLIGHT_BYTES each; start 0: idle). */
  inFlight(handle: object): Buffer;
  /** Removes the entries of these pid_tgid keys (u64 each, little endian); how many were there. */
  forget(handle: object, keys: Buffer): number;
  stats(handle: object): BpfstatCounters;
  /** Detaches and closes every fd; idempotent. */
  close(handle: object): void;
  /** Every BPF program id loaded on this machine (BPF_PROG_GET_NEXT_ID). */
  progIds(): number[];
  /** Throws what a verifier refusal looks like (tests). */
  loadBroken(): never;
}

export const BPFSTAT_ADDON = fileURLToPath(new URL('../../../native/bpfstat/build/Release/bpfstat.node', import.meta.url));

const cache = new Map<string, { mod: BpfstatAddon } | { error: string }>();

/** vmlinux BTF is ~6 MiB on 6.18; a file far beyond is not one. */
const MAX_BTF_BYTES = 256 << 20;
let exitBtf: number | undefined | null = null;

/** The running kernel's BTF id of btf_trace_sys_exit (what a tp_btf program on sys_exit attaches by), or undefined. */
export function sysExitBtfId(btfPath = VMLINUX_BTF): number | undefined {
  if (exitBtf !== null && btfPath === VMLINUX_BTF) return exitBtf;
  let id: number | undefined;
  const r = readEvidence(btfPath, { maxBytes: MAX_BTF_BYTES, whenLonger: 'fail' });
  if (r.ok) {
    try {
      const b = parseBtf(r.bytes);
      id = b.idsNamed('btf_trace_sys_exit').find((i) => b.kindOf(i) === KIND.TYPEDEF);
    } catch (e) {
      if (!(e instanceof BtfError)) throw e;
    }
  }
  if (btfPath === VMLINUX_BTF) exitBtf = id;
  return id;
}

/** The addon, or why it cannot be used. LANTERN_BPFSTAT_ADDON names another build (tests point it at a missing one). */
export function loadBpfstat(): { mod: BpfstatAddon } | { error: string } {
  const path = process.env.LANTERN_BPFSTAT_ADDON || BPFSTAT_ADDON;
  const hit = cache.get(path);
  if (hit) return hit;
  let r: { mod: BpfstatAddon } | { error: string };
  if (process.platform !== 'linux') r = { error: `not Linux (${process.platform})` };
  else if (!existsSync(path)) r = { error: `native/bpfstat is not built (${path} missing; npm install builds it, or run: node scripts/build-native.mjs)` };
  else {
    try {
      const raw = createRequire(import.meta.url)(path) as BpfstatAddon;
      // The exit program on tp_btf where the kernel's BTF names sys_exit's tracepoint (no BTF: raw_tp).
      // (Its properties are neither enumerable nor writable: the wrapper inherits them and defines its own open.)
      const mod = Object.create(raw) as BpfstatAddon;
      const open: BpfstatAddon['open'] = (opts) => raw.open({ exitBtfId: sysExitBtfId(), ...opts });
      Object.defineProperty(mod, 'open', { value: open });
      r = { mod };
    } catch (e) {
      r = { error: `cannot load ${path}: ${(e as Error).message.split('\n')[0]}` };
    }
  }
  cache.set(path, r);
  return r;
}
