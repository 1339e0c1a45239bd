/**
 * The streaming scan of one input: chunks of bytes in, normalised lines to the detector.
 * Memory is flat in the input size: only the current chunk and one partial line (at most the
 * line cap) are held. Before any line is parsed, the first MiB is judged text or binary
 * (content.ts); NUL runs are dropped and counted; every line is counted, whatever its length.
 * Speed comes from a prefilter: while no report is open, whole stretches of the chunk are
 * skipped with one regex search for trigger words; only lines around a hit are normalised.
 */
import { Detector, TRIGGER_LOWER, TRIGGER_UPPER } from './detect.js';
import { PREFACE_ANYWHERE_RE } from './patterns/index.js';
import { Normalizer, detectFormat, type LogFormat } from './normalize.js';
import { JUDGE_SAMPLE_BYTES, LineAssembler, NulFilter, judgeContent } from './content.js';

/** The content is not a text log: nothing of it was parsed. */
export class NotTextError extends Error {}

export interface ScanResult {
  format: LogFormat;
  /** Bytes of content read (after decompression), NUL bytes included. */
  bytes: number;
  /** Every line: terminated or not, overlong or not. */
  lines: number;
  /** Lines the normaliser could not parse although their format promised structure (bad JSON). */
  malformedLines: number;
  /** Lines longer than the line cap, cut to it (each counted once). */
  overlongLines: number;
  /** Bytes dropped from overlong lines (beyond the part kept). */
  overlongBytesCut: number;
  /** Lines with bytes that are not UTF-8 (shown with U+FFFD), one each. */
  invalidUtf8Lines: number;
  /** NUL bytes dropped (the zeros a crash leaves in a log), and in how many runs. */
  nulBytes: number;
  nulRuns: number;
  /** The stream failed part way: what came before was scanned, this says why it stopped. */
  readError?: string;
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
/** Lines that 5.x prints before a WARNING or `kernel BUG at` header and that name what went wrong (from the report types). */
const PREFACE_RAW = PREFACE_ANYWHERE_RE;
const TABLE_ROW_RAW = /\[\s*\d+\]\s+\d+\s+\d+\s+\d+\s+\d+\s.*\S\s*$/;

export async function scanStream(chunks: AsyncIterable<Buffer | string>, detector: Detector, opts: ScanOptions): Promise<ScanResult> {
  const normalizer = new Normalizer({ file: opts.name, refYear: opts.refYear, refMonth: opts.refMonth });
  const maxLine = opts.maxLineChars ?? 1 << 16;
  const res: ScanResult = {
    format: 'unknown',
    bytes: 0,
    lines: 0,
    malformedLines: 0,
    overlongLines: 0,
    overlongBytesCut: 0,
    invalidUtf8Lines: 0,
    nulBytes: 0,
    nulRuns: 0,
  };
  const sample: string[] = [];
  const nul = new NulFilter();
  const assembler = new LineAssembler(maxLine);
  let lineNo = 0;

  // The block is decoded as latin1 (fast, one char per byte, so string offsets are byte offsets);
  // only the lines actually analysed are decoded as UTF-8, from the bytes. The assembler has
  // cut every line to the cap and counted the overlong and invalid ones.
  const lineText = (s: string, buf: Buffer, start: number, end: number): string => {
    // Decode from the bytes rather than slicing `s`: a slice would keep the whole 1 MiB chunk
    // string alive for as long as an incident holds the line.
    if (!HIGH_BYTE.test(s.slice(start, end))) return buf.toString('latin1', start, end);
    return buf.toString('utf8', start, end);
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
        for (pos = bs; pos < ls;) {
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

  const processBlock = (block: Buffer) => {
    if (block.length) process(block.toString('latin1', 0, block.length), block, block.length);
  };
  const feed = (data: Buffer) => {
    res.bytes += data.length;
    processBlock(assembler.push(nul.filter(data)));
    opts.onProgress?.(res.bytes);
  };
  // Nothing is parsed before the first MiB (or the whole input, when shorter) is judged text.
  let pending: Buffer[] | null = [];
  let pendingBytes = 0;
  const judge = () => {
    const held = pending!;
    pending = null;
    const verdict = judgeContent(Buffer.concat(held).subarray(0, JUDGE_SAMPLE_BYTES));
    if (verdict.binary) throw new NotTextError(verdict.reason);
    for (const p of held) feed(p);
  };
  try {
    for await (const chunk of chunks) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (pending === null) feed(data);
      else {
        pending.push(data);
        pendingBytes += data.length;
        if (pendingBytes >= JUDGE_SAMPLE_BYTES) judge();
      }
    }
  } catch (e) {
    if (e instanceof NotTextError) throw e;
    res.readError = (e as Error)?.message ?? String(e);
  }
  if (pending !== null) judge();
  processBlock(assembler.end());
  res.overlongLines = assembler.overlongLines;
  res.overlongBytesCut = assembler.overlongBytesCut;
  res.invalidUtf8Lines = assembler.invalidUtf8Lines;
  res.nulBytes = nul.nulBytes;
  res.nulRuns = nul.nulRuns;
  res.lines = lineNo;
  res.malformedLines = normalizer.malformed;
  res.format = detectFormat(sample, opts.name);
  return res;
}
