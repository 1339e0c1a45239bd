/**
 * The I/O-at-exit detector, driven by the recorder's tick: exit records (one per exiting thread,
 * with the task I/O accounting counters /proc/<pid>/task/<tid>/io showed just before) become
 * `io` records for the threads that did disk I/O. Two sources give the same entries: the
 * in-kernel one (native/bpfexit, bpf.ts: a raw_tp program on sched_process_exit that drops the
 * threads without disk I/O in the kernel) and, when it cannot run (addon missing, no BTF, load
 * refused), the taskstats addon (one netlink message per exiting thread, filtered here). Each record is
 * put into the recorder's event stream at the time it was received, so it meets the process
 * model in kernel order; its process is the model's live one or, when the model has already
 * handled the group's exit, the one it recorded exiting (core.ts resolveProcess).
 */
import { newRecord, type ProcessModel, type ProcessRecord } from '../process/model.js';
import type { Store } from '../store/store.js';
import type { DecodedEvent } from '../tracefs/decode.js';
import { decodeEntries, didDiskIo, ExitMatcher, type IoExit } from './core.js';
import { loadTaskstats, type TaskstatsAddon } from './native.js';
import { kernelExitOffsets, loadBpfexit, openBpfSource, type BpfexitCounters, type BpfSource } from './bpf.js';
import { VMLINUX_BTF } from '../../common/btf.js';

/** auto: the in-kernel source, else taskstats; bpf or taskstats: that one only. */
export type IoSourceChoice = 'auto' | 'bpf' | 'taskstats';
export const IO_SOURCES: readonly IoSourceChoice[] = ['auto', 'bpf', 'taskstats'];

export interface IoOptions {
  /** The netlink socket's receive buffer, bytes (the kernel's minimum, ~2 KiB, applies). */
  rcvbufBytes: number;
  /** Exit records the addon keeps for the next tick; beyond, they are dropped and counted. */
  maxQueued: number;
  /** Which source (default auto: the in-kernel one, else taskstats). */
  source?: IoSourceChoice;
  /** The in-kernel source's ring buffer, bytes (a power of two; default DEFAULT_RING_BYTES). */
  ringBytes?: number;
  /** Where the kernel's BTF is read (the structure offsets of the in-kernel source; default /sys/kernel/btf/vmlinux). */
  btfPath?: string;
}

export const DEFAULT_IO: IoOptions = {
  // 4 MiB holds ~9,000 exit notifications (~450 bytes each): 2 s of a 4,000 exits/s storm
  // between two ticks of the receive thread even if it were starved.
  rcvbufBytes: 4 << 20,
  maxQueued: 262_144,
};

/** The in-kernel source's ring buffer: 4 MiB holds ~40,000 records (104 bytes each), 10 s of 4,000 exits/s with disk I/O. */
export const DEFAULT_RING_BYTES = 4 << 20;

/** The name of the pseudo-event an exit record becomes in the recorder's stream. */
export const IO_EVENT = 'taskstats_exit';

export type IoEvent = DecodedEvent & { io: IoExit };

/** An exit record has no tracepoint fields: one shared empty object (nothing writes to it). */
const NO_FIELDS: DecodedEvent['fields'] = Object.freeze({});

export interface IoStatus {
  /** bpf: the in-kernel program (native/bpfexit); taskstats: the netlink exit records. */
  source: 'bpf' | 'taskstats' | 'unavailable';
  /** Why it is unavailable. */
  note: string | null;
  /** Why the in-kernel source is not the one running (null when it runs, or was not asked for). */
  bpfNote: string | null;
  /** The in-kernel program's id (bpftool prog show id N) and its ring buffer's bytes. */
  progId: number;
  ringBytes: number;
  rcvbufBytes: number;
  forced: boolean;
  cpumask: string;
  /** Thread exits the kernel notified (taskstats: received + lostKernel; bpf: the program's runs). */
  exits: number;
  /** Per-thread exit records received (bpf: records put into the ring, i.e. with disk I/O). */
  received: number;
  /** io records made (threads with disk I/O). */
  records: number;
  /** Threads without disk I/O (read_bytes, write_bytes and cancelled_write_bytes all 0): not stored. */
  skippedNoIo: number;
  /** Notifications the kernel dropped (socket buffer full), exact (sk_drops); bpf: ring buffer full. */
  lostKernel: number;
  /** Records dropped by the addon's full queue. */
  lostQueue: number;
  /** Receives that reported ENOBUFS (each stands for one or more of lostKernel). */
  enobufs: number;
  /** Received, not yet made into records (the addon's queue and the recorder's hold-back). */
  waiting: number;
  parseErrors: number;
  /** Records whose process the model did not know (domain <kernel>, program unknown). */
  unknownProcess: number;
  /** Records matched to a process whose exit the model had already handled. */
  afterExit: number;
  /** Per-process summaries (AGGR_TGID) received; their I/O is zero on Linux 6.18, the per-thread records carry it. */
  groupRecords: number;
}

export interface IoEnv {
  store: Store;
  model: ProcessModel;
  /** The trace clock now (ns). */
  nowTs(): number;
  toWallUs(ts: number): number;
  say(line: string): void;
}

export class IoDetector {
  readonly status: IoStatus;
  private addon: TaskstatsAddon | null = null;
  private handle: object | null = null;
  private bpf: BpfSource | null = null;
  private readonly matcher = new ExitMatcher();
  private taken = 0;
  private made = 0;
  private skippedHere = 0;

  constructor(
    readonly opts: IoOptions,
    private readonly env: IoEnv,
  ) {
    this.status = {
      source: 'unavailable',
      note: null,
      bpfNote: null,
      progId: 0,
      ringBytes: 0,
      rcvbufBytes: 0,
      forced: false,
      cpumask: '',
      exits: 0,
      received: 0,
      records: 0,
      skippedNoIo: 0,
      lostKernel: 0,
      lostQueue: 0,
      enobufs: 0,
      waiting: 0,
      parseErrors: 0,
      unknownProcess: 0,
      afterExit: 0,
      groupRecords: 0,
    };
    const choice = opts.source ?? 'auto';
    if (choice !== 'taskstats') {
      const why = this.openBpf(opts);
      if (why === null) return;
      this.status.bpfNote = why;
      if (choice === 'bpf') {
        this.unavailable(`in-kernel source: ${why}`);
        return;
      }
    }
    const loaded = loadTaskstats();
    if ('error' in loaded) {
      this.unavailable(this.status.bpfNote ? `in-kernel source: ${this.status.bpfNote}; taskstats: ${loaded.error}` : loaded.error);
      return;
    }
    try {
      const o = loaded.mod.open({ rcvbuf: opts.rcvbufBytes, maxQueued: opts.maxQueued, skipNoIo: 1 });
      this.addon = loaded.mod;
      this.handle = o.handle;
      Object.assign(this.status, { source: 'taskstats', rcvbufBytes: o.rcvbuf, forced: o.forced, cpumask: o.cpumask });
      if (this.status.bpfNote) this.env.say(`lantern record: I/O detector on taskstats (in-kernel source unavailable: ${this.status.bpfNote})`);
    } catch (e) {
      this.unavailable(this.status.bpfNote ? `in-kernel source: ${this.status.bpfNote}; taskstats: ${(e as Error).message}` : (e as Error).message);
    }
  }

  /** Opens the in-kernel source; null when it runs, else why not (one line). */
  private openBpf(opts: IoOptions): string | null {
    const loaded = loadBpfexit();
    if ('error' in loaded) return loaded.error;
    const k = kernelExitOffsets(opts.btfPath ?? VMLINUX_BTF);
    if ('error' in k) return k.error;
    try {
      this.bpf = openBpfSource(loaded.mod, k.offsets, opts.ringBytes ?? DEFAULT_RING_BYTES);
    } catch (e) {
      return (e as Error).message.split('\n')[0]!;
    }
    Object.assign(this.status, { source: 'bpf', progId: this.bpf.progId, ringBytes: this.bpf.ringBytes });
    return null;
  }

  private unavailable(why: string): void {
    this.status.note = why;
    this.env.say(`lantern record: I/O detector off: ${why}`);
  }

  get active(): boolean {
    return this.handle !== null || this.bpf !== null;
  }

  /** The exit records received since the last call, as events of the trace clock (to be merged into the recorder's stream). */
  take(): IoEvent[] {
    let raw: Buffer;
    if (this.bpf) raw = this.bpf.take();
    else if (this.addon && this.handle) raw = this.addon.take(this.handle);
    else return [];
    const entries = decodeEntries(raw);
    if (entries.length === 0) return [];
    // Received (bpf: exited) on CLOCK_MONOTONIC; the trace clock is that plus the boot offset.
    const offset = this.env.nowTs() - Number(process.hrtime.bigint());
    this.taken += entries.length;
    const out = new Array<IoEvent>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const io = entries[i]!;
      out[i] = { ts: io.recvMonoNs + offset, cpu: -1, name: IO_EVENT, commonPid: io.tid, fields: NO_FIELDS, io };
    }
    return out;
  }

  /** The model handled these records at trace time ts: a group's exit is remembered for records that come after it. */
  noteRecords(records: ProcessRecord[], ts: number): void {
    this.matcher.noteRecords(records, ts);
  }

  /** One exit record at its place in the stream: an `io` record, or null (no disk I/O). */
  onEvent(ev: IoEvent): ProcessRecord | null {
    this.made++;
    const e = ev.io;
    if (e.shortStats || !didDiskIo(e)) {
      this.skippedHere++;
      return null;
    }
    const timeUs = this.env.toWallUs(ev.ts);
    const tgid = e.tgid || e.tid;
    const { view, via } = this.matcher.match(e, timeUs, this.env.model.procs);
    if (via === 'unknown') this.status.unknownProcess++;
    if (via === 'exited') this.status.afterExit++;
    this.status.records++;
    return newRecord({
      id: this.env.store.nextId(),
      type: 'io',
      timeUs,
      pid: tgid,
      tid: e.tid,
      ppid: e.ppid,
      pstartUs: view ? view.startUs : Math.round(timeUs - e.elapsedUs),
      uid: e.uid,
      program: view?.program ?? null,
      comm: e.comm,
      domainId: view?.domainId ?? this.env.store.root,
      // No detail text: the store composes it from the numbers when it is read (IO_DETAIL_FIELDS).
      io: { readBytes: e.readBytes, writeBytes: e.writeBytes, cancelledWriteBytes: e.cancelledWriteBytes, readChars: e.readChars, writeChars: e.writeChars },
    });
  }

  /** Counters from the addon; forget old exits. Called once per tick. */
  poll(): void {
    this.matcher.prune(this.env.nowTs());
    if (this.bpf) this.refreshBpf(this.bpf.stats());
    else if (this.addon && this.handle) this.refresh(this.addon.stats(this.handle));
  }

  /** seen = skipped in the kernel + lost (ring full) + submitted; submitted = consumed + malformed + in the ring. */
  private refreshBpf(c: BpfexitCounters): void {
    const s = this.status;
    s.exits = c.seen;
    s.received = c.submitted;
    s.lostKernel = c.lost;
    s.lostQueue = 0;
    s.parseErrors = c.malformed;
    s.skippedNoIo = c.skippedNoIo + this.skippedHere;
    s.waiting = Math.max(0, c.submitted - c.consumed - c.malformed) + (this.taken - this.made);
  }

  private refresh(c: ReturnType<TaskstatsAddon['stats']>): void {
    const s = this.status;
    s.received = c.records;
    if (c.drops >= 0) s.lostKernel = c.drops;
    s.lostQueue = c.queueDrops;
    s.enobufs = c.enobufs;
    s.parseErrors = c.parseErrors;
    s.groupRecords = c.groupRecords;
    s.skippedNoIo = c.skippedNoIo + this.skippedHere;
    s.exits = s.received + s.lostKernel;
    s.waiting = c.queued + (this.taken - this.made);
  }

  /** Stop receiving (deregistered, socket closed); what was received is still handed out by take(). */
  close(): void {
    if (this.bpf) {
      this.bpf.close();
      this.refreshBpf(this.bpf.stats());
      return;
    }
    if (!this.addon || !this.handle) return;
    this.addon.close(this.handle);
    this.refresh(this.addon.stats(this.handle));
  }
}

/** The `io` line of `record status`. */
export function ioStatusText(s: IoStatus): string {
  if (s.source === 'unavailable') return `unavailable: ${s.note ?? 'unknown reason'}`;
  const lost = s.lostKernel + s.lostQueue;
  const tail = `${s.parseErrors ? `, ${s.parseErrors} undecodable` : ''}; ${s.unknownProcess} of unknown process, ${s.afterExit} matched after their process's exit`;
  if (s.source === 'bpf') {
    return (
      `in-kernel BPF program (raw_tp sched_process_exit, prog id ${s.progId}, ring buffer ${Math.round(s.ringBytes / 1024)} KiB); ` +
      `${s.exits} thread exits: ${s.records} with disk I/O recorded, ${s.skippedNoIo} without I/O skipped in the kernel, ${lost} lost (ring buffer full), ${s.waiting} waiting${tail}`
    );
  }
  return (
    `taskstats exit records (cpus ${s.cpumask}, receive buffer ${Math.round(s.rcvbufBytes / 1024)} KiB${s.forced ? '' : ' (not forced: capped by net.core.rmem_max)'}); ` +
    `${s.exits} thread exits: ${s.records} with disk I/O recorded, ${s.skippedNoIo} without I/O skipped, ${lost} lost (${s.lostKernel} dropped by the kernel, ${s.enobufs} ENOBUFS; ${s.lostQueue} over the queue bound), ${s.waiting} waiting` +
    `${tail}${s.bpfNote ? `; in-kernel source unavailable: ${s.bpfNote}` : ''}`
  );
}
