/**
 * The prefilter's index of one block of whole lines: a pure function of its bytes, so it gives
 * the same answer on the main thread or on a worker thread (indexpool.ts), and the scan that
 * feeds the detector from it (scan.ts) does the same thing whichever computed it.
 *
 * This is the part of the scan that touches every byte, hence the part worth moving off the
 * main thread; what needs the detector's state (which lines to feed) stays in order on it.
 * Two searches compute it: the native one (native/triggerscan: a multi-word filter in C over
 * the bytes, given the trigger words expanded from the pattern table) and, when the addon is
 * missing, the JavaScript one (one latin1 decode, two regex passes, one newline count; ~2x the CPU).
 * Both give the same index (tested on the cases, the real logs and random bytes).
 */
import { TRIGGER_LOWER, TRIGGER_UPPER } from './patterns/index.js';
import { loadTriggerScan } from './triggerscan.js';

export interface BlockIndex {
  /** Line ends ('\n') in the block. */
  newlines: number;
  /** For each line holding a trigger word, in order: the offset of its first trigger word. */
  hits: Int32Array;
  /** For each entry of `hits`: the line's index in the block (line ends before it). */
  hitLines: Int32Array;
}

/** The top-level alternatives of a regex source (`a|b(?:c|d)|[|]` → `a`, `b(?:c|d)`, `[|]`). */
export function alternatives(source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(source.slice(start, i));
      start = i + 1;
    }
  }
  out.push(source.slice(start));
  return out;
}

const META = /[\\()[\]{}|?*+.^$]/;

/** Most words a trigger expression may stand for (the C search takes up to 4096). */
const MAX_LITERALS = 4096;

/**
 * The words a trigger expression matches, when it matches a finite set of them: literal
 * characters, `\X` escapes of punctuation, classes (`[Cc]`, `[2-4]`), `(?:…|…)` groups and `?`
 * (`Kill(?:ed)? process` → `Kill process`, `Killed process`). Anything else (`\d`, `.`, `*`,
 * `+`, `{n}`, anchors, a negated class, characters beyond latin1) throws: such an expression
 * cannot be searched as words, and the JavaScript search is used.
 */
export function literalsOf(source: string): string[] {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`trigger expression /${source}/ is not a set of words (${why} at ${i})`);
  };
  const char = (c: string): string => (c.charCodeAt(0) > 0xff ? fail('a character beyond latin1') : c);
  const escaped = (): string => {
    const e = source[i + 1];
    if (e === undefined || /[A-Za-z0-9]/.test(e)) fail(`\\${e ?? ''}`);
    i += 2;
    return char(e!);
  };
  const klass = (): string[] => {
    i++;
    if (source[i] === '^') fail('a negated class');
    const out: string[] = [];
    while (i < source.length && source[i] !== ']') {
      const c = source[i] === '\\' ? escaped() : char(source[i++]!);
      if (source[i] === '-' && source[i + 1] !== undefined && source[i + 1] !== ']') {
        i++;
        const to = source[i] === '\\' ? escaped() : char(source[i++]!);
        for (let k = c.charCodeAt(0); k <= to.charCodeAt(0); k++) out.push(String.fromCharCode(k));
      } else out.push(c);
    }
    if (source[i] !== ']') fail('an unclosed class');
    i++;
    return out;
  };
  const alternation = (): string[] => {
    const out = sequence();
    while (source[i] === '|') {
      i++;
      out.push(...sequence());
    }
    return out;
  };
  const sequence = (): string[] => {
    let words = [''];
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      const c = source[i]!;
      let atom: string[];
      if (c === '\\') atom = [escaped()];
      else if (c === '[') atom = klass();
      else if (c === '(') {
        if (!source.startsWith('(?:', i)) fail('a capturing or look-around group');
        i += 3;
        atom = alternation();
        if (source[i] !== ')') fail('an unclosed group');
        i++;
      } else if ('.*+?{}^$]'.includes(c)) atom = fail(`'${c}'`);
      else {
        atom = [char(c)];
        i++;
      }
      if (source[i] === '?') {
        i++;
        atom = ['', ...atom];
      }
      if (source[i] !== undefined && '*+{?'.includes(source[i]!)) fail(`'${source[i]}'`);
      words = words.flatMap((w) => atom.map((a) => w + a));
      if (words.length > MAX_LITERALS) fail(`more than ${MAX_LITERALS} words`);
    }
    return words;
  };
  const words = alternation();
  if (i !== source.length) fail("an unmatched ')'");
  return [...new Set(words)];
}

/**
 * The same alternatives, those sharing a literal first character grouped under it
 * (`Kernel panic|Kill process` → `K(?:ernel panic|ill process)`): V8 then tests one character
 * where it tested several alternatives (~5% faster here). It matches where the flat one does.
 */
export function byFirstChar(alts: string[]): string {
  const groups = new Map<string, string[]>();
  const out: (string | { head: string })[] = [];
  for (const a of alts) {
    // Only a plain first character with no quantifier after it can be taken out of the group.
    if (a.length < 2 || META.test(a[0]!) || /[?*+{]/.test(a[1]!)) {
      out.push(a);
      continue;
    }
    const g = groups.get(a[0]!);
    if (g) g.push(a.slice(1));
    else {
      groups.set(a[0]!, [a.slice(1)]);
      out.push({ head: a[0]! });
    }
  }
  return out
    .map((o) => {
      if (typeof o === 'string') return o;
      const rest = groups.get(o.head)!;
      return rest.length === 1 ? o.head + rest[0]! : `${o.head}(?:${rest.join('|')})`;
    })
    .join('|');
}

/**
 * A search for lines that may hold one of `alts`: a plain literal starting with a common
 * lower-case word is searched from the last letter of that word (`segfault at` → `t at`),
 * which V8 skips to faster (~30% here); a line found is then checked with the real expression.
 * Each alternative contains its search string, so no line holding one is missed.
 */
export function candidateSource(alts: string[]): string {
  return alts
    .map((a) => {
      const sp = a.indexOf(' ');
      if (META.test(a) || sp < 1) return a;
      return a.slice(Math.max(0, Math.min(sp - 1, a.length - 4)));
    })
    .join('|');
}

const UPPER_G = new RegExp(byFirstChar(alternatives(TRIGGER_UPPER.source)), 'g');
const LOWER_CANDIDATE_SOURCE = candidateSource(alternatives(TRIGGER_LOWER.source));
/** Null when the candidate search is the expression itself (nothing to check again). */
const LOWER_CANDIDATE_G = LOWER_CANDIDATE_SOURCE === TRIGGER_LOWER.source ? null : new RegExp(LOWER_CANDIDATE_SOURCE, 'g');
const LOWER_G = new RegExp(TRIGGER_LOWER.source, 'g');
const LOWER_ONE = new RegExp(TRIGGER_LOWER.source);

/** The first trigger word of each line the candidate search found (offsets in s, in order). */
function checkedMatches(candidate: RegExp, exact: RegExp, s: string): number[] {
  const out: number[] = [];
  candidate.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = candidate.exec(s)) !== null) {
    const ls = s.lastIndexOf('\n', m.index) + 1;
    let le = s.indexOf('\n', m.index);
    if (le === -1) le = s.length;
    const e = exact.exec(s.slice(ls, le));
    if (e !== null) out.push(ls + e.index);
    // The rest of this line holds no earlier trigger word: go on with the next line.
    candidate.lastIndex = le;
  }
  return out;
}

/** All trigger-word offsets of `s`, in order (the first of each regex's non-overlapping matches). */
function matches(re: RegExp, s: string): number[] {
  const out: number[] = [];
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) out.push(m.index);
  return out;
}

/**
 * A block is searched as strings of about this many bytes. A small string is allocated in V8's
 * young generation and collected cheaply: latin1 decoding ran at ~5.7 GB/s for 64 KiB pieces
 * here, ~0.7-1 GB/s for 256 KiB-1 MiB ones (large-object space), and Node makes a longer one an
 * external string, freed only under external-memory pressure (each thread held ~64 MiB of dead ones).
 */
const PIECE_BYTES = 64 << 10;

/** The JavaScript search: what the native one computes, with V8's regular expressions. */
export function indexBlockJs(block: Buffer): BlockIndex {
  const hits: number[] = [];
  const hitLines: number[] = [];
  let newlines = 0;
  let start = 0;
  while (start < block.length) {
    let end = block.length;
    if (end - start > PIECE_BYTES) {
      // Cut after a line end (no trigger word spans it): the last one in the piece, or, for a
      // line longer than the piece, the one that ends it.
      let nl = block.lastIndexOf(10, start + PIECE_BYTES - 1);
      if (nl < start) nl = block.indexOf(10, start + PIECE_BYTES);
      if (nl !== -1) end = nl + 1;
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
  const lo = LOWER_CANDIDATE_G === null ? matches(LOWER_G, s) : checkedMatches(LOWER_CANDIDATE_G, LOWER_ONE, s);
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

/** Every trigger word, as the native search takes them (both sets: it has no slow first letters). */
export function triggerWords(): string[] {
  return [...new Set([...literalsOf(TRIGGER_UPPER.source), ...literalsOf(TRIGGER_LOWER.source)])];
}

/** Which search this thread uses, and why not the native one (null when it does). */
export interface TriggerSearch {
  native: ((block: Buffer) => BlockIndex) | null;
  /** Why the JavaScript search is used: the addon is missing, or LANTERN_ANALYZE_SEARCH=js. */
  fallbackReason: string;
  /** LANTERN_ANALYZE_SEARCH=js asked for it (nothing to tell the user). */
  forced: boolean;
}

function chooseSearch(): TriggerSearch {
  if (process.env.LANTERN_ANALYZE_SEARCH === 'js') return { native: null, fallbackReason: 'LANTERN_ANALYZE_SEARCH=js', forced: true };
  const loaded = loadTriggerScan();
  if ('error' in loaded) return { native: null, fallbackReason: `native/triggerscan ${loaded.error}`, forced: false };
  try {
    const mod = loaded.mod;
    const matcher = mod.create(triggerWords());
    return { native: (block) => mod.index(matcher, block), fallbackReason: '', forced: false };
  } catch (e) {
    return { native: null, fallbackReason: `native/triggerscan refused the trigger words: ${(e as Error).message}`, forced: false };
  }
}

export const TRIGGER_SEARCH: TriggerSearch = chooseSearch();

/** The block index, by the native search when this thread has it, else by the JavaScript one. */
export const indexBlock: (block: Buffer) => BlockIndex = TRIGGER_SEARCH.native ?? indexBlockJs;
