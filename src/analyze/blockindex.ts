/**
 * The prefilter's index of one block of whole lines: a pure function of its bytes, so it gives
 * the same answer on the main thread or on a worker thread (indexpool.ts), and the scan that
 * feeds the detector from it (scan.ts) does the same thing whichever computed it.
 *
 * This is the part of the scan that touches every byte (one latin1 decode, two regex passes for
 * the trigger words, one newline count), hence the part worth moving off the
 * main thread; what needs the detector's state (which lines to feed) stays in order on it.
 */
import { TRIGGER_LOWER, TRIGGER_UPPER } from './patterns/index.js';

export interface BlockIndex {
  /** Line ends ('\n') in the block. */
  newlines: number;
  /** For each line holding a trigger word, in order: the offset of its first trigger word. */
  hits: Int32Array;
  /** For each entry of `hits`: the line's index in the block (line ends before it). */
  hitLines: Int32Array;
}

const UPPER_G = new RegExp(TRIGGER_UPPER.source, 'g');
const LOWER_G = new RegExp(TRIGGER_LOWER.source, 'g');

/** All trigger-word offsets of `s`, in order (the first of each regex's non-overlapping matches). */
function matches(re: RegExp, s: string): number[] {
  const out: number[] = [];
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) out.push(m.index);
  return out;
}

/**
 * Pieces of a block are searched as strings of at most this many bytes: Node turns a longer
 * Buffer into an external string, freed only when external-memory pressure makes V8 collect
 * (so each thread held ~64 MiB of dead ones); a shorter one lives on the V8 heap and is
 * collected like any other garbage.
 */
const PIECE_BYTES = 256 << 10;

export function indexBlock(block: Buffer): BlockIndex {
  const hits: number[] = [];
  const hitLines: number[] = [];
  let newlines = 0;
  let start = 0;
  while (start < block.length) {
    let end = block.length;
    if (end - start > PIECE_BYTES) {
      // Cut after a line end: no trigger word spans the cut. Lines are capped well below a
      // piece, so there is one; without one, the rest is searched whole.
      const nl = block.lastIndexOf(10, start + PIECE_BYTES - 1);
      if (nl >= start) end = nl + 1;
    }
    newlines = indexPiece(block, start, end, newlines, hits, hitLines);
    start = end;
  }
  return { newlines, hits: Int32Array.from(hits), hitLines: Int32Array.from(hitLines) };
}

/** Indexes block[start, end) (whole lines) into hits/hitLines; returns the line ends counted so far. */
function indexPiece(block: Buffer, start: number, end: number, newlinesBefore: number, hits: number[], hitLines: number[]): number {
  // latin1: one char per byte, so string offsets are byte offsets. Two regexes rather than one:
  // V8 skips fast when every alternative starts with a rare character (see patterns/index.ts).
  const s = block.toString('latin1', start, end);
  const up = matches(UPPER_G, s);
  const lo = matches(LOWER_G, s);
  // Merge the two sorted lists; one pass counts line ends up to each hit and keeps the first hit
  // of each line (a match never spans a line end, so the first per line is the leftmost one).
  let newlines = newlinesBefore;
  let p = 0;
  let lastLine = -1;
  let i = 0;
  let j = 0;
  while (i < up.length || j < lo.length) {
    const h = j >= lo.length || (i < up.length && up[i]! <= lo[j]!) ? up[i++]! : lo[j++]!;
    let nl = s.indexOf('\n', p);
    while (nl !== -1 && nl < h) {
      newlines++;
      nl = s.indexOf('\n', nl + 1);
    }
    p = nl === -1 ? s.length : nl;
    if (newlines !== lastLine) {
      hits.push(start + h);
      hitLines.push(newlines);
      lastLine = newlines;
    }
  }
  let nl = s.indexOf('\n', p);
  while (nl !== -1) {
    newlines++;
    nl = s.indexOf('\n', nl + 1);
  }
  return newlines;
}
