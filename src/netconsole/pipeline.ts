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
import { forEachNativeDatagram, SenderTable } from './native-batch.js';
import { buildAllowList, isAllowed } from './config.js';

export interface PipelineCounters {
  [k: string]: number;
}

export class Pipeline {
  readonly decoder: Decoder;
  readonly writer: Writer;
  private readonly formatter: Formatter;
  private readonly senders = new Map<number, { address: string; port: number }>();
  private readonly dirs = new Map<string, string>();
  private stdoutDropped = 0;
  private readonly stdoutLimit: number;
  private readonly ticker: NodeJS.Timeout;
  // Native receive path: the checks the dgram path does on the reading thread happen here.
  private readonly nativeSenders = new SenderTable();
  private readonly allow;
  private readonly allowCache = new Map<string, boolean>();
  private received = 0;
  private disallowed = 0;
  private truncated = 0;
  private truncatedLogged = false;
  readWaits = 0;
  /** Lines may take the direct path (encodeDirect): text format, files only. */
  private readonly direct: boolean;

  constructor(
    readonly cfg: ReceiverConfig,
    private readonly nowUs: () => number,
    private readonly log: (text: string) => void = () => undefined,
  ) {
    this.allow = buildAllowList(cfg.allow);
    this.direct = cfg.format === 'text' && !cfg.stdout && (cfg.perSender || cfg.combined);
    this.formatter = new Formatter(cfg.format, cfg.utc);
    this.stdoutLimit = Math.max(1 << 20, cfg.maxBufferBytes / 4);
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
    this.decoder = new Decoder((ev) => this.onEvent(ev), {
      ...DEFAULT_DECODER_OPTIONS,
      partialQuietUs: cfg.partialTimeoutMs * 1000,
      maxLineBytes: cfg.maxLineBytes,
      fragTimeoutUs: cfg.fragTimeoutMs * 1000,
      maxSenders: cfg.maxSenders,
      senderIdleUs: cfg.senderIdleMs * 1000,
    }, this.direct ? plain : null);
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
    const first = this.cfg.perSender ? this.dirOf(ev.sender.address) : '';
    const out = this.writer.reserve(first, day, max);
    if (!out) return false;
    const start = out.bytes;
    const end = this.formatter.encodeText(ev, out.data, start);
    this.writer.commit(end < 0 ? 0 : end - start, end < 0 ? 0 : 1);
    if (end < 0) return false;
    if (this.cfg.perSender && this.cfg.combined) {
      const both = this.writer.reserve('', day, end - start);
      if (!both) {
        this.writer.write('', { day, text: out.data.toString('utf8', start, end), lines: 1 });
        return true;
      }
      out.data.copy(both.data, both.bytes, start, end);
      this.writer.commit(end - start, 1);
    }
    return true;
  }

  /** A plain line's bytes copied straight behind its encoded head: no string at all (see PlainSink). */
  private plainLine(sender: Sender, timeUs: number, header: ExtendedHeader | null, buf: Buffer, start: number, end: number): boolean {
    if (!this.formatter.headEncodable(timeUs, header)) return false;
    const day = this.formatter.clock.day(timeUs);
    const first = this.cfg.perSender ? this.dirOf(sender.address) : '';
    const out = this.writer.reserve(first, day, 160 + 3 * (sender.label.length + (header ? header.flag.length : 0)) + (end - start));
    if (!out) return false;
    const from = out.bytes;
    const data = out.data;
    let p = this.formatter.encodeHead(sender, timeUs, header, data, from);
    const n = end - start;
    // Short copies are cheaper in JavaScript than through a native call.
    if (n < 48) for (let i = 0; i < n; i++) data[p + i] = buf[start + i]!;
    else buf.copy(data, p, start, end);
    p += n;
    data[p++] = 0x0a;
    this.writer.commit(p - from, 1);
    if (this.cfg.perSender && this.cfg.combined) {
      const both = this.writer.reserve('', day, p - from);
      if (!both) this.writer.write('', { day, text: data.toString('utf8', from, p), lines: 1 });
      else {
        data.copy(both.data, both.bytes, from, p);
        this.writer.commit(p - from, 1);
      }
    }
    return true;
  }

  private onEvent(ev: RxEvent): void {
    if (this.direct && this.encodeDirect(ev)) return;
    const f = this.formatter.event(ev);
    if (this.cfg.perSender) this.writer.write(this.dirOf(ev.sender.address), f);
    if (this.cfg.combined) this.writer.write('', f);
    if (this.cfg.stdout) {
      // stdout may be a slow pipe: bounded like the files, the excess is counted.
      if (process.stdout.writableLength > this.stdoutLimit) this.stdoutDropped += f.lines;
      else process.stdout.write(f.text);
    }
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

  /** One batch from the native receive path (see native-batch.ts for the layout). */
  ingestNative(batch: Buffer, count: number): void {
    forEachNativeDatagram(batch, count, this.nativeSenders, (sender, timeUs, payload, truncated, wireLength) => {
      if (this.allow) {
        let ok = this.allowCache.get(sender.address);
        if (ok === undefined) {
          ok = isAllowed(this.allow, sender.address);
          if (this.allowCache.size >= 65536) this.allowCache.clear();
          this.allowCache.set(sender.address, ok);
        }
        if (!ok) {
          this.disallowed++;
          return;
        }
      }
      this.received++;
      if (truncated) {
        // Only a datagram larger than the receive slot (64 KiB, more than UDP carries) gets here.
        this.truncated++;
        if (!this.truncatedLogged) this.log(`warning: a datagram of ${wireLength} bytes from ${sender.address}:${sender.port} was truncated to ${payload.length} bytes (counted as truncated; its first bytes are kept)`);
        this.truncatedLogged = true;
      }
      this.decoder.datagram(sender.address, sender.port, payload, timeUs);
    });
  }

  counters(): PipelineCounters {
    const d = this.decoder.counters;
    const w = this.writer.counters;
    return {
      ...d,
      linesWritten: w.linesWritten,
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
    };
  }

  reopen(): void {
    this.writer.reopen();
  }

  async stop(): Promise<{ unwritten: number }> {
    clearInterval(this.ticker);
    this.decoder.flushAll(this.nowUs());
    const r = await this.writer.drain(Math.max(2000, this.cfg.retryMs * 3));
    // In a worker thread stdout is forwarded to the main thread; give it a moment to pass on.
    // ('drain' is not dependable there: poll the backlog, for at most 2 s.)
    for (let waited = 0; this.cfg.stdout && process.stdout.writableLength > 0 && waited < 2000; waited += 10) {
      await new Promise((res) => setTimeout(res, 10));
    }
    return r;
  }
}
