/**
 * The disk edge: lines are queued in memory (bounded) and written asynchronously, so a slow
 * or failing disk never stalls the receive path. One stream per sender directory plus an
 * optional combined file; files switch by day and by size.
 *
 * Failures are survived, not fatal: ENOSPC/EIO keep lines queued and retry; a removed
 * directory or file is recreated; EMFILE/ENFILE close idle files and retry. When the queue
 * limit is reached the oldest queued lines are dropped and counted, and once writing works
 * again a marker line says what was delayed and what was lost.
 *
 * Files hold whole lines only: a write cut short (disk full) is truncated back to its last
 * whole line (the rest stays queued), so a marker never lands inside a line; and a file found
 * not ending in a newline when opened (a predecessor killed mid-line, or a truncation that
 * failed) gets one first, so the next line is never glued onto a partial one.
 *
 * Every line handed in is, at any moment, exactly one of: written, lost (memory bound),
 * queued (in memory) or, after drain(), unwritten: linesAccepted is their sum.
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
  /** Lines handed to write()/commit(): linesWritten + linesLost + queued + linesUnwritten. */
  linesAccepted: number;
  linesWritten: number;
  bytesWritten: number;
  writeErrors: number;
  linesLost: number;
  bytesLost: number;
  fdErrors: number;
  filesOpened: number;
  reopened: number;
  /** Lines still queued when drain() gave up (the disk stayed full or broken). */
  linesUnwritten: number;
  /** Files found not ending in a newline when opened: a newline was written first. */
  filesTerminated: number;
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
  /** Lines written since that check (no markers): rewritten if the file turns out to be removed meanwhile. */
  tail: Buffer[];
  tailBytes: number;
  tailLines: number;
}

const CHUNK_MAX = 256 * 1024;
const NEWLINE = Buffer.from('\n');
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

/*
 * The rotation policy, pure: a file holds one day; past maxFileBytes (0: no limit) the day goes
 * on in `<day>.1.log`, `<day>.2.log`, …; a line is never split, and a fresh file takes one line
 * whatever its size. pump() and open() act on these answers.
 */

/** Whether `bytes` more make a non-empty file of `size` bytes longer than the limit. */
export function overflows(size: number, bytes: number, maxFileBytes: number): boolean {
  return maxFileBytes > 0 && size > 0 && size + bytes > maxFileBytes;
}

/**
 * Before writing `bytes` bytes of `day` to the open file: keep writing to it, or close it and go
 * on in the next index of the same day, or in the first file of the new day.
 */
export function rotation(open: { day: string; size: number }, day: string, bytes: number, maxFileBytes: number): 'keep' | 'next-index' | 'new-day' {
  if (open.day !== day) return 'new-day';
  return overflows(open.size, bytes, maxFileBytes) ? 'next-index' : 'keep';
}

/**
 * How many bytes of `buf` (whole lines) go into a file of `size` bytes: all of it, the whole
 * lines that fit (the rest starts the next file), or 0 when not one line fits and the file is
 * not empty (the next file takes them).
 */
export function bytesThatFit(size: number, buf: Buffer, maxFileBytes: number): number {
  if (!(maxFileBytes > 0 && size + buf.length > maxFileBytes)) return buf.length;
  const room = maxFileBytes - size;
  let cut = room > 0 ? buf.lastIndexOf(10, room - 1) + 1 : 0;
  // Not even one line fits: a fresh file takes one line whatever its size.
  if (cut <= 0 && size === 0) cut = buf.indexOf(10) + 1 || buf.length;
  return Math.max(cut, 0);
}

export class Writer {
  readonly counters: WriterCounters = {
    linesAccepted: 0,
    linesWritten: 0,
    bytesWritten: 0,
    writeErrors: 0,
    linesLost: 0,
    bytesLost: 0,
    fdErrors: 0,
    filesOpened: 0,
    reopened: 0,
    linesUnwritten: 0,
    filesTerminated: 0,
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
        this.requeueTail(s);
        await this.closeStream(s);
        this.schedule();
      }
      s.tail = [];
      s.tailBytes = 0;
      s.tailLines = 0;
      s.lastCheckMs = Date.now();
    }
  }

  /** The open file was removed: what went into it since the last check is queued again (first). */
  private requeueTail(s: Stream): void {
    if (s.tailBytes > 0) {
      const tail = Buffer.concat(s.tail);
      s.pending.unshift({ day: s.fileDay ?? '', data: tail, lines: s.tailLines, bytes: tail.length, sealed: true });
      this.counters.linesWritten -= s.tailLines;
      this.recount(s);
    }
    s.tail = [];
    s.tailBytes = 0;
    s.tailLines = 0;
    this.counters.reopened++;
  }

  /** Lines held in memory, not yet written. */
  get queuedLines(): number {
    let n = 0;
    for (const s of this.streams.values()) for (const c of s.pending) n += c.lines;
    return n;
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
    this.counters.linesAccepted += lines;
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
        tailLines: 0,
      };
      this.streams.set(rel, s);
    }
    return s;
  }

  /** Queue formatted lines for the stream `rel` ('' = combined file in the output dir). */
  write(rel: string, f: Formatted): void {
    const s = this.stream(rel);
    this.counters.linesAccepted += f.lines;
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
    const victims = s.pending.length > 1 ? s : (this.largestStream() ?? s);
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
      // A stream in trouble (disk full) is retried every 100 ms at most, not as fast as it fails.
      const trouble = pending.some((s) => s.errorCode !== null && s.errorCode !== 'backlog');
      await new Promise<void>((r) => {
        if (!trouble) this.drainWaiters.push(r);
        setTimeout(r, trouble ? Math.min(100, this.opts.retryMs) : 50);
      });
    }
    let unwritten = 0;
    for (const s of this.streams.values()) {
      while (s.writing) await new Promise((r) => setTimeout(r, 5));
      if (s.retryTimer) {
        clearTimeout(s.retryTimer);
        s.retryTimer = null;
      }
      // Queued lines the disk never took: counted as unwritten (no longer as queued).
      for (const c of s.pending) unwritten += c.lines;
      s.pending = [];
      this.recount(s);
      await this.closeStream(s);
    }
    this.counters.linesUnwritten += unwritten;
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
      if (overflows(size, need, this.opts.maxFileBytes)) {
        index++;
        continue;
      }
      let fd: fsp.FileHandle;
      try {
        // Read as well as append: the last byte is checked (see endWithNewline). Non-blocking, so
        // that a FIFO or device planted at the name cannot hang the open (it is refused below).
        fd = await fsp.open(path, fsc.O_RDWR | fsc.O_NONBLOCK | fsc.O_CREAT | fsc.O_APPEND | fsc.O_NOFOLLOW, this.opts.fileMode);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) {
          await fsp.mkdir(dir, { recursive: true, mode: 0o750 });
          continue;
        }
        throw e;
      }
      try {
        size = await this.endWithNewline(fd, path);
      } catch (e) {
        await fd.close().catch(() => undefined);
        throw e;
      }
      s.fd = fd;
      this.openCount++;
      this.counters.filesOpened++;
      s.filePath = path;
      s.fileDay = day;
      s.fileIndex = index;
      s.fileSize = size;
      return;
    }
  }

  /**
   * A file that does not end in a newline (a predecessor was killed mid-line, or a truncation
   * after a short write failed) gets one, so our first line is not glued onto that partial one.
   * Returns the file's size after that.
   */
  private async endWithNewline(fd: fsp.FileHandle, path: string): Promise<number> {
    const st = await fd.stat();
    // Log files are regular files: anything else at the name is refused (and retried, counted).
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EFTYPE' });
    const size = st.size;
    if (size === 0) return 0;
    const last = Buffer.alloc(1);
    await fd.read(last, 0, 1, size - 1);
    if (last[0] === 0x0a) return size;
    const { bytesWritten } = await fd.write(NEWLINE, 0, 1);
    if (bytesWritten !== 1) throw Object.assign(new Error('short write of a newline'), { code: 'EIO' });
    this.counters.bytesWritten++;
    this.counters.filesTerminated++;
    this.opts.onTrouble?.(`${path} did not end in a newline (its last line was cut short before): ended that line before appending`);
    return size + 1;
  }

  private async pump(s: Stream): Promise<void> {
    if (s.writing || this.closed) return;
    s.writing = true;
    try {
      while (s.pending.length) {
        // A file removed under us (rm -r of the output dir) still accepts writes: check it
        // now and then, and queue again what went into it since the last good check.
        if (s.fd && Date.now() - s.lastCheckMs >= CHECK_MS) {
          const st = await s.fd.stat();
          if (st.nlink === 0) {
            this.requeueTail(s);
            await this.closeStream(s);
          }
          s.tail = [];
          s.tailBytes = 0;
          s.tailLines = 0;
          s.lastCheckMs = Date.now();
        }
        const first = s.pending[0]!;
        // Gather queued chunks of the same day into one write.
        let take = 1;
        let bytes = first.bytes;
        while (take < s.pending.length && s.pending[take]!.day === first.day && bytes + s.pending[take]!.bytes <= 4 * CHUNK_MAX) bytes += s.pending[take++]!.bytes;
        const parts = s.pending.slice(0, take);
        for (const p of parts) p.sealed = true;
        let lines = 0;
        for (const p of parts) lines += p.lines;
        const takenLines = lines;
        // The recovery marker goes first, a whole line of its own: bytes [0, head) of buf.
        const marker = s.errorCode !== null ? Buffer.from(this.recoveryNote(s).text) : null;
        const head = marker ? marker.length : 0;
        const pieces = parts.map((p) => p.data.subarray(0, p.bytes));
        if (marker) pieces.unshift(marker);
        let buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);

        // Switch file by day or size.
        const rotate = s.fd ? rotation({ day: s.fileDay ?? '', size: s.fileSize }, first.day, buf.length, this.opts.maxFileBytes) : 'keep';
        if (rotate !== 'keep') {
          if (rotate === 'next-index') s.fileIndex++;
          const keepIndex = s.fileIndex;
          const keepDay = s.fileDay;
          await this.closeStream(s);
          s.fileDay = keepDay;
          s.fileIndex = keepIndex;
        }
        if (!s.fd) {
          await this.open(s, first.day, buf.length);
          s.tail = [];
          s.tailBytes = 0;
          s.tailLines = 0;
          s.lastCheckMs = Date.now();
        }

        // Respect the size limit: write the whole lines that fit; the rest goes to the next file.
        let nextFile: Buffer | null = null;
        const cut = bytesThatFit(s.fileSize, buf, this.opts.maxFileBytes);
        if (cut === 0 && buf.length > 0) {
          s.fileIndex++;
          const keepDay = s.fileDay;
          await this.closeStream(s);
          s.fileDay = keepDay;
          continue;
        }
        if (cut < buf.length) {
          nextFile = Buffer.from(buf.subarray(cut));
          buf = buf.subarray(0, cut);
        }

        let off = 0;
        try {
          while (off < buf.length) {
            const { bytesWritten } = await s.fd!.write(buf, off, buf.length - off);
            off += bytesWritten;
            s.fileSize += bytesWritten;
          }
        } catch (e) {
          if (off > 0) await this.shortWrite(s, buf, off, head, marker !== null, take, takenLines, first.day, nextFile);
          throw e;
        }
        const nextLines = nextFile ? countLines(nextFile) : 0;
        if (nextFile) s.pending.splice(0, take, { day: first.day, data: nextFile, lines: nextLines, bytes: nextFile.length, sealed: true });
        else s.pending.splice(0, take);
        this.recount(s);
        lines -= nextLines;
        if (nextFile) {
          // This file is full: the next write opens the next index.
          s.fileIndex++;
          const keepDay = s.fileDay;
          await this.closeStream(s);
          s.fileDay = keepDay;
        }
        this.counters.linesWritten += lines;
        this.counters.bytesWritten += buf.length;
        s.lastWriteMs = Date.now();
        this.remember(s, buf.subarray(head), lines);
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

  /** Written lines (no marker) remembered for a rewrite should the file turn out removed. */
  private remember(s: Stream, written: Buffer, lines: number): void {
    if (written.length === 0 || s.tailBytes >= TAIL_MAX) return;
    s.tail.push(written);
    s.tailBytes += written.length;
    s.tailLines += lines;
  }

  /**
   * A write failed after `off` of buf's bytes reached the file (a full disk takes what fits).
   * The file is truncated back to its last whole line: a torn line cannot be completed while
   * the disk is full, and left in place the next write (or the recovery marker) would continue
   * it. The whole lines written are counted; everything after them is queued again in place of
   * the `take` chunks it came from (with `nextFile`, the part meant for the next file).
   */
  private async shortWrite(s: Stream, buf: Buffer, off: number, head: number, hadMarker: boolean, take: number, takenLines: number, day: string, nextFile: Buffer | null): Promise<void> {
    const cut = buf.lastIndexOf(10, off - 1) + 1;
    if (cut < off) {
      try {
        const size = (await s.fd!.stat()).size;
        await s.fd!.truncate(size - (off - cut));
        s.fileSize -= off - cut;
      } catch (e) {
        // The next open ends the torn line with a newline (endWithNewline): the line is then
        // in the file twice, cut short once and whole once, rather than glued to another.
        this.opts.onTrouble?.(`cannot truncate ${s.filePath ?? join(this.opts.dir, s.rel)} back to its last whole line: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    const written = cut > head ? buf.subarray(head, cut) : buf.subarray(0, 0);
    const writtenLines = countLines(written);
    const left = buf.subarray(Math.max(cut, head));
    const rest = nextFile ? Buffer.concat([left, nextFile]) : Buffer.from(left);
    s.pending.splice(0, take, { day, data: rest, lines: takenLines - writtenLines, bytes: rest.length, sealed: false });
    this.recount(s);
    this.counters.linesWritten += writtenLines;
    this.counters.bytesWritten += cut;
    if (cut > 0) s.lastWriteMs = Date.now();
    this.remember(s, written, writtenLines);
    // The marker made it: the next one reports only what happens from now on.
    if (hadMarker && cut >= head) this.clearError(s);
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
