/**
 * The streaming scan of one input: chunks of bytes in, normalised lines to the detector.
 * Memory is flat in the input size: only the current chunk and one partial line are held.
 * Speed comes from a prefilter: while no report is open, whole stretches of the chunk are
 * skipped with one regex search for trigger words; only lines around a hit are normalised.
 */
import { Detector, TRIGGER_LOWER, TRIGGER_UPPER } from './detect.js';
import { Normalizer, detectFormat, type LogFormat } from './normalize.js';

export interface ScanResult {
  format: LogFormat;
  bytes: number;
  lines: number;
  /** Lines the normaliser could not parse although their format promised structure (bad JSON). */
  malformedLines: number;
  /** Lines longer than the line cap, cut to it. */
  overlongLines: number;
  /** Lines with bytes that are not UTF-8 (shown with U+FFFD). */
  invalidUtf8Lines: number;
}

export interface ScanOptions {
  name: string;
  refYear: number;
  refMonth: number;
  onProgress?: (bytes: number) => void;
  /** Longest line kept (bytes, default 64 KiB); longer lines are cut and counted. */
  maxLineChars?: number;
}

const UPPER_G = new RegExp(TRIGGER_UPPER.source, 'g');
const LOWER_G = new RegExp(TRIGGER_LOWER.source, 'g');
const FORMAT_SAMPLE = 200;
const HIGH_BYTE = /[\x80-\xff]/;
/** An OOM task-table row in any envelope: `… [ 1804]    89  1804    25638        3 … qmgr`. */
/** Lines that 5.x prints before a WARNING or `kernel BUG at` header and that name what went wrong. */
const PREFACE_RAW = /refcount_t: |list_(?:add|del) corruption|ODEBUG: |usercopy: |Bad or missing usercopy|-{4,}\[ cut here \]-{4,}/;
const TABLE_ROW_RAW = /\[\s*\d+\]\s+\d+\s+\d+\s+\d+\s+\d+\s.*\S\s*$/;

export async function scanStream(chunks: AsyncIterable<Buffer | string>, detector: Detector, opts: ScanOptions): Promise<ScanResult> {
  const normalizer = new Normalizer({ file: opts.name, refYear: opts.refYear, refMonth: opts.refMonth });
  const maxLine = opts.maxLineChars ?? 1 << 16;
  const res: ScanResult = { format: 'unknown', bytes: 0, lines: 0, malformedLines: 0, overlongLines: 0, invalidUtf8Lines: 0 };
  const sample: string[] = [];
  let carry: Buffer | null = null;
  let lineNo = 0;

  // The chunk is decoded as latin1 (fast, one char per byte, so string offsets are byte offsets);
  // only the lines actually analysed are decoded as UTF-8, from the bytes.
  const lineText = (s: string, buf: Buffer, start: number, end: number): string => {
    let e = end;
    if (e - start > maxLine) {
      e = start + maxLine;
      res.overlongLines++;
    }
    // Decode from the bytes rather than slicing `s`: a slice would keep the whole 1 MiB chunk
    // string alive for as long as an incident holds the line.
    if (!HIGH_BYTE.test(s.slice(start, e))) return buf.toString('latin1', start, e);
    const text = buf.toString('utf8', start, e);
    if (text.indexOf('\ufffd') !== -1) res.invalidUtf8Lines++;
    return text;
  };

  const countLines = (s: string, from: number, to: number) => {
    let n = 0;
    let p = s.indexOf('\n', from);
    while (p !== -1 && p < to) {
      n++;
      p = s.indexOf('\n', p + 1);
    }
    return n;
  };

  // Processes s[0, end) (end just past a newline, or the end of input).
  const process = (s: string, buf: Buffer, end: number) => {
    let pos = 0;
    if (sample.length < FORMAT_SAMPLE) {
      let p = 0;
      while (sample.length < FORMAT_SAMPLE && p < end) {
        const nl = s.indexOf('\n', p);
        const e = nl === -1 || nl >= end ? end : nl;
        sample.push(buf.toString('latin1', p, Math.min(e, p + 4096)));
        p = e + 1;
      }
    }
    let nextUp = -2;
    let nextLo = -2;
    while (pos < end) {
      if (!detector.hasOpen()) {
        // Skip to the next line holding a trigger word; nothing before it can start a report.
        if (nextUp !== -1 && nextUp < pos) {
          UPPER_G.lastIndex = pos;
          const m = UPPER_G.exec(s);
          nextUp = m === null || m.index >= end ? -1 : m.index;
        }
        if (nextLo !== -1 && nextLo < pos) {
          LOWER_G.lastIndex = pos;
          const m = LOWER_G.exec(s);
          nextLo = m === null || m.index >= end ? -1 : m.index;
        }
        const hit = nextUp === -1 ? nextLo : nextLo === -1 ? nextUp : Math.min(nextUp, nextLo);
        if (hit === -1) {
          lineNo += countLines(s, pos, end);
          if (end > 0 && s.charCodeAt(end - 1) !== 10) lineNo++; // final line without newline
          return;
        }
        const ls = Math.max(pos, s.lastIndexOf('\n', hit) + 1);
        // A panic (panic_on_oom) may follow an OOM task table whose header the log lost: the
        // rows just before it, skipped so far, are fed too (within this chunk).
        let bs = ls;
        if (s.startsWith('Kernel panic', hit)) {
          while (bs > pos) {
            const ps = Math.max(pos, s.lastIndexOf('\n', bs - 2) + 1);
            if (!TABLE_ROW_RAW.test(s.slice(ps, Math.min(bs - 1, ps + 4096)))) break;
            bs = ps;
          }
        } else if (s.startsWith('WARNING', hit) || (hit >= 7 && s.startsWith('kernel BUG at', hit - 7))) {
          // 5.x prints a WARN's message (`refcount_t: underflow; …`, `list_add corruption. …`)
          // before the WARNING / `kernel BUG at` line: feed those few lines too.
          // Up to 6 lines back, as other programs' syslog lines may sit in between; the detector
          // drops those and forgets the message if another kernel line came between.
          let back = ls;
          for (let n = 0; n < 6 && back > pos; n++) {
            const ps = Math.max(pos, s.lastIndexOf('\n', back - 2) + 1);
            if (PREFACE_RAW.test(s.slice(ps, Math.min(back - 1, ps + 4096)))) bs = ps;
            back = ps;
          }
        }
        lineNo += countLines(s, pos, bs);
        for (pos = bs; pos < ls; ) {
          const nl = s.indexOf('\n', pos);
          lineNo++;
          detector.feed(normalizer.normalize(lineText(s, buf, pos, nl), lineNo));
          pos = nl + 1;
        }
        pos = ls;
      }
      const nl = s.indexOf('\n', pos);
      const e = nl === -1 || nl >= end ? end : nl;
      lineNo++;
      detector.feed(normalizer.normalize(lineText(s, buf, pos, e), lineNo));
      pos = e + 1;
    }
  };

  for await (const chunk of chunks) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    res.bytes += data.length;
    const buf: Buffer = carry ? Buffer.concat([carry, data]) : data;
    carry = null;
    const last = buf.lastIndexOf(10);
    if (last === -1) {
      if (buf.length > maxLine * 4) {
        // Megabytes without a newline: cut rather than hold it.
        process(buf.toString('latin1', 0, buf.length), buf, buf.length);
        lineNo--; // the rest continues the same line
      } else carry = buf;
    } else {
      process(buf.toString('latin1', 0, last + 1), buf, last + 1);
      if (last + 1 < buf.length) carry = Buffer.from(buf.subarray(last + 1));
    }
    opts.onProgress?.(res.bytes);
  }
  if (carry && carry.length > 0) process(carry.toString('latin1', 0, carry.length), carry, carry.length);
  res.lines = lineNo;
  res.malformedLines = normalizer.malformed;
  res.format = detectFormat(sample, opts.name);
  return res;
}
