/**
 * The in-kernel source of the I/O-at-exit detector: native/bpfexit (a raw_tp BPF program on
 * sched_process_exit that keeps threads without disk I/O in the kernel and puts the others into
 * a ring buffer), given the offsets of the kernel structures it reads from the running kernel's
 * BTF. Optional: without the addon, the BTF or the kernel's consent, the detector falls back to
 * taskstats and says why (detector.ts).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BtfError, parseBtf, VMLINUX_BTF } from '../../common/btf.js';
import { readEvidence } from '../../common/evidence.js';

/** The kernel-structure offsets the program reads at (bytes; task_struct unless said). */
export interface ExitOffsets {
  pid: number;
  tgid: number;
  comm: number;
  exit_code: number;
  start_time: number;
  real_parent: number;
  real_cred: number;
  /** In struct cred. */
  cred_uid: number;
  read_bytes: number;
  write_bytes: number;
  cancelled_write_bytes: number;
  rchar: number;
  wchar: number;
}

/** The addon's counters: seen = skippedNoIo + lost + submitted; submitted = consumed + in the ring (+ in flight). */
export interface BpfexitCounters {
  seen: number;
  skippedNoIo: number;
  /** Ring buffer full: the reservation failed, the record was not made. */
  lost: number;
  submitted: number;
  consumed: number;
  /** Ring records of an unexpected size (never written by the program). */
  malformed: number;
  attached: 0 | 1;
}

export interface BpfexitAddon {
  ENTRY_BYTES: number;
  PROG_NAME: string;
  /** Loads and attaches; throws an Error (code EPERM, EINVAL, …; verifierLog when the verifier refused it). */
  open(opts: { offsets: ExitOffsets; ringBytes?: number; brokenForTest?: 0 | 1 }): { handle: object; progId: number; ringBytes: number; cpus: number; insns: number };
  /** The committed records, consumed, as entries of native/taskstats's layout (core.ts decodeEntries). */
  take(handle: object): Buffer;
  stats(handle: object): BpfexitCounters;
  /** Detaches (the program stops), reads the final counters; the ring stays readable by take(). */
  close(handle: object): void;
  /** Unmaps and closes the ring: after the last take(). */
  release(handle: object): void;
  progExists(id: number): boolean;
}

export const BPFEXIT_ADDON = fileURLToPath(new URL('../../../native/bpfexit/build/Release/bpfexit.node', import.meta.url));

let cached: { mod: BpfexitAddon } | { error: string } | undefined;

/** The addon, or why it cannot be used. */
export function loadBpfexit(): { mod: BpfexitAddon } | { error: string } {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { error: `not Linux (${process.platform})` });
  if (!existsSync(BPFEXIT_ADDON)) return (cached = { error: `native/bpfexit is not built (${BPFEXIT_ADDON} missing; npm install builds it, or run: node scripts/build-native.mjs)` });
  try {
    return (cached = { mod: createRequire(import.meta.url)(BPFEXIT_ADDON) as BpfexitAddon });
  } catch (e) {
    return (cached = { error: `cannot load ${BPFEXIT_ADDON}: ${(e as Error).message.split('\n')[0]}` });
  }
}

/** vmlinux BTF is ~6 MiB on 6.18; a file far beyond is not one. */
const MAX_BTF_BYTES = 256 << 20;

/** The offsets from a BTF blob, each checked to be a whole-byte member of the size the program reads. */
export function exitOffsets(btfBytes: Buffer): ExitOffsets {
  const b = parseBtf(btfBytes);
  const t = (path: string, size: number) => b.byteOffset('task_struct', path, size);
  return {
    pid: t('pid', 4),
    tgid: t('tgid', 4),
    comm: t('comm', 16),
    exit_code: t('exit_code', 4),
    start_time: t('start_time', 8),
    real_parent: t('real_parent', 8),
    real_cred: t('real_cred', 8),
    cred_uid: b.byteOffset('cred', 'uid.val', 4),
    read_bytes: t('ioac.read_bytes', 8),
    write_bytes: t('ioac.write_bytes', 8),
    cancelled_write_bytes: t('ioac.cancelled_write_bytes', 8),
    rchar: t('ioac.rchar', 8),
    wchar: t('ioac.wchar', 8),
  };
}

/** The offsets of the running kernel (or of the BTF file given), or why there are none. */
export function kernelExitOffsets(btfPath = VMLINUX_BTF): { offsets: ExitOffsets } | { error: string } {
  const r = readEvidence(btfPath, { maxBytes: MAX_BTF_BYTES, whenLonger: 'fail' });
  if (!r.ok) return { error: `no kernel BTF at ${btfPath} (${r.reason})` };
  try {
    return { offsets: exitOffsets(r.bytes) };
  } catch (e) {
    if (e instanceof BtfError) return { error: `${btfPath}: ${e.message}` };
    throw e;
  }
}

/** Loads tried when the verifier gives up with EAGAIN (as libbpf does). */
const LOAD_ATTEMPTS = 5;

/**
 * The verifier stops with EAGAIN when a signal is pending for the loading thread (seen with
 * `node --cpu-prof`, whose SIGPROF arrives every sampling interval): the load is tried again.
 */
function openRetrying(mod: BpfexitAddon, offsets: ExitOffsets, ringBytes: number): ReturnType<BpfexitAddon['open']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return mod.open({ offsets, ringBytes });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= LOAD_ATTEMPTS) throw e;
    }
  }
}

/** An open in-kernel source: what the detector calls, the same shape as the taskstats one. */
export interface BpfSource {
  progId: number;
  ringBytes: number;
  take(): Buffer;
  stats(): BpfexitCounters;
  /** Detach, drain the ring, close every descriptor; take() still hands out what was drained. */
  close(): void;
}

/** Loads and attaches the program; throws an Error with a one-line message (the verifier's last words included). */
export function openBpfSource(mod: BpfexitAddon, offsets: ExitOffsets, ringBytes: number): BpfSource {
  const o = openRetrying(mod, offsets, ringBytes);
  let tail: Buffer | null = null;
  return {
    progId: o.progId,
    ringBytes: o.ringBytes,
    take() {
      if (tail === null) return mod.take(o.handle);
      const b = tail;
      tail = Buffer.alloc(0);
      return b;
    },
    stats() {
      return mod.stats(o.handle);
    },
    close() {
      if (tail !== null) return;
      // Detached first (the final counters are read after), then the ring drained and every
      // descriptor closed at once: nothing stays open waiting for a take() that may never come.
      mod.close(o.handle);
      tail = mod.take(o.handle);
      mod.release(o.handle);
    },
  };
}
