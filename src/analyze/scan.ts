/**
 * The streaming scan of one input: chunks of bytes in, normalised lines to the detector.
 * Memory is flat in the input size: only the current chunk and one partial line (at most the
 * line cap) are held. Before any line is parsed, the first MiB is judged text or binary
 * (content.ts); NUL runs are dropped and counted; every line is counted, whatever its length.
 * Speed comes from a prefilter: each block of lines is indexed for trigger words (blockindex.ts:
 * on this thread, or on worker threads for large inputs); while no report is open, the lines
 * between hits are skipped; only lines around a hit are decoded and normalised.
 */
import type { Detector } from './detect.js';
import type { BlockIndex } from './blockindex.js';
import { INLINE_INDEXER, type BlockIndexer } from './indexpool.js';
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
  /** Who indexes the blocks (default: this thread, at once); a pool of worker threads gives the same result. */
  indexer?: BlockIndexer;
  /** Blocks read ahead of the detector while their index is computed elsewhere (default 8, of ~1 MiB). */
  maxQueuedBlocks?: number;
}

const FORMAT_SAMPLE = 200;
/** An OOM task-table row in any envelope: `… [ 1804]    89  1804    25638        3 … qmgr`. */
/** Lines that 5.x prints before a WARNING or `kernel BUG at` header and that name what went wrong (from the report types). */
const PREFACE_RAW = PREFACE_ANYWHERE_RE;
const TABLE_ROW_RAW = /\[\s*\d+\]\s+\d+\s+\d+\s+\d+\s+\d+\s.*\S\s*$/;

/** Buffers of a block ring beyond the queued blocks: the one being built, the one being fed, margin. */
const RING_SPARE = 3;
const RING_SLOT_BYTES = (1 << 20) + (80 << 10);

/**
 * Where the line assembler builds its blocks: `slots` buffers reused in turn, so that a large
 * input makes no garbage per block (on a thread that allocates little else, V8 collected such
 * garbage only every ~64 MiB). Safe because a block is fed, and dropped, before `slots` more are
 * built: at most maxQueued wait in the queue (and the worker gets a copy).
 */
function blockRing(slots: number): (bytes: number) => Buffer {
  const ring: Buffer[] = [];
  let next = 0;
  return (bytes) => {
    const i = next;
    next = (next + 1) % slots;
    let slot = ring[i];
    if (slot === undefined || slot.length < bytes) {
      slot = Buffer.allocUnsafeSlow(Math.max(bytes, RING_SLOT_BYTES));
      ring[i] = slot;
    }
    return slot.subarray(0, bytes);
  };
}

/** The last line end at or before `from` (-1: none; a negative `from` looks nowhere, unlike Buffer's). */
function lastNewline(buf: Buffer, from: number): number {
  return from < 0 ? -1 : buf.lastIndexOf(10, from);
}

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
  const indexer = opts.indexer ?? INLINE_INDEXER;
  // Indexed at once, a block is fed at once; indexed elsewhere, a few are read ahead meanwhile.
  const maxQueued = indexer === INLINE_INDEXER ? 1 : Math.max(1, opts.maxQueuedBlocks ?? 8);
  const assembler = new LineAssembler(maxLine, blockRing(maxQueued + RING_SPARE));
  /** Line number of the last line of the blocks fed so far. */
  let lineNo = 0;

  const latin1 = (buf: Buffer, start: number, end: number): string => buf.toString('latin1', start, end);

  // Feeds the detector from one block of whole lines (the last one may lack its newline), in
  // order: while no report is open only the lines the index names (and the few before them that
  // a report may need) are decoded; while one is open, every line.
  // Lines are decoded from the bytes (UTF-8; an invalid one shows U+FFFD), never as slices of a
  // block-wide string, which an incident holding the line would keep alive.
  const feedBlock = (buf: Buffer, idx: BlockIndex) => {
    const end = buf.length;
    const base = lineNo;
    if (sample.length < FORMAT_SAMPLE) {
      let p = 0;
      while (sample.length < FORMAT_SAMPLE && p < end) {
        const nl = buf.indexOf(10, p);
        const e = nl === -1 || nl >= end ? end : nl;
        sample.push(buf.toString('latin1', p, Math.min(e, p + 4096)));
        p = e + 1;
      }
    }
    const hits = idx.hits;
    const hitLines = idx.hitLines;
    let h = 0;
    let pos = 0;
    /** Index in the block of the line at `pos`. */
    let at = 0;
    const feedLine = () => {
      const nl = buf.indexOf(10, pos);
      const e = nl === -1 ? end : nl;
      at++;
      detector.feed(normalizer.normalize(buf.toString('utf8', pos, e), base + at));
      pos = e + 1;
    };
    while (pos < end) {
      if (!detector.hasOpen()) {
        // Skip to the next line holding a trigger word; nothing before it can start a report.
        while (h < hits.length && hits[h]! < pos) h++;
        if (h === hits.length) break;
        const hit = hits[h]!;
        const ls = buf.lastIndexOf(10, hit) + 1;
        const lsAt = hitLines[h]!;
        // A panic (panic_on_oom) may follow an OOM task table whose header the log lost: the
        // rows just before it, skipped so far, are fed too (within this block).
        let bs = ls;
        let back = 0;
        if (latin1(buf, hit, hit + 12) === 'Kernel panic') {
          while (bs > pos) {
            const ps = Math.max(pos, lastNewline(buf, bs - 2) + 1);
            if (!TABLE_ROW_RAW.test(latin1(buf, ps, Math.min(bs - 1, ps + 4096)))) break;
            bs = ps;
            back++;
          }
        } else if (latin1(buf, hit, hit + 7) === 'WARNING' || (hit >= 7 && latin1(buf, hit - 7, hit + 6) === 'kernel BUG at')) {
          // 5.x prints a WARN's message (`refcount_t: underflow; …`, `list_add corruption. …`)
          // before the WARNING / `kernel BUG at` line: feed those few lines too.
          // Up to 6 lines back, as other programs' syslog lines may sit in between; the detector
          // drops those and forgets the message if another kernel line came between.
          let ps = ls;
          for (let n = 1; n <= 6 && ps > pos; n++) {
            const prev = ps;
            ps = Math.max(pos, lastNewline(buf, prev - 2) + 1);
            if (PREFACE_RAW.test(latin1(buf, ps, Math.min(prev - 1, ps + 4096)))) {
              bs = ps;
              back = n;
            }
          }
        }
        pos = bs;
        at = lsAt - back;
        while (pos < ls) feedLine();
      }
      feedLine();
    }
    lineNo = base + idx.newlines + (end > 0 && buf[end - 1] !== 10 ? 1 : 0);
  };

  // Blocks wait here, in order, for their index (from a worker, or at once); at most maxQueued.
  const queue: { block: Buffer; idx: BlockIndex | Promise<BlockIndex> }[] = [];
  const drain = async (keep: number) => {
    while (queue.length > keep) {
      const q = queue.shift()!;
      feedBlock(q.block, q.idx instanceof Promise ? await q.idx : q.idx);
    }
  };
  const processBlock = async (block: Buffer) => {
    if (block.length === 0) return;
    queue.push({ block, idx: indexer.index(block) });
    await drain(maxQueued - 1);
  };
  const feed = async (data: Buffer) => {
    res.bytes += data.length;
    await processBlock(assembler.push(nul.filter(data)));
    opts.onProgress?.(res.bytes);
  };
  // Nothing is parsed before the first MiB (or the whole input, when shorter) is judged text.
  let pending: Buffer[] | null = [];
  let pendingBytes = 0;
  const judge = async () => {
    const held = pending!;
    pending = null;
    const verdict = judgeContent(Buffer.concat(held).subarray(0, JUDGE_SAMPLE_BYTES));
    if (verdict.binary) throw new NotTextError(verdict.reason);
    for (const p of held) await feed(p);
  };
  try {
    for await (const chunk of chunks) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (pending === null) await feed(data);
      else {
        // A copy: the reader may fill the chunk's buffer again (source.ts reusedReads).
        pending.push(Buffer.from(data));
        pendingBytes += data.length;
        if (pendingBytes >= JUDGE_SAMPLE_BYTES) await judge();
      }
    }
  } catch (e) {
    if (e instanceof NotTextError) throw e;
    res.readError = (e as Error)?.message ?? String(e);
  }
  if (pending !== null) await judge();
  await processBlock(assembler.end());
  await drain(0);
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
