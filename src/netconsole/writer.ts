/**
 * The disk edge: lines are queued in memory (bounded) and written asynchronously, so a slow
 * or failing disk never stalls the receive path. One stream per sender directory plus an
 * optional combined file; files switch by day and by size.
 *
 * Failures are survived, not fatal: ENOSPC/EIO keep lines queued and retry; a removed
 * directory or file is recreated; EMFILE/ENFILE close idle files and retry. When the queue
 * limit is reached the oldest queued lines are dropped and counted, and once writing works
 * again a marker line says what was delayed and what was lost.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import type { Formatted } from './format.js';

export interface WriterOptions {
  dir: string;
  /** Bytes after which a file switches to the next `.N` name (0: only by day). */
  maxFileBytes: number;
  /** Most bytes held in memory across all streams while the disk is slow or failing. */
  maxBufferedBytes: number;
  /** Most files kept open at once (least recently written closed first). */
  maxOpenFiles: number;
  /** Close a file not written for this long (ms). */
  idleCloseMs: number;
  /** Wait this long before retrying after a write error (ms). */
  retryMs: number;
  /** Mode of created files. */
  fileMode: number;
  /** Marker text for a recovery (formatted by the caller so it matches the output format). */
  note: (timeUs: number, text: string) => Formatted;
  now: () => number;
  /** Told once when a file starts failing and once when it works again (for the daemon's log). */
  onTrouble?: (text: string) => void;
}

export interface WriterCounters {
  linesWritten: number;
  bytesWritten: number;
  writeErrors: number;
  linesLost: number;
  bytesLost: number;
  fdErrors: number;
  filesOpened: number;
  reopened: number;
}

interface Chunk {
  day: string;
  /** Encoded lines; only the first `bytes` bytes are used (the rest is room to append). */
  data: Buffer;
  lines: number;
  bytes: number;
  /** Taken by a write in progress: no more lines may be appended to it. */
  sealed: boolean;
}

interface Stream {
  /** Directory relative to the output dir ('' for the combined file). */
  rel: string;
  pending: Chunk[];
  pendingBytes: number;
  fd: fsp.FileHandle | null;
  fileDay: string | null;
  fileIndex: number;
  fileSize: number;
  filePath: string | null;
  writing: boolean;
  retryTimer: NodeJS.Timeout | null;
  closeAfterWrite: boolean;
  lastWriteMs: number;
  /** Current trouble, if any. */
  errorCode: string | null;
  errorSinceUs: number;
  errorTries: number;
  lostLines: number;
  lostBytes: number;
  /** When the open file was last checked for removal (ms). */
  lastCheckMs: number;
  /** What was written since that check: rewritten if the file turns out to be removed meanwhile. */
  tail: Buffer[];
  tailBytes: number;
}

const CHUNK_MAX = 256 * 1024;
/** How often an open file is checked for having been removed (ms). */
const CHECK_MS = 200;
/** Most bytes remembered for rewriting after such a removal. */
const TAIL_MAX = 16 * 1024 * 1024;

/** Directory name for a sender: from its address only (never from packet content). */
export function senderDirName(address: string): string {
  // IP literals are [0-9a-f.:] (plus a zone id like %eth0); '/' and the like are made inert.
  const safe = address.toLowerCase().replace(/[^0-9a-z.:]/g, '_');
  return safe === '' || safe === '.' || safe === '..' ? '_' + safe : safe;
}

export function fileName(day: string, index: number): string {
  return index === 0 ? `${day}.log` : `${day}.${index}.log`;
}

export class Writer {
  readonly counters: WriterCounters = {
    linesWritten: 0,
    bytesWritten: 0,
    writeErrors: 0,
    linesLost: 0,
    bytesLost: 0,
    fdErrors: 0,
    filesOpened: 0,
    reopened: 0,
  };
  private readonly streams = new Map<string, Stream>();
  private bufferedBytes = 0;
  private openCount = 0;
  private flushScheduled = false;
  private idleTimer: NodeJS.Timeout;
  private checkTimer: NodeJS.Timeout;
  private closed = false;
  private draining = false;
  private drainWaiters: Array<() => void> = [];

  constructor(readonly opts: WriterOptions) {
    this.idleTimer = setInterval(() => this.closeIdle(this.opts.idleCloseMs), Math.min(1000, Math.max(50, opts.idleCloseMs / 2)));
    this.idleTimer.unref();
    this.checkTimer = setInterval(() => void this.checkRemoved(), CHECK_MS);
    this.checkTimer.unref();
  }

  /** Files written lately but quiet now: make sure they still exist, else rewrite their tail. */
  private async checkRemoved(): Promise<void> {
    const now = Date.now();
    for (const s of this.streams.values()) {
      if (!s.fd || s.writing || s.tailBytes === 0 || now - s.lastCheckMs < CHECK_MS) continue;
      const fd = s.fd;
      let gone = false;
      try {
        gone = (await fd.stat()).nlink === 0;
      } catch {
        gone = true;
      }
      if (s.fd !== fd || s.writing) continue;
      if (gone) {
        const tail = Buffer.concat(s.tail);
        s.pending.unshift({ day: s.fileDay ?? '', data: tail, lines: countLines(tail), bytes: tail.length, sealed: true });
        s.pendingBytes += tail.length;
        this.bufferedBytes += tail.length;
        this.counters.linesWritten -= countLines(tail);
        this.counters.reopened++;
        await this.closeStream(s);
        this.schedule();
      }
      s.tail = [];
      s.tailBytes = 0;
      s.lastCheckMs = Date.now();
    }
  }

  get buffered(): number {
    return this.bufferedBytes;
  }

  get openFiles(): number {
    return this.openCount;
  }

  private reservedStream: Stream | null = null;
  private reservedChunk: Chunk | null = null;

  /**
   * Room for up to `maxBytes` more bytes of day `day` at the end of `rel`'s queue, for a caller
   * that encodes a line straight into it (no string, no second copy): the buffer to write into
   * from `chunk.bytes` on; then commit() with what was written. Null when it cannot (use write()).
   */
  reserve(rel: string, day: string, maxBytes: number): { data: Buffer; bytes: number } | null {
    if (maxBytes > CHUNK_MAX) return null;
    const s = this.stream(rel);
    // (No read past the end of an empty array: it would cost the optimised code a deopt.)
    let last = s.pending.length > 0 ? s.pending[s.pending.length - 1] : undefined;
    if (last === undefined || last.sealed || last.day !== day || last.bytes + maxBytes > CHUNK_MAX) {
      last = { day, data: Buffer.allocUnsafe(4096), lines: 0, bytes: 0, sealed: false };
      s.pending.push(last);
    }
    if (last.bytes + maxBytes > last.data.length) {
      const grown = Buffer.allocUnsafe(Math.min(CHUNK_MAX, Math.max(last.data.length * 2, last.bytes + maxBytes)));
      last.data.copy(grown, 0, 0, last.bytes);
      last.data = grown;
    }
    this.reservedStream = s;
    this.reservedChunk = last;
    return last;
  }

  /** After reserve(): `bytes` bytes holding `lines` complete lines were written into the chunk. */
  commit(bytes: number, lines: number): void {
    const s = this.reservedStream!;
    const c = this.reservedChunk!;
    this.reservedStream = null;
    this.reservedChunk = null;
    c.bytes += bytes;
    c.lines += lines;
    this.queued(s, bytes);
  }

  private stream(rel: string): Stream {
    let s = this.streams.get(rel);
    if (!s) {
      s = {
        rel,
        pending: [],
        pendingBytes: 0,
        fd: null,
        fileDay: null,
        fileIndex: 0,
        fileSize: 0,
        filePath: null,
        writing: false,
        retryTimer: null,
        closeAfterWrite: false,
        lastWriteMs: 0,
        errorCode: null,
        errorSinceUs: 0,
        errorTries: 0,
        lostLines: 0,
        lostBytes: 0,
        lastCheckMs: 0,
        tail: [],
        tailBytes: 0,
      };
      this.streams.set(rel, s);
    }
    return s;
  }

  /** Queue formatted lines for the stream `rel` ('' = combined file in the output dir). */
  write(rel: string, f: Formatted): void {
    const s = this.stream(rel);
    // Lines are encoded into byte chunks at once: no strings survive until the write (cheaper GC).
    const last = s.pending.length > 0 ? s.pending[s.pending.length - 1] : undefined;
    // Fast path, one UTF-8 pass instead of two: a string of n UTF-16 units is at most 3n bytes,
    // so when that much room is left the text is encoded straight in and its size is what write() returns.
    if (last && !last.sealed && last.day === f.day && last.bytes + f.text.length * 3 <= last.data.length) {
      const written = last.data.write(f.text, last.bytes);
      last.lines += f.lines;
      last.bytes += written;
      this.queued(s, written);
      return;
    }
    const bytes = Buffer.byteLength(f.text);
    if (last && !last.sealed && last.day === f.day && last.bytes + bytes <= CHUNK_MAX) {
      if (last.bytes + bytes > last.data.length) {
        const grown = Buffer.allocUnsafe(Math.min(CHUNK_MAX, Math.max(last.data.length * 2, last.bytes + bytes)));
        last.data.copy(grown, 0, 0, last.bytes);
        last.data = grown;
      }
      last.data.write(f.text, last.bytes);
      last.lines += f.lines;
      last.bytes += bytes;
    } else {
      const data = Buffer.allocUnsafe(Math.max(bytes, 4096));
      data.write(f.text, 0);
      s.pending.push({ day: f.day, data, lines: f.lines, bytes, sealed: false });
    }
    this.queued(s, bytes);
  }

  private queued(s: Stream, bytes: number): void {
    s.pendingBytes += bytes;
    this.bufferedBytes += bytes;
    if (this.bufferedBytes > this.opts.maxBufferedBytes) this.shed(s);
    // Enough for a big write: start now rather than waiting for the timer.
    if (s.pendingBytes >= CHUNK_MAX && !s.writing && !s.retryTimer) void this.pump(s);
    else this.schedule();
  }

  /** Over the memory bound: drop this stream's oldest queued chunks (newest lines matter most after a crash). */
  private shed(s: Stream): void {
    const victims = s.pending.length > 1 ? s : this.largestStream() ?? s;
    while (this.bufferedBytes > this.opts.maxBufferedBytes) {
      // Chunks taken by a write in progress stay; the oldest of the rest go.
      const idx = victims.pending.findIndex((c) => !c.sealed);
      if (idx < 0) break;
      const c = victims.pending.splice(idx, 1)[0]!;
      victims.pendingBytes -= c.bytes;
      this.bufferedBytes -= c.bytes;
      victims.lostLines += c.lines;
      victims.lostBytes += c.bytes;
      this.counters.linesLost += c.lines;
      this.counters.bytesLost += c.bytes;
      if (victims.errorCode === null) {
        victims.errorCode = 'backlog';
        victims.errorSinceUs = this.opts.now();
      }
    }
  }

  private largestStream(): Stream | null {
    let best: Stream | null = null;
    for (const s of this.streams.values()) if (!best || s.pendingBytes > best.pendingBytes) best = s;
    return best;
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A short delay batches many lines into one write() per file.
    setTimeout(() => {
      this.flushScheduled = false;
      for (const s of this.streams.values()) if (s.pending.length && !s.writing && !s.retryTimer) void this.pump(s);
    }, 10);
  }

  /** SIGHUP: close every file; the next line reopens (a new file if logrotate moved the old one). */
  reopen(): void {
    for (const s of this.streams.values()) {
      if (s.writing) s.closeAfterWrite = true;
      else void this.closeStream(s);
    }
    this.counters.reopened++;
  }

  /** Write everything queued (or give up after timeoutMs), then close all files. */
  async drain(timeoutMs: number): Promise<{ unwritten: number }> {
    const deadline = Date.now() + timeoutMs;
    this.draining = true;
    for (;;) {
      const pending = [...this.streams.values()].filter((s) => s.pending.length > 0);
      if (pending.length === 0 || Date.now() >= deadline) break;
      for (const s of pending) {
        if (s.retryTimer) {
          clearTimeout(s.retryTimer);
          s.retryTimer = null;
        }
        if (!s.writing) void this.pump(s);
      }
      await new Promise<void>((r) => {
        this.drainWaiters.push(r);
        setTimeout(r, 50);
      });
    }
    let unwritten = 0;
    for (const s of this.streams.values()) {
      while (s.writing) await new Promise((r) => setTimeout(r, 5));
      for (const c of s.pending) unwritten += c.lines;
      await this.closeStream(s);
    }
    this.closed = true;
    clearInterval(this.idleTimer);
    clearInterval(this.checkTimer);
    return { unwritten };
  }

  private async closeStream(s: Stream): Promise<void> {
    const fd = s.fd;
    if (!fd) return;
    s.fd = null;
    s.filePath = null;
    s.fileDay = null;
    this.openCount--;
    await fd.close().catch(() => undefined);
  }

  /** Close files idle for at least `ms` (also used to free descriptors on EMFILE). */
  closeIdle(ms: number, keep?: Stream): number {
    const now = Date.now();
    let n = 0;
    for (const s of this.streams.values()) {
      if (s !== keep && s.fd && !s.writing && now - s.lastWriteMs >= ms) {
        void this.closeStream(s);
        n++;
      }
    }
    return n;
  }

  private closeLeastRecent(count: number, keep: Stream): void {
    const open = [...this.streams.values()].filter((s) => s !== keep && s.fd && !s.writing).sort((a, b) => a.lastWriteMs - b.lastWriteMs);
    for (const s of open.slice(0, count)) void this.closeStream(s);
  }

  private async open(s: Stream, day: string, need: number): Promise<void> {
    const dir = s.rel === '' ? this.opts.dir : join(this.opts.dir, s.rel);
    let index = s.fileDay === day ? s.fileIndex : 0;
    if (this.openCount >= this.opts.maxOpenFiles) this.closeLeastRecent(Math.max(1, this.openCount - this.opts.maxOpenFiles + 1), s);
    for (let attempt = 0; ; attempt++) {
      const path = join(dir, fileName(day, index));
      let size = 0;
      try {
        size = (await fsp.stat(path)).size;
      } catch {
        size = 0;
      }
      if (this.opts.maxFileBytes > 0 && size > 0 && size + need > this.opts.maxFileBytes) {
        index++;
        continue;
      }
      try {
        s.fd = await fsp.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND | fsc.O_NOFOLLOW, this.opts.fileMode);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) {
          await fsp.mkdir(dir, { recursive: true, mode: 0o750 });
          continue;
        }
        throw e;
      }
      this.openCount++;
      this.counters.filesOpened++;
      s.filePath = path;
      s.fileDay = day;
      s.fileIndex = index;
      s.fileSize = size;
      return;
    }
  }

  private async pump(s: Stream): Promise<void> {
    if (s.writing || this.closed) return;
    s.writing = true;
    try {
      while (s.pending.length) {
        const first = s.pending[0]!;
        // Gather queued chunks of the same day into one write.
        let take = 1;
        let bytes = first.bytes;
        while (take < s.pending.length && s.pending[take]!.day === first.day && bytes + s.pending[take]!.bytes <= 4 * CHUNK_MAX) bytes += s.pending[take++]!.bytes;
        const parts = s.pending.slice(0, take);
        for (const p of parts) p.sealed = true;
        let lines = 0;
        for (const p of parts) lines += p.lines;
        let marker = '';
        if (s.errorCode !== null) marker = this.recoveryNote(s).text;
        const pieces = parts.map((p) => p.data.subarray(0, p.bytes));
        if (marker) pieces.unshift(Buffer.from(marker));
        let buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);

        // Switch file by day or size; reopen when the file or its directory was removed under us.
        if (s.fd && (s.fileDay !== first.day || (this.opts.maxFileBytes > 0 && s.fileSize > 0 && s.fileSize + buf.length > this.opts.maxFileBytes))) {
          if (s.fileDay === first.day) s.fileIndex++;
          const keepIndex = s.fileIndex;
          const keepDay = s.fileDay;
          await this.closeStream(s);
          s.fileDay = keepDay;
          s.fileIndex = keepIndex;
        }
        // A file removed under us (rm -r of the output dir) still accepts writes: check it
        // now and then, and rewrite what went into it since the last good check.
        if (s.fd && Date.now() - s.lastCheckMs >= CHECK_MS) {
          const st = await s.fd.stat();
          if (st.nlink === 0) {
            await this.closeStream(s);
            this.counters.reopened++;
            if (s.tail.length) buf = Buffer.concat([...s.tail, buf]);
          }
          s.tail = [];
          s.tailBytes = 0;
          s.lastCheckMs = Date.now();
        }
        if (!s.fd) {
          await this.open(s, first.day, buf.length);
          s.tail = [];
          s.tailBytes = 0;
          s.lastCheckMs = Date.now();
        }

        // Respect the size limit: write the whole lines that fit; the rest goes to the next file.
        let rest: Buffer | null = null;
        if (this.opts.maxFileBytes > 0 && s.fileSize + buf.length > this.opts.maxFileBytes) {
          const room = this.opts.maxFileBytes - s.fileSize;
          let cut = room > 0 ? buf.lastIndexOf(10, room - 1) + 1 : 0;
          // Not even one line fits: a fresh file takes one line whatever its size.
          if (cut <= 0 && s.fileSize === 0) cut = buf.indexOf(10) + 1 || buf.length;
          if (cut > 0 && cut < buf.length) {
            rest = Buffer.from(buf.subarray(cut));
            buf = buf.subarray(0, cut);
          } else if (cut <= 0) {
            s.fileIndex++;
            const keepDay = s.fileDay;
            await this.closeStream(s);
            s.fileDay = keepDay;
            continue;
          }
        }

        let off = 0;
        try {
          while (off < buf.length) {
            const { bytesWritten } = await s.fd!.write(buf, off, buf.length - off);
            off += bytesWritten;
            s.fileSize += bytesWritten;
          }
        } catch (e) {
          if (off > 0) {
            // Keep only what did not reach the disk (the marker, if any, is rebuilt next time).
            const rest = buf.subarray(Math.max(off, Buffer.byteLength(marker)));
            const restLines = countLines(rest);
            s.pending.splice(0, take, { day: first.day, data: Buffer.from(rest), lines: restLines, bytes: rest.length, sealed: false });
            this.recount(s);
            if (off >= Buffer.byteLength(marker)) this.clearError(s);
          }
          throw e;
        }
        if (rest) {
          const restLines = countLines(rest);
          s.pending.splice(0, take, { day: first.day, data: rest, lines: restLines, bytes: rest.length, sealed: true });
          this.recount(s);
          lines -= restLines;
          // This file is full: the next write opens the next index.
          s.fileIndex++;
          const keepDay = s.fileDay;
          await this.closeStream(s);
          s.fileDay = keepDay;
        } else {
          s.pending.splice(0, take);
          s.pendingBytes -= bytes;
          this.bufferedBytes -= bytes;
        }
        this.counters.linesWritten += lines;
        this.counters.bytesWritten += buf.length;
        s.lastWriteMs = Date.now();
        if (s.tailBytes < TAIL_MAX) {
          s.tail.push(buf);
          s.tailBytes += buf.length;
        }
        if (marker) {
          this.opts.onTrouble?.(`${join(this.opts.dir, s.rel)}: writing again: ${this.recoveryText(s)}`);
          this.clearError(s);
        }
        // Little left: let more lines gather for one bigger write (the scheduler comes back).
        if (s.pendingBytes < CHUNK_MAX / 4 && !this.draining) break;
      }
      if (s.closeAfterWrite) {
        s.closeAfterWrite = false;
        await this.closeStream(s);
      }
    } catch (e) {
      this.failed(s, e as NodeJS.ErrnoException);
    } finally {
      s.writing = false;
      if (s.pending.length && !s.retryTimer) this.schedule();
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  private recount(s: Stream): void {
    let total = 0;
    for (const c of s.pending) total += c.bytes;
    this.bufferedBytes += total - s.pendingBytes;
    s.pendingBytes = total;
  }

  private clearError(s: Stream): void {
    s.errorCode = null;
    s.errorTries = 0;
    s.lostLines = 0;
    s.lostBytes = 0;
  }

  private recoveryText(s: Stream): string {
    const now = this.opts.now();
    const what = s.errorCode === 'backlog' ? 'output fell behind' : `output failed (${s.errorCode}) ${s.errorTries} time${s.errorTries === 1 ? '' : 's'}`;
    const secs = ((now - s.errorSinceUs) / 1e6).toFixed(1);
    const lost = s.lostLines > 0 ? `${s.lostLines} line${s.lostLines === 1 ? '' : 's'} (${s.lostBytes} bytes) lost to the memory bound` : 'no lines lost';
    return `${what} for ${secs} s; queued lines were written late; ${lost}`;
  }

  private recoveryNote(s: Stream): Formatted {
    return this.opts.note(this.opts.now(), this.recoveryText(s));
  }

  private failed(s: Stream, e: NodeJS.ErrnoException): void {
    const code = e.code ?? 'EIO';
    if (code === 'EMFILE' || code === 'ENFILE') {
      this.counters.fdErrors++;
      // Out of descriptors: give some back and try again soon.
      if (this.closeIdle(0, s) === 0) this.closeLeastRecent(Math.max(1, Math.floor(this.openCount / 2)), s);
    } else {
      this.counters.writeErrors++;
    }
    if (s.errorCode === null || s.errorCode === 'backlog') {
      if (s.errorCode === null) s.errorSinceUs = this.opts.now();
      const where = join(this.opts.dir, s.rel, s.fileDay ? fileName(s.fileDay, s.fileIndex) : '');
      this.opts.onTrouble?.(`cannot write ${where}: ${code} (${e.message.split(',')[0]}); holding lines in memory (up to the --max-buffer bound) and retrying`);
      s.errorCode = code;
    }
    s.errorTries++;
    // A file that failed is closed so the retry reopens (and recreates a removed directory).
    void this.closeStream(s);
    const delay = code === 'EMFILE' || code === 'ENFILE' ? Math.min(100, this.opts.retryMs) : this.opts.retryMs;
    s.retryTimer = setTimeout(() => {
      s.retryTimer = null;
      void this.pump(s);
    }, delay);
    s.retryTimer.unref();
  }

  /** Streams currently in trouble, for stats. */
  troubles(): Array<{ stream: string; error: string; sinceUs: number; queuedBytes: number; lostLines: number }> {
    const out = [];
    for (const s of this.streams.values()) {
      if (s.errorCode !== null) out.push({ stream: s.rel || '(combined)', error: s.errorCode, sinceUs: s.errorSinceUs, queuedBytes: s.pendingBytes, lostLines: s.lostLines });
    }
    return out;
  }
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}
