/**
 * What the bytes of an input are, before any line is parsed (pure, no I/O):
 *  - judgeContent: text or binary, judged by proportion over a sample (not by one NUL byte);
 *  - NulFilter: drops runs of NUL bytes (the zeros a file system leaves where a crash lost the
 *    data of an appended log) and counts them;
 *  - LineAssembler: cuts the byte stream into blocks of whole lines, each at most the line cap;
 *    an overlong line keeps its first bytes and is counted once, whatever its length.
 */
import { isUtf8 } from 'node:buffer';

/** How much of the (decompressed) content the binary judgement looks at. */
export const JUDGE_SAMPLE_BYTES = 1 << 20;
/** A NUL run at least this long inside a line ends that line (the text after it is another write). */
export const HOLE_MIN_BYTES = 16;

export type Judgement = { binary: false } | { binary: true; reason: string };

/**
 * Binary or text, from the first bytes of the content. Known binary formats go by their magic;
 * anything else by proportion: runs of NUL are set aside (a crashed log has a few long ones),
 * then the share of control bytes among the rest, and how often NUL runs alternate with data
 * compared with line ends (binary records alternate constantly, a text log almost never).
 */
export function judgeContent(sample: Buffer): Judgement {
  const magic = knownBinary(sample);
  if (magic) return { binary: true, reason: `binary file (${magic})` };
  let nulBytes = 0;
  let nulRuns = 0;
  let control = 0;
  let newlines = 0;
  for (let i = 0; i < sample.length; i++) {
    const b = sample[i]!;
    if (b === 0) {
      nulBytes++;
      if (i === 0 || sample[i - 1] !== 0) nulRuns++;
    } else if (b === 10) newlines++;
    // Control bytes no text log carries: not TAB LF VT FF CR, not ESC (colour codes are text).
    else if (b < 32 ? b !== 9 && b !== 11 && b !== 12 && b !== 13 && b !== 27 : b === 127) control++;
  }
  const other = sample.length - nulBytes;
  if (control > 0 && (control * 10 > other || (control > 8 && control * 100 > other))) {
    return { binary: true, reason: `binary file (${pct(control, other)} control bytes in the first ${sampleText(sample)}; not a text log)` };
  }
  if (nulRuns > 16 && nulRuns > 2 * newlines + 16) {
    return { binary: true, reason: `binary file (${nulRuns} NUL runs among ${newlines} line ends in the first ${sampleText(sample)}; not a text log)` };
  }
  return { binary: false };
}

function sampleText(sample: Buffer): string {
  return sample.length >= JUDGE_SAMPLE_BYTES ? 'MiB' : `${sample.length} bytes`;
}

function pct(n: number, of: number): string {
  return `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;
}

/** Formats whose first bytes say they are binary (compressed formats are recognised before). */
function knownBinary(head: Buffer): string | null {
  if (head.length >= 8 && head.toString('latin1', 0, 8) === 'LPKSHHRH') return 'a systemd journal file: read it with journalctl --file FILE -o json | lantern analyze';
  if (head.length >= 4 && head[0] === 0x7f && head.toString('latin1', 1, 4) === 'ELF') return 'an ELF file: a core dump or a program, not a text log';
  return null;
}

/** Drops NUL bytes from a stream of chunks; a long run inside a line ends the line. */
export class NulFilter {
  nulBytes = 0;
  nulRuns = 0;
  /** Length of the NUL run still open at the end of the last chunk. */
  private inRun = 0;
  /** Last byte passed on (LF at the start: no line is open). */
  private last = 10;

  /** Returns the chunk without its NUL bytes (the same Buffer when it has none). */
  filter(chunk: Buffer): Buffer {
    if (this.inRun === 0 && chunk.indexOf(0) === -1) {
      if (chunk.length) this.last = chunk[chunk.length - 1]!;
      return chunk;
    }
    const parts: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (chunk[pos] === 0) {
        let e = pos;
        while (e < chunk.length && chunk[e] === 0) e++;
        if (this.inRun === 0) this.nulRuns++;
        this.inRun += e - pos;
        this.nulBytes += e - pos;
        pos = e;
        continue;
      }
      let z = chunk.indexOf(0, pos);
      if (z === -1) z = chunk.length;
      // A hole in the middle of a line: what follows was written later (after the crash).
      if (this.inRun >= HOLE_MIN_BYTES && this.last !== 10 && chunk[pos] !== 10) parts.push(NEWLINE);
      this.inRun = 0;
      parts.push(chunk.subarray(pos, z));
      this.last = chunk[z - 1]!;
      pos = z;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

const NEWLINE = Buffer.from('\n');

/**
 * Cuts a byte stream into blocks of whole lines. Memory is bounded by the chunk plus the cap:
 * a line longer than the cap keeps its first `maxLine` bytes (cut on a UTF-8 character
 * boundary), is passed on at once as a line and counted in `overlongLines`; the rest of it, up
 * to its line end, is dropped and counted in `overlongBytesCut`.
 */
export class LineAssembler {
  overlongLines = 0;
  overlongBytesCut = 0;
  invalidUtf8Lines = 0;
  private carry: Buffer | null = null;
  /** Inside an overlong line whose kept part was passed on: drop bytes up to its line end. */
  private dropping = false;

  /**
   * alloc: where a block that joins the carried partial line to a chunk is built (default: a new
   * Buffer each time; scan.ts passes a ring of reused buffers, so the blocks are no garbage).
   */
  constructor(
    private readonly maxLine: number,
    private readonly alloc: (bytes: number) => Buffer = (n) => Buffer.allocUnsafe(n),
  ) {}

  /** Bytes in; a block of whole lines out (empty when the chunk completed no line). Keeps no reference to `chunk`. */
  push(chunk: Buffer): Buffer {
    let data = chunk;
    if (this.dropping) {
      const nl = data.indexOf(10);
      if (nl === -1) {
        this.overlongBytesCut += data.length;
        return EMPTY;
      }
      this.overlongBytesCut += nl;
      this.dropping = false;
      data = data.subarray(nl + 1);
      if (data.length === 0) return EMPTY;
    }
    let whole: Buffer;
    let tail: Buffer;
    const lastInData = data.lastIndexOf(10);
    if (lastInData !== -1) {
      // The carried line and the chunk's whole lines, copied once into one block: nothing
      // returned refers to the chunk, which its reader may then fill again.
      const carried = this.carry?.length ?? 0;
      whole = this.alloc(carried + lastInData + 1);
      if (this.carry) this.carry.copy(whole, 0);
      data.copy(whole, carried, 0, lastInData + 1);
      tail = data.subarray(lastInData + 1);
    } else {
      const buf = this.carry ? Buffer.concat([this.carry, data]) : data;
      const last = buf.lastIndexOf(10);
      whole = last === -1 ? EMPTY : buf.subarray(0, last + 1);
      tail = buf.subarray(last + 1);
    }
    this.carry = null;
    const parts: Buffer[] = [];
    if (whole.length) parts.push(this.capLines(whole));
    if (tail.length > this.maxLine) {
      // The open line is already longer than the cap: pass its kept part on now, drop the rest.
      parts.push(this.keep(tail, 0, tail.length), NEWLINE);
      this.overlongLines++;
      this.dropping = true;
    } else if (tail.length) this.carry = Buffer.from(tail);
    const out = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.countInvalid(out);
    return out;
  }

  /** The unterminated last line, at the end of the input. */
  end(): Buffer {
    const rest = this.carry ?? EMPTY;
    this.carry = null;
    this.countInvalid(rest);
    return rest;
  }

  /** whole: lines each ending with LF. Returns them with every overlong line cut to the cap. */
  private capLines(whole: Buffer): Buffer {
    // Every stretch of half the cap holding a line end means no line exceeds the cap: a few
    // memchr calls per MiB instead of one per line.
    const half = Math.max(1, this.maxLine >> 1);
    let clean = true;
    for (let p = 0; p < whole.length; p += half) {
      const nl = whole.indexOf(10, p);
      if (nl - p >= half) {
        clean = false;
        break;
      }
    }
    if (clean) return whole;
    const parts: Buffer[] = [];
    let start = 0;
    let copyFrom = 0;
    while (start < whole.length) {
      const nl = whole.indexOf(10, start);
      if (nl - start > this.maxLine) {
        parts.push(whole.subarray(copyFrom, start), this.keep(whole, start, nl), NEWLINE);
        this.overlongLines++;
        copyFrom = nl + 1;
      }
      start = nl + 1;
    }
    parts.push(whole.subarray(copyFrom));
    return Buffer.concat(parts);
  }

  /** The kept part of the overlong line buf[start, end): the cap, cut back to a character boundary. */
  private keep(buf: Buffer, start: number, end: number): Buffer {
    let e = start + this.maxLine;
    for (let n = 0; n < 3 && e > start && (buf[e]! & 0xc0) === 0x80; n++) e--;
    this.overlongBytesCut += end - e;
    return Buffer.from(buf.subarray(start, e));
  }

  /** Counts the lines of a block that are not valid UTF-8 (one check per block when all are). */
  private countInvalid(block: Buffer): void {
    if (block.length === 0 || isUtf8(block)) return;
    let start = 0;
    while (start < block.length) {
      let nl = block.indexOf(10, start);
      if (nl === -1) nl = block.length;
      if (!isUtf8(block.subarray(start, nl))) this.invalidUtf8Lines++;
      start = nl + 1;
    }
  }
}

const EMPTY = Buffer.alloc(0);
