/**
 * The I/O-at-exit detector's pure core: the addon's entries decoded, the exiting thread matched
 * to the process it belonged to in the recorder's process model (whichever of the taskstats
 * record and the sched_process_exit tracepoint came first), and the `lantern top-io` ranking.
 * No I/O here.
 */

/** Bytes per entry of native/taskstats (its layout is described at the top of taskstats.c). */
export const ENTRY_BYTES = 120;

/** One exiting thread as taskstats told it (struct taskstats, version 16 on Linux 6.18). */
export interface IoExit {
  tid: number;
  /** Thread group id (ac_tgid; 0 when the kernel's structure predates version 12). */
  tgid: number;
  ppid: number;
  /** ac_exitcode: the thread's wait status. */
  exitCode: number;
  uid: number;
  version: number;
  /** The kernel's structure was too short for the I/O fields (a kernel without them). */
  shortStats: boolean;
  comm: string;
  readBytes: number;
  writeBytes: number;
  cancelledWriteBytes: number;
  readChars: number;
  writeChars: number;
  /** ac_etime: the thread's life, µs. */
  elapsedUs: number;
  /** ac_btime64: the thread's start, s since the epoch. */
  beginSec: number;
  /** When the addon's thread received it, CLOCK_MONOTONIC ns. */
  recvMonoNs: number;
}

/**
 * Whole entries in buf (a partial tail, never produced by the addon, is not read). The numbers
 * are read through typed-array views (the addons write them in the host's byte order, with
 * memcpy; an entry is 120 bytes, so every field is aligned when the buffer is): one indexed load
 * each instead of a Buffer method call, which matters while the recorder's code is still cold.
 */
export function decodeEntries(buf: Buffer): IoExit[] {
  const n = Math.floor(buf.length / ENTRY_BYTES);
  const out = new Array<IoExit>(n);
  if (n === 0) return out;
  // napi_create_buffer's memory is aligned; a copy for a buffer that is not (a slice, a test's).
  const b = buf.byteOffset % 8 === 0 ? buf : Buffer.from(buf.subarray(0, n * ENTRY_BYTES));
  const u32 = new Uint32Array(b.buffer, b.byteOffset, (n * ENTRY_BYTES) / 4);
  const u16 = new Uint16Array(b.buffer, b.byteOffset, (n * ENTRY_BYTES) / 2);
  const f64 = new Float64Array(b.buffer, b.byteOffset, (n * ENTRY_BYTES) / 8);
  for (let i = 0; i < n; i++) {
    const off = i * ENTRY_BYTES;
    const w = off / 4;
    const d = off / 8;
    const nul = b.indexOf(0, off + 24);
    const commEnd = nul < 0 || nul > off + 56 ? off + 56 : nul;
    out[i] = {
      tid: u32[w]!,
      tgid: u32[w + 1]!,
      ppid: u32[w + 2]!,
      exitCode: u32[w + 3]!,
      uid: u32[w + 4]!,
      version: u16[off / 2 + 10]!,
      shortStats: (b[off + 22]! & 1) !== 0,
      comm: b.toString('utf8', off + 24, commEnd),
      readBytes: f64[d + 7]!,
      writeBytes: f64[d + 8]!,
      cancelledWriteBytes: f64[d + 9]!,
      readChars: f64[d + 10]!,
      writeChars: f64[d + 11]!,
      elapsedUs: f64[d + 12]!,
      beginSec: f64[d + 13]!,
      recvMonoNs: f64[d + 14]!,
    };
  }
  return out;
}

/** The addon's layout, written (for tests of the decoder). */
export function encodeEntries(list: IoExit[]): Buffer {
  const buf = Buffer.alloc(list.length * ENTRY_BYTES);
  list.forEach((e, i) => {
    const off = i * ENTRY_BYTES;
    buf.writeUInt32LE(e.tid, off);
    buf.writeUInt32LE(e.tgid, off + 4);
    buf.writeUInt32LE(e.ppid, off + 8);
    buf.writeUInt32LE(e.exitCode, off + 12);
    buf.writeUInt32LE(e.uid, off + 16);
    buf.writeUInt16LE(e.version, off + 20);
    buf[off + 22] = e.shortStats ? 1 : 0;
    buf.write(e.comm, off + 24, 31, 'utf8');
    [e.readBytes, e.writeBytes, e.cancelledWriteBytes, e.readChars, e.writeChars, e.elapsedUs, e.beginSec, e.recvMonoNs].forEach((v, k) => buf.writeDoubleLE(v, off + 56 + 8 * k));
  });
  return buf;
}

/** Disk I/O as the kernel's task I/O accounting counts it (/proc/<pid>/io read_bytes, write_bytes, cancelled_write_bytes). */
export function didDiskIo(e: Pick<IoExit, 'readBytes' | 'writeBytes' | 'cancelledWriteBytes'>): boolean {
  return e.readBytes > 0 || e.writeBytes > 0 || e.cancelledWriteBytes > 0;
}

/** What the process model knows of a process (live, or recently exited). */
export interface ProcView {
  pid: number;
  startUs: number;
  ppid: number;
  program: string | null;
  comm: string;
  domainId: number;
}

/** A process started this long after a thread's start (clock rounding: /proc is in 10 ms ticks) is still taken as its own. */
const START_SLOP_US = 1_000_000;

/**
 * The process an exiting thread belonged to. The taskstats record and the sched_process_exit
 * tracepoint reach the recorder in either order: while the model still has the process (the
 * record came first, or another thread of it lives on) it is `live`; once the model has handled
 * the group's exit it is in `gone` (the exits the model recorded lately). A candidate that
 * started after the thread did is a later process that reuses the pid, never this one.
 */
export function resolveProcess(e: IoExit, exitUs: number, live: ProcView | null | undefined, gone: ProcView | null | undefined): { view: ProcView | null; via: 'live' | 'exited' | 'unknown' } {
  const threadStartUs = exitUs - e.elapsedUs;
  const fits = (v: ProcView | null | undefined): v is ProcView => !!v && v.startUs <= threadStartUs + START_SLOP_US;
  if (fits(live)) return { view: live, via: 'live' };
  if (fits(gone)) return { view: gone, via: 'exited' };
  return { view: null, via: 'unknown' };
}

/**
 * Processes whose group exit the model handled lately, by pid (the last one of each pid),
 * for taskstats records that arrive after the tracepoint. Bounded by count and age.
 */
export class RecentExits {
  private readonly byPid = new Map<number, { view: ProcView; atTs: number }>();
  constructor(
    private readonly maxEntries = 65_536,
    private readonly keepNs = 30e9,
  ) {}

  add(view: ProcView, atTs: number): void {
    this.byPid.delete(view.pid); // re-inserted last: the Map's order is the age order
    this.byPid.set(view.pid, { view, atTs });
    if (this.byPid.size > this.maxEntries) this.byPid.delete(this.byPid.keys().next().value!);
  }

  get(pid: number): ProcView | null {
    return this.byPid.get(pid)?.view ?? null;
  }

  /** Forget what exited before nowTs − keep. */
  prune(nowTs: number): void {
    for (const [pid, v] of this.byPid) {
      if (v.atTs >= nowTs - this.keepNs) break;
      this.byPid.delete(pid);
    }
  }

  get size(): number {
    return this.byPid.size;
  }
}

/** What the matcher reads of the model's live processes (ProcessModel.procs). */
export type LiveProcs = ReadonlyMap<number, ProcView>;

/** What the matcher reads of the records the model made (its exit and signal records end a process). */
export interface EndRecord {
  type: string;
  pid: number;
  pstartUs: number;
  ppid: number;
  program: string | null;
  comm: string;
  domainId: number;
}

/**
 * Matches exit records to processes as the recorder's stream goes by: told of every group exit
 * the model handles (noteRecords), asked for the process of each exiting thread at the place
 * its exit record takes in the stream (match). Either order of the two gives the process.
 *
 * Every process exit is noted, but only the few whose exit record comes after the group's exit
 * are looked up; so an exit is only queued (an array push), and the queue goes into the by-pid
 * index when a lookup needs it. Most exits did no disk I/O and are never looked up: they cost
 * the push, not a Map update (measured ~1 µs per exit with the index kept up to date).
 */
export class ExitMatcher {
  private readonly recent: RecentExits;
  private queue: Array<{ r: EndRecord; ts: number }> = [];
  private head = 0;
  constructor(
    private readonly maxEntries = 65_536,
    private readonly keepNs = 30e9,
  ) {
    this.recent = new RecentExits(maxEntries, keepNs);
  }

  noteRecords(records: EndRecord[], ts: number): void {
    for (const r of records) if (r.type === 'exit' || r.type === 'signal') this.queue.push({ r, ts });
  }

  /** The queued exits into the index, in order (the index keeps the last of each pid). */
  private flush(): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const { r, ts } = this.queue[i]!;
      this.recent.add({ pid: r.pid, startUs: r.pstartUs, ppid: r.ppid, program: r.program, comm: r.comm, domainId: r.domainId }, ts);
    }
    this.queue = [];
    this.head = 0;
  }

  match(e: IoExit, exitUs: number, live: LiveProcs): { view: ProcView | null; via: 'live' | 'exited' | 'unknown' } {
    const tgid = e.tgid || e.tid;
    const l = live.get(tgid);
    const first = resolveProcess(e, exitUs, l, null);
    if (first.via === 'live') return first;
    this.flush();
    return resolveProcess(e, exitUs, l, this.recent.get(tgid));
  }

  /** Forget exits older than now − keep, and queued ones beyond the count bound (the oldest). */
  prune(nowTs: number): void {
    while (this.head < this.queue.length && this.queue[this.head]!.ts < nowTs - this.keepNs) this.head++;
    if (this.queue.length - this.head > this.maxEntries) this.head = this.queue.length - this.maxEntries;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.recent.prune(nowTs);
  }

  /** Exits remembered (queued or indexed; a pid exited twice may count twice while queued). */
  get size(): number {
    return this.queue.length - this.head + this.recent.size;
  }
}

/**
 * The detail text of an `io` record, in this order: its label, the IoExit field, the io_exit
 * column. The recorder stores no detail for io records (the numbers are in io_exit): the store
 * composes the same text from these when it reads one (Store.query), and the text log from ioDetail.
 */
export const IO_DETAIL_FIELDS = [
  ['read_bytes', 'readBytes', 'read_bytes'],
  ['write_bytes', 'writeBytes', 'write_bytes'],
  ['cancelled_write_bytes', 'cancelledWriteBytes', 'cancelled_write_bytes'],
  ['rchar', 'readChars', 'read_chars'],
  ['wchar', 'writeChars', 'write_chars'],
] as const;

/** The detail text of an `io` record (what `lantern events` shows). */
export function ioDetail(e: Pick<IoExit, 'readBytes' | 'writeBytes' | 'cancelledWriteBytes' | 'readChars' | 'writeChars'>): string {
  return IO_DETAIL_FIELDS.map(([label, key]) => `${label}=${e[key]}`).join(' ');
}

/** `lantern top-io` groups by program (its path, or [comm] when unknown) or by domain. */
export type IoGroupBy = 'program' | 'domain';

/** One group's sums over its `io` records. */
export interface IoTotal {
  key: string;
  processes: number;
  threads: number;
  readBytes: number;
  writeBytes: number;
  cancelledWriteBytes: number;
}

/** Ranking key: bytes the tasks read from and dirtied for the disk (cancelled writes are shown, not subtracted). */
export function totalBytes(t: Pick<IoTotal, 'readBytes' | 'writeBytes'>): number {
  return t.readBytes + t.writeBytes;
}

/** Largest total first; ties by name, so the order is stable. */
export function rankIo(rows: IoTotal[], limit = Infinity): IoTotal[] {
  return [...rows].sort((a, b) => totalBytes(b) - totalBytes(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, limit);
}

/** 1536 → "1.5 KiB"; under 1 KiB in bytes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** The text table of `lantern top-io`. */
export function renderTopIo(rows: IoTotal[], by: IoGroupBy): string[] {
  const head = ['TOTAL', 'READ', 'WRITE', 'CANCELLED', 'PROCS', 'THREADS', by === 'program' ? 'PROGRAM' : 'DOMAIN'];
  const cells = rows.map((r) => [formatBytes(totalBytes(r)), formatBytes(r.readBytes), formatBytes(r.writeBytes), formatBytes(r.cancelledWriteBytes), String(r.processes), String(r.threads), r.key]);
  const widths = head.slice(0, -1).map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => [...c.slice(0, -1).map((x, i) => x.padStart(widths[i]!)), c[c.length - 1]!].join('  ');
  return [line(head), ...cells.map(line)];
}

/** The JSON shape of one ranked group. */
export function topIoJson(r: IoTotal, by: IoGroupBy): Record<string, unknown> {
  return { [by]: r.key, total_bytes: totalBytes(r), read_bytes: r.readBytes, write_bytes: r.writeBytes, cancelled_write_bytes: r.cancelledWriteBytes, processes: r.processes, threads: r.threads };
}
