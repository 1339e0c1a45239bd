/**
 * Everything after the socket: Decoder -> Formatter -> Writer/stdout. Runs in a worker thread
 * (pipeline-worker.ts) so that decoding, formatting and file I/O never delay the thread that
 * reads the sockets. Datagrams arrive in batches (see batch.ts for the layout).
 */
import { Decoder, DEFAULT_DECODER_OPTIONS, type PlainSink, type RxEvent, type Sender } from './decoder.js';
import type { ExtendedHeader } from './extended.js';
import { Formatter } from './format.js';
import { Writer, senderDirName } from './writer.js';
import type { ReceiverConfig } from './config.js';
import { forEachDatagram, type SenderIntro } from './batch.js';
import { ENTRY_BYTES, FLAG_TRUNCATED, PF_KIND, PF_LENGTH, PF_LINES, PF_OFFSET, PF_RUN, PF_RUN_BYTES, PF_RUN_LINES, PF_SEQ, PF_TS, PF_ZONE, SenderTable } from './native-batch.js';
import type { PreformatFormat } from './native.js';
import { buildAllowList, isAllowed } from './config.js';
import { write as fsWrite } from 'node:fs';

export interface PipelineCounters {
  [k: string]: number;
}

/** Bytes of the stdout chunk (--stdout): one write per chunk or per turn of the event loop. */
const STDOUT_CHUNK = 256 * 1024;
/** Most bytes waiting for stdout before further lines are dropped from it (and counted). */
const STDOUT_LIMIT = 4 * 1024 * 1024;

export class Pipeline {
  readonly decoder: Decoder;
  readonly writer: Writer;
  private readonly formatter: Formatter;
  private readonly senders = new Map<number, { address: string; port: number }>();
  private readonly dirs = new Map<string, string>();
  /** Lines not copied to stdout: it fell behind (bounded like the files) or was closed. */
  private stdoutDropped = 0;
  /** The reader of stdout went away (EPIPE): no more copies. */
  private stdoutClosed = false;
  private readonly stdoutLimit: number;
  /**
   * --stdout: lines collected here and written to file descriptor 1 as one chunk per turn of the
   * event loop, by this thread itself (fs.write: one chunk at a time on the thread pool). Through
   * process.stdout every write in a worker is a message to the main thread, which then writes it:
   * one per line cost several µs each, and even one per chunk kept the main thread busy.
   */
  private stdoutChunk: Buffer = Buffer.allocUnsafe(STDOUT_CHUNK);
  private stdoutUsed = 0;
  private stdoutLines = 0;
  private stdoutFlushQueued = false;
  /** Chunks waiting for fd 1 (the first one is being written), and their bytes. */
  private readonly stdoutQueue: Array<{ buf: Buffer; lines: number }> = [];
  private stdoutQueuedBytes = 0;
  private stdoutWriting = false;
  /** Files are written (per sender and/or combined); false: --stdout is the only output. */
  private readonly files: boolean;
  private readonly ticker: NodeJS.Timeout;
  // Native receive path: the checks the dgram path does on the reading thread happen here.
  private readonly nativeSenders = new SenderTable();
  private readonly allow;
  private received = 0;
  private disallowed = 0;
  private truncated = 0;
  private truncatedLogged = false;
  readWaits = 0;
  /** Native path: batches of datagrams lost to a failed memory allocation (never seen in practice). */
  lostBatches = 0;
  /** Lines may take the direct path (encodeDirect): text format, to files and/or stdout. */
  private readonly direct: boolean;

  constructor(
    readonly cfg: ReceiverConfig,
    private readonly nowUs: () => number,
    private readonly log: (text: string) => void = () => undefined,
  ) {
    this.allow = buildAllowList(cfg.allow);
    this.files = cfg.perSender || cfg.combined;
    this.direct = cfg.format === 'text';
    this.formatter = new Formatter(cfg.format, cfg.utc);
    this.stdoutLimit = STDOUT_LIMIT;
    this.writer = new Writer({
      dir: cfg.dir,
      maxFileBytes: cfg.maxFileBytes,
      maxBufferedBytes: cfg.maxBufferBytes,
      maxOpenFiles: cfg.maxOpenFiles,
      idleCloseMs: cfg.idleCloseMs,
      retryMs: cfg.retryMs,
      fileMode: cfg.fileMode,
      note: (t, text) => this.formatter.note(t, text),
      now: nowUs,
      onTrouble: log,
    });
    const plain: PlainSink = {
      line: (sender, timeUs, buf, start, end) => this.plainLine(sender, timeUs, null, buf, start, end),
      record: (sender, timeUs, header, buf, start, end) => this.plainLine(sender, timeUs, header, buf, start, end),
    };
    this.decoder = new Decoder(
      (ev) => this.onEvent(ev),
      {
        ...DEFAULT_DECODER_OPTIONS,
        partialQuietUs: cfg.partialTimeoutMs * 1000,
        maxLineBytes: cfg.maxLineBytes,
        fragTimeoutUs: cfg.fragTimeoutMs * 1000,
        maxFragBytes: cfg.maxFragBytes,
        maxSenders: cfg.maxSenders,
        senderIdleUs: cfg.senderIdleMs * 1000,
      },
      this.direct ? plain : null,
    );
    const tickMs = Math.max(20, Math.min(250, cfg.partialTimeoutMs / 4, cfg.fragTimeoutMs / 4));
    this.ticker = setInterval(() => this.decoder.tick(this.nowUs()), tickMs);
  }

  private dirOf(address: string): string {
    let rel = this.dirs.get(address);
    if (rel === undefined) {
      rel = senderDirName(address);
      if (this.dirs.size > 65536) this.dirs.clear();
      this.dirs.set(address, rel);
    }
    return rel;
  }

  /**
   * Hot path for the text format's plain lines: encoded straight into the files' queued bytes
   * (no line string, no Formatted object, one UTF-8 encoding). False: not such a line.
   */
  private encodeDirect(ev: RxEvent): boolean {
    if (!this.formatter.encodable(ev)) return false;
    const day = this.formatter.clock.day(ev.timeUs);
    const max = Formatter.encodedMax(ev);
    if (!this.files) {
      const data = this.stdoutRoom(max);
      const end = this.formatter.encodeText(ev, data, this.stdoutUsed);
      if (end < 0) return false;
      this.stdoutCommit(end - this.stdoutUsed, 1);
      return true;
    }
    const first = this.cfg.perSender ? this.dirOf(ev.sender.address) : '';
    const out = this.writer.reserve(first, day, max);
    if (!out) return false;
    const start = out.bytes;
    const end = this.formatter.encodeText(ev, out.data, start);
    this.writer.commit(end < 0 ? 0 : end - start, end < 0 ? 0 : 1);
    if (end < 0) return false;
    this.copies(day, out.data, start, end, 1);
    return true;
  }

  /** A line just encoded into the first output: copied to the combined file (after a sender's) and to stdout. */
  private copies(day: string, data: Buffer, start: number, end: number, lines: number): void {
    if (this.cfg.perSender && this.cfg.combined) this.putBytes('', day, data, start, end, lines);
    if (this.cfg.stdout) this.stdoutBytes(data, start, end, lines);
  }

  /** A plain line's bytes copied straight behind its encoded head: no string at all (see PlainSink). */
  private plainLine(sender: Sender, timeUs: number, header: ExtendedHeader | null, buf: Buffer, start: number, end: number): boolean {
    if (!this.formatter.headEncodable(timeUs, header)) return false;
    const day = this.formatter.clock.day(timeUs);
    const max = 160 + 3 * (sender.label.length + (header ? header.flag.length : 0)) + (end - start);
    let from: number;
    let data: Buffer;
    if (this.files) {
      const out = this.writer.reserve(this.cfg.perSender ? this.dirOf(sender.address) : '', day, max);
      if (!out) return false;
      from = out.bytes;
      data = out.data;
    } else {
      data = this.stdoutRoom(max);
      from = this.stdoutUsed;
    }
    let p = this.formatter.encodeHead(sender, timeUs, header, data, from);
    const n = end - start;
    // Short copies are cheaper in JavaScript than through a native call.
    if (n < 48) for (let i = 0; i < n; i++) data[p + i] = buf[start + i]!;
    else buf.copy(data, p, start, end);
    p += n;
    data[p++] = 0x0a;
    if (!this.files) {
      this.stdoutCommit(p - from, 1);
      return true;
    }
    this.writer.commit(p - from, 1);
    this.copies(day, data, from, p, 1);
    return true;
  }

  private onEvent(ev: RxEvent): void {
    if (this.direct && this.encodeDirect(ev)) return;
    const f = this.formatter.event(ev);
    if (this.cfg.perSender) this.writer.write(this.dirOf(ev.sender.address), f);
    if (this.cfg.combined) this.writer.write('', f);
    if (this.cfg.stdout) this.stdoutText(f.text, f.lines);
  }

  /** Room for `max` more bytes at stdoutUsed in the stdout chunk (a full chunk goes out first). */
  private stdoutRoom(max: number): Buffer {
    if (this.stdoutUsed + max > this.stdoutChunk.length) {
      this.flushStdout();
      if (max > this.stdoutChunk.length) this.stdoutChunk = Buffer.allocUnsafe(max);
    }
    return this.stdoutChunk;
  }

  private stdoutCommit(bytes: number, lines: number): void {
    this.stdoutUsed += bytes;
    this.stdoutLines += lines;
    if (!this.stdoutFlushQueued) {
      this.stdoutFlushQueued = true;
      setImmediate(() => this.flushStdout());
    }
  }

  private stdoutBytes(buf: Buffer, start: number, end: number, lines: number): void {
    const n = end - start;
    const data = this.stdoutRoom(n);
    const at = this.stdoutUsed;
    if (n < 512) for (let i = 0; i < n; i++) data[at + i] = buf[start + i]!;
    else buf.copy(data, at, start, end);
    this.stdoutCommit(n, lines);
  }

  private stdoutText(text: string, lines: number): void {
    const max = 3 * text.length;
    const data = this.stdoutRoom(max);
    this.stdoutCommit(data.write(text, this.stdoutUsed, 'utf8'), lines);
  }

  /**
   * The stdout chunk to fd 1. stdout may be a slow pipe: bounded like the files, a chunk that
   * finds more than stdoutLimit bytes still waiting (or stdout closed) is counted as dropped, by lines.
   */
  private flushStdout(): void {
    this.stdoutFlushQueued = false;
    if (this.stdoutUsed === 0) return;
    if (this.stdoutClosed || this.stdoutQueuedBytes > this.stdoutLimit) this.stdoutDropped += this.stdoutLines;
    else {
      // The write keeps the chunk until done: a new one for what comes next.
      this.stdoutQueue.push({ buf: this.stdoutChunk.subarray(0, this.stdoutUsed), lines: this.stdoutLines });
      this.stdoutQueuedBytes += this.stdoutUsed;
      this.stdoutChunk = Buffer.allocUnsafe(STDOUT_CHUNK);
      this.pumpStdout();
    }
    this.stdoutUsed = 0;
    this.stdoutLines = 0;
  }

  /** Writes the first waiting chunk (the rest of it after a short write), then the next. */
  private pumpStdout(): void {
    if (this.stdoutWriting || this.stdoutQueue.length === 0) return;
    this.stdoutWriting = true;
    const c = this.stdoutQueue[0]!;
    fsWrite(1, c.buf, 0, c.buf.length, null, (err, n) => {
      this.stdoutWriting = false;
      if (err) {
        // A non-blocking pipe that is full: try again shortly (the queue's bound still holds).
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.pumpStdout(), 5);
          return;
        }
        this.stdoutClosedBy(err);
        return;
      }
      this.stdoutQueuedBytes -= n;
      if (n < c.buf.length) c.buf = c.buf.subarray(n);
      else this.stdoutQueue.shift();
      this.pumpStdout();
    });
  }

  /**
   * stdout's reader went away (EPIPE: `listen --stdout | head -1`) or writing it failed: the copy
   * stops for good, every line not delivered is counted; the files are not affected.
   */
  private stdoutClosedBy(err: NodeJS.ErrnoException): void {
    if (this.stdoutClosed) return;
    for (const c of this.stdoutQueue) this.stdoutDropped += c.lines;
    this.stdoutQueue.length = 0;
    this.stdoutQueuedBytes = 0;
    this.stdoutClosed = true;
    this.log(`stdout closed (${err.code ?? err.message}): no longer copying lines to it (counted as stdoutDropped); the files go on`);
  }

  /** One batch from the receiving thread: first learn new senders, then decode in order. */
  ingest(batch: Buffer, intros: SenderIntro[], resetSenders: boolean): void {
    if (resetSenders) this.senders.clear();
    for (const s of intros) this.senders.set(s.id, { address: s.address, port: s.port });
    forEachDatagram(batch, (id, timeUs, payload) => {
      const s = this.senders.get(id);
      if (s) this.decoder.datagram(s.address, s.port, payload, timeUs);
    });
  }

  /**
   * The native receive thread preformats plain lines in the output format (text, udplogger or
   * JSON; UTC or local time): the same bytes plainLine() or Formatter.event() write for them;
   * then ingestNative() copies those bytes when the sender's state allows (Decoder.preformatted)
   * and the stamps' zone offset is this thread's own for their time, instead of decoding the
   * datagram here.
   */
  get nativePreformat(): PreformatFormat {
    return this.cfg.format === 'text' ? 1 : this.cfg.format === 'udplogger' ? 2 : 3;
  }

  /**
   * Whether a preformatted entry's stamps were written in this clock's zone offset: with local
   * time the addon's C library and this thread's Date could disagree (another tz database,
   * around a transition); then the datagram is decoded here and nothing changes in the output.
   */
  private zoneAgrees(batch: Buffer, e: number, timeUs: number): boolean {
    return batch.readInt8(e + PF_ZONE) * 15 === this.formatter.clock.offsetMinutes(timeUs);
  }

  /** One batch from the native receive path (see native-batch.ts for the layout). */
  ingestNative(batch: Buffer, count: number): void {
    const base = count * ENTRY_BYTES;
    if (base > batch.length) return;
    for (let i = 0; i < count; i++) {
      const e = i * ENTRY_BYTES;
      const off = base + batch.readUInt32LE(e);
      const len = batch.readUInt32LE(e + 4);
      if (off + len > batch.length) break; // cannot happen with the addon's batches; never read past the end
      const sender = this.nativeSenders.lookup(batch, e);
      const kind = batch[e + PF_KIND]!;
      const run = kind === 0 ? 0 : batch.readUInt32LE(e + PF_RUN);
      if (this.allow) {
        let ok = sender.allowed;
        if (ok === undefined) ok = sender.allowed = isAllowed(this.allow, sender.address);
        if (!ok) {
          // A run is one sender's: all of it goes.
          const n = run > 1 && i + run <= count ? run : 1;
          this.disallowed += n;
          i += n - 1;
          continue;
        }
      }
      const timeUs = batch.readDoubleLE(e + 32);
      if (run > 1 && i + run <= count) {
        // The common case of a burst: a run of one sender's preformatted datagrams at once.
        const l = (i + run - 1) * ENTRY_BYTES;
        const from = base + batch.readUInt32LE(e + PF_OFFSET);
        const to = base + batch.readUInt32LE(l + PF_OFFSET) + batch.readUInt32LE(l + PF_LENGTH);
        const lines = batch.readUInt32LE(e + PF_RUN_LINES);
        const rec = kind === 2;
        const lastUs = batch.readDoubleLE(l + 32);
        if (
          to <= batch.length &&
          (kind === 1 || rec) &&
          this.zoneAgrees(batch, e, timeUs) &&
          this.zoneAgrees(batch, l, lastUs) &&
          this.decoder.preformatted(
            sender.address,
            sender.port,
            kind,
            run,
            batch.readUInt32LE(e + PF_RUN_BYTES),
            lines,
            timeUs,
            lastUs,
            rec ? batch.readDoubleLE(e + PF_SEQ) : 0,
            rec ? batch.readDoubleLE(e + PF_TS) : 0,
            rec ? batch.readDoubleLE(l + PF_SEQ) : 0,
            rec ? batch.readDoubleLE(l + PF_TS) : 0,
          )
        ) {
          this.received += run;
          this.putText(sender.address, timeUs, batch, from, to, lines);
          i += run - 1;
          continue;
        }
        // Otherwise its datagrams go one by one (the next ones carry run length 0).
      }
      this.received++;
      if (kind === 1 || kind === 2) {
        const from = base + batch.readUInt32LE(e + PF_OFFSET);
        const to = from + batch.readUInt32LE(e + PF_LENGTH);
        const lines = batch.readUInt16LE(e + PF_LINES);
        const seq = kind === 2 ? batch.readDoubleLE(e + PF_SEQ) : 0;
        const ts = kind === 2 ? batch.readDoubleLE(e + PF_TS) : 0;
        if (to <= batch.length && this.zoneAgrees(batch, e, timeUs) && this.decoder.preformatted(sender.address, sender.port, kind, 1, len, lines, timeUs, timeUs, seq, ts, seq, ts)) {
          this.putText(sender.address, timeUs, batch, from, to, lines);
          continue;
        }
      }
      if ((batch[e + 13]! & FLAG_TRUNCATED) !== 0) {
        // Only a datagram larger than the receive slot (64 KiB, more than UDP carries) gets here.
        this.truncated++;
        if (!this.truncatedLogged)
          this.log(`warning: a datagram of ${batch.readUInt32LE(e + 8)} bytes from ${sender.address}:${sender.port} was truncated to ${len} bytes (counted as truncated; its first bytes are kept)`);
        this.truncatedLogged = true;
      }
      this.decoder.datagram(sender.address, sender.port, batch.subarray(off, off + len), timeUs);
    }
  }

  /** Preformatted lines of a sender to its file and/or the combined file. */
  private putText(address: string, timeUs: number, buf: Buffer, from: number, to: number, lines: number): void {
    const day = this.formatter.clock.day(timeUs);
    if (this.cfg.perSender) this.putBytes(this.dirOf(address), day, buf, from, to, lines);
    if (this.cfg.combined) this.putBytes('', day, buf, from, to, lines);
    if (this.cfg.stdout) this.stdoutBytes(buf, from, to, lines);
  }

  /**
   * Whole formatted lines (UTF-8 bytes [start, end) of buf) queued for stream `rel`: preformatted
   * runs, and the combined file's copy of a line just encoded for its sender's file.
   */
  private putBytes(rel: string, day: string, buf: Buffer, start: number, end: number, lines: number): void {
    const n = end - start;
    const out = this.writer.reserve(rel, day, n);
    if (!out) {
      this.writer.write(rel, { day, text: buf.toString('utf8', start, end), lines });
      return;
    }
    const data = out.data;
    const at = out.bytes;
    // A line or two: a byte loop is cheaper than Buffer#copy, which builds a view per call.
    if (n < 512) for (let i = 0; i < n; i++) data[at + i] = buf[start + i]!;
    else buf.copy(data, at, start, end);
    this.writer.commit(n, lines);
  }

  /** stdout's reader is gone: stop copying lines there (the files go on), count them dropped. */
  stdoutGone(): void {
    this.stdoutClosed = true;
  }

  counters(): PipelineCounters {
    const d = this.decoder.counters;
    const w = this.writer.counters;
    return {
      ...d,
      linesAccepted: w.linesAccepted,
      linesWritten: w.linesWritten,
      linesQueued: this.writer.queuedLines,
      linesUnwritten: w.linesUnwritten,
      filesTerminated: w.filesTerminated,
      bytesWritten: w.bytesWritten,
      writeErrors: w.writeErrors,
      fdErrors: w.fdErrors,
      linesLost: w.linesLost,
      stdoutDropped: this.stdoutDropped,
      reopened: w.reopened,
      sendersTracked: this.decoder.trackedSenders,
      bufferedBytes: this.writer.buffered,
      openFiles: this.writer.openFiles,
      received: this.received,
      disallowed: this.disallowed,
      truncated: this.truncated,
      readWaits: this.readWaits,
      lostBatches: this.lostBatches,
    };
  }

  reopen(): void {
    this.writer.reopen();
  }

  async stop(): Promise<{ unwritten: number }> {
    clearInterval(this.ticker);
    this.decoder.flushAll();
    this.flushStdout();
    const r = await this.writer.drain(Math.max(2000, this.cfg.retryMs * 3));
    // The stdout chunks still waiting for fd 1 get at most 2 s; what is left then is counted as dropped.
    for (let waited = 0; this.cfg.stdout && !this.stdoutClosed && this.stdoutQueue.length > 0 && waited < 2000; waited += 10) {
      await new Promise((res) => setTimeout(res, 10));
    }
    for (const c of this.stdoutQueue) this.stdoutDropped += c.lines;
    this.stdoutQueue.length = 0;
    return r;
  }
}
