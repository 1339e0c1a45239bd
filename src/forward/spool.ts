/**
 * The forwarding spool: the receiver's own files plus a cursor per destination.
 *
 * The receiver (netconsole listen, console) already writes every line to append-only files named
 * by day and index (`2026-11-26.log`, `2026-11-26.1.log`, …; src/netconsole/writer.ts), either one
 * combined file in the output directory or one directory per sender. Those files are durable, in
 * order and bounded by the receiver's own rotation, so they *are* the spool: a destination that is
 * down only stops the cursor; the lines wait where they already are, and nothing is written twice.
 * The spool limit bounds how far a cursor may fall behind: past it, the oldest unsent lines are
 * skipped, counted, and announced to the destination by one marker line.
 *
 * Streams: the combined file when the directory has one (then the per-sender files hold the same
 * lines and are not sent again), otherwise each sender directory on its own.
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, constants as C, lstatSync } from 'node:fs';
import { join } from 'node:path';

/** A log file name of the receiver: day and index. */
const LOG_NAME_RE = /^(\d{4}-\d{2}-\d{2})(?:\.(\d{1,6}))?\.log$/;

/** Sort key of a receiver file name, or null when it is not one. */
export function logNameKey(name: string): [string, number] | null {
  const m = LOG_NAME_RE.exec(name);
  return m ? [m[1]!, m[2] ? Number(m[2]) : 0] : null;
}

export function compareLogNames(a: string, b: string): number {
  const ka = logNameKey(a)!;
  const kb = logNameKey(b)!;
  return ka[0] < kb[0] ? -1 : ka[0] > kb[0] ? 1 : ka[1] - kb[1];
}

/** Longest read for one line: more than the receiver's own line cap (--max-line-bytes). */
const MAX_LINE_READ = 1 << 20;

/** Where a stream has been sent up to: the next byte to send of `file`. */
export interface StreamPos {
  file: string;
  offset: number;
}

/** A line read from the spool, with its stable id and the position after it. */
export interface SpoolLine {
  text: string;
  /** Already in forwarded form (sources that are not receiver files). */
  line?: import('./lines.js').ForwardLine;
  /** `<stream>/<file>:<offset>` — unique and stable across restarts (see syslog.ts). */
  id: string;
  next: StreamPos;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isRegular(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

function isDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The receiver's log files in stream `rel` of `dir`, oldest first (links and non-files ignored). */
export function logFiles(dir: string, rel: string): string[] {
  const d = join(dir, rel);
  return listDir(d)
    .filter((n) => logNameKey(n) !== null && isRegular(join(d, n)))
    .sort(compareLogNames);
}

/** The streams of a receiver directory: `['']` for the combined file, else each sender directory. */
export function streamsOf(dir: string): string[] {
  if (logFiles(dir, '').length > 0) return [''];
  return listDir(dir)
    .filter((n) => !n.startsWith('.') && isDir(join(dir, n)) && logFiles(dir, n).length > 0)
    .sort();
}

function sizeOf(path: string): number {
  try {
    return lstatSync(path).size;
  } catch {
    return 0;
  }
}

/** Bytes not yet sent in stream `rel` from `pos` (null = from the start). */
export function backlogBytes(dir: string, rel: string, pos: StreamPos | null): number {
  let total = 0;
  for (const f of logFiles(dir, rel)) {
    if (pos && compareLogNames(f, pos.file) < 0) continue;
    const size = sizeOf(join(dir, rel, f));
    total += pos && f === pos.file ? Math.max(0, size - pos.offset) : size;
  }
  return total;
}

/** Reads up to `maxBytes` from `path` at `offset`: regular files only, never through a link, never blocking. */
function readAt(path: string, offset: number, maxBytes: number): Buffer {
  const fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return Buffer.alloc(0);
    // No bigger than what is there: a caught-up forwarder polls an unchanged file every tick.
    const len = Math.min(maxBytes, Math.max(0, st.size - offset));
    if (len === 0) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(len);
    const n = readSync(fd, buf, 0, len, offset);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * The next whole lines of stream `rel` after `pos`, at most `maxBytes` of them (at least one line
 * when one is there). A last line without its newline is left for later while its file is the
 * newest (the receiver is still writing it); in an older file it is a line of its own.
 */
export function readLines(dir: string, rel: string, pos: StreamPos | null, maxBytes: number): SpoolLine[] {
  const files = logFiles(dir, rel);
  let i = pos ? files.findIndex((f) => compareLogNames(f, pos.file) >= 0) : 0;
  if (i < 0) return [];
  let offset = pos && files[i] === pos.file ? pos.offset : 0;
  const out: SpoolLine[] = [];
  let budget = maxBytes;
  for (; i < files.length && budget > 0; i++, offset = 0) {
    const file = files[i]!;
    const newest = i === files.length - 1;
    let data: Buffer;
    try {
      data = readAt(join(dir, rel, file), offset, budget);
      // A line longer than the batch: read on up to the longest line a receiver writes.
      if (data.length === budget && budget < MAX_LINE_READ && data.indexOf(0x0a) < 0) data = readAt(join(dir, rel, file), offset, MAX_LINE_READ);
    } catch {
      continue; // rotated away or unreadable: the next file goes on
    }
    if (data.length === Math.max(budget, MAX_LINE_READ) && data.indexOf(0x0a) < 0) {
      // A "line" longer than any the receiver writes (it caps lines far below this): sent in
      // pieces rather than stalling the stream forever.
      out.push({ text: data.toString('utf8'), id: `${rel || '.'}/${file}:${offset}`, next: { file, offset: offset + data.length } });
      return out;
    }
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      out.push({ text: data.toString('utf8', start, nl), id: `${rel || '.'}/${file}:${offset + start}`, next: { file, offset: offset + nl + 1 } });
      budget -= nl + 1 - start;
      start = nl + 1;
      if (budget <= 0) return out;
    }
    if (start < data.length) {
      // Either more than we read, or an unterminated last line.
      const whole = sizeOf(join(dir, rel, file)) <= offset + data.length;
      if (!whole) return out; // read on next time
      if (newest) return out; // still being written
      out.push({ text: data.toString('utf8', start), id: `${rel || '.'}/${file}:${offset + start}`, next: { file, offset: offset + data.length } });
      budget -= data.length - start;
    }
    if (!newest && out.length > 0 && budget <= 0) return out;
  }
  return out;
}

/**
 * Moves `pos` forward so that at most `limit` bytes stay unsent, to a line boundary. Returns the new
 * position and how many lines were passed over (counted by their newlines).
 */
export function skipToLimit(dir: string, rel: string, pos: StreamPos | null, limit: number): { pos: StreamPos | null; skippedLines: number; skippedBytes: number } {
  const backlog = backlogBytes(dir, rel, pos);
  if (backlog <= limit) return { pos, skippedLines: 0, skippedBytes: 0 };
  let toSkip = backlog - limit;
  let skippedLines = 0;
  let skippedBytes = 0;
  let cur = pos;
  const chunk = 1 << 20;
  while (toSkip > 0) {
    const lines = readLines(dir, rel, cur, Math.min(chunk, toSkip));
    if (lines.length === 0) break;
    for (const l of lines) {
      const bytes = Buffer.byteLength(l.text, 'utf8') + 1;
      skippedLines++;
      skippedBytes += bytes;
      toSkip -= bytes;
      cur = l.next;
      if (toSkip <= 0) break;
    }
  }
  return { pos: cur, skippedLines, skippedBytes };
}

/** Where a forwarder reads: the receiver's files (fileSpool) or a recorder's store (store-source.ts). */
export interface Spool {
  streams(): string[];
  read(stream: string, pos: StreamPos | null, maxBytes: number): SpoolLine[];
  /** What is not delivered yet: bytes for receiver files, records for a store. */
  backlog(stream: string, pos: StreamPos | null): number;
  skip(stream: string, pos: StreamPos | null, limit: number): { pos: StreamPos | null; skippedLines: number; skippedBytes: number };
  close?(): void;
}

export function fileSpool(dir: string): Spool {
  return {
    streams: () => streamsOf(dir),
    read: (stream, pos, maxBytes) => readLines(dir, stream, pos, maxBytes),
    backlog: (stream, pos) => backlogBytes(dir, stream, pos),
    skip: (stream, pos, limit) => skipToLimit(dir, stream, pos, limit),
  };
}
