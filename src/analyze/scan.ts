/**
 * The streaming scan of one input: chunks of bytes in, normalised lines to the detector.
 * Memory is flat in the input size: only the current chunk and one partial line are held.
 * Speed comes from a prefilter: while no report is open, whole stretches of the chunk are
 * skipped with one regex search for trigger words; only lines around a hit are normalised.
 */
import { StringDecoder } from 'node:string_decoder';
import { Detector, TRIGGER_RE } from './detect.js';
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
  /** Longest line kept (characters); longer lines are cut and counted. */
  maxLineChars?: number;
}

const TRIGGER_G = new RegExp(TRIGGER_RE.source, 'g');
const FORMAT_SAMPLE = 200;

export async function scanStream(chunks: AsyncIterable<Buffer | string>, detector: Detector, opts: ScanOptions): Promise<ScanResult> {
  const decoder = new StringDecoder('utf8');
  const normalizer = new Normalizer({ file: opts.name, refYear: opts.refYear, refMonth: opts.refMonth });
  const maxLine = opts.maxLineChars ?? 1 << 20;
  const res: ScanResult = { format: 'unknown', bytes: 0, lines: 0, malformedLines: 0, overlongLines: 0, invalidUtf8Lines: 0 };
  const sample: string[] = [];
  let carry = '';
  let lineNo = 0;

  const feedLine = (raw: string) => {
    let line = raw;
    if (line.length > maxLine) {
      line = line.slice(0, maxLine);
      res.overlongLines++;
    }
    if (line.indexOf('\ufffd') !== -1) res.invalidUtf8Lines++;
    detector.feed(normalizer.normalize(line, lineNo));
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

  // Processes s[0, end) where end is just past a '\n' (or the end of input).
  const process = (s: string, end: number) => {
    let pos = 0;
    if (sample.length < FORMAT_SAMPLE) {
      let p = 0;
      while (sample.length < FORMAT_SAMPLE && p < end) {
        const nl = s.indexOf('\n', p);
        const e = nl === -1 || nl >= end ? end : nl;
        sample.push(s.slice(p, Math.min(e, p + 4096)));
        p = e + 1;
      }
    }
    while (pos < end) {
      if (!detector.hasOpen()) {
        TRIGGER_G.lastIndex = pos;
        const m = TRIGGER_G.exec(s);
        if (m === null || m.index >= end) {
          lineNo += countLines(s, pos, end);
          if (end > 0 && s.charCodeAt(end - 1) !== 10) lineNo++; // final line without newline
          return;
        }
        const ls = Math.max(pos, s.lastIndexOf('\n', m.index) + 1);
        lineNo += countLines(s, pos, ls);
        pos = ls;
      }
      const nl = s.indexOf('\n', pos);
      const e = nl === -1 || nl >= end ? end : nl;
      lineNo++;
      feedLine(s.slice(pos, e));
      pos = e + 1;
    }
  };

  for await (const chunk of chunks) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    res.bytes += buf.length;
    const text = carry + decoder.write(buf);
    const last = text.lastIndexOf('\n');
    if (last === -1) {
      carry = text;
      if (carry.length > maxLine * 4) {
        // A "line" of megabytes without a newline: cut it rather than hold it.
        process(carry, carry.length);
        lineNo--; // the cut piece continues on the next chunk as the same line
        carry = '';
      }
    } else {
      process(text, last + 1);
      carry = text.slice(last + 1);
    }
    opts.onProgress?.(res.bytes);
  }
  const tail = carry + decoder.end();
  if (tail.length > 0) process(tail, tail.length);
  res.lines = lineNo;
  res.malformedLines = normalizer.malformed;
  res.format = detectFormat(sample, opts.name);
  return res;
}
