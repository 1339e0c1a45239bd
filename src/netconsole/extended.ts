/**
 * The extended netconsole wire format (`extended=1`), pure parsing, no I/O.
 *
 *   [<release>,]<prefix>,<seq>,<ts_usec>,<flag>[,caller=..][,ncfrag=<off>/<total>][,..];<text>\n[ KEY=VAL\n]...
 *
 * prefix = facility<<3 | level; seq restarts at 0 on boot; ts_usec is boot-relative time.
 * Unknown `key=value` fields are ignored (dev-kmsg ABI); `ncfrag` offsets count everything
 * after the `;`. A datagram whose header does not start like this is legacy text.
 */

export interface ExtendedHeader {
  release: string | null;
  facility: number;
  level: number;
  seq: number;
  tsUsec: number;
  /** '-' normal, 'c' continuation fragment (or old "cont start"), '+' old continuation. */
  flag: string;
  /** Present when the message was split: byte offset and total length of the body. */
  frag: { offset: number; total: number } | null;
}

export type ExtendedParse = { kind: 'extended'; header: ExtendedHeader; bodyStart: number } | { kind: 'legacy' } | { kind: 'malformed'; reason: string };

/** Longest header we look for a `;` in: release (<= 64) + numbers + caller + ncfrag fit easily. */
export const MAX_HEADER = 256;
/** Largest body an `ncfrag` total may announce (printk record + userdata/sysdata, generous). */
export const MAX_FRAG_TOTAL = 128 * 1024;

const SEMI = 0x3b;
const COMMA = 0x2c;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Parse an unsigned decimal in [s, e); -1 if empty, non-digit, or beyond 2^53. */
function parseUint(buf: Buffer, s: number, e: number): number {
  if (s >= e || e - s > 16) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

function allDigits(buf: Buffer, s: number, e: number): boolean {
  if (s >= e) return false;
  for (let i = s; i < e; i++) if (!isDigit(buf[i]!)) return false;
  return true;
}

/**
 * Classify one datagram and parse its header when extended. Never throws.
 * "malformed" means: it clearly starts like an extended header (numeric prefix field
 * followed by more comma fields before a `;`) but a number or ncfrag is invalid.
 */
export function parseExtended(buf: Buffer): ExtendedParse {
  const limit = Math.min(buf.length, MAX_HEADER);
  let semi = -1;
  for (let i = 0; i < limit; i++) {
    const c = buf[i]!;
    if (c === SEMI) {
      semi = i;
      break;
    }
    // Header bytes are printable ASCII; anything else means legacy text.
    if (c < 0x20 || c > 0x7e) return { kind: 'legacy' };
  }
  if (semi < 0) return { kind: 'legacy' };

  // Split the header into comma fields (at most a handful).
  const starts: number[] = [0];
  for (let i = 0; i < semi; i++) if (buf[i] === COMMA) starts.push(i + 1);
  const fieldEnd = (k: number) => (k + 1 < starts.length ? starts[k + 1]! - 1 : semi);
  if (starts.length < 4) return { kind: 'legacy' };

  // Optional release first: present when the first field is not purely numeric.
  let k = 0;
  let release: string | null = null;
  if (!allDigits(buf, starts[0]!, fieldEnd(0))) {
    if (starts.length < 5 || !allDigits(buf, starts[1]!, fieldEnd(1)) || fieldEnd(1) - starts[1]! > 3) return { kind: 'legacy' };
    release = buf.toString('latin1', 0, fieldEnd(0));
    if (release.length === 0 || release.length > 64 || release.includes(' ')) return { kind: 'legacy' };
    k = 1;
  }
  const pS = starts[k]!;
  const pE = fieldEnd(k);
  if (pE - pS > 3) return { kind: 'legacy' };
  const prefix = parseUint(buf, pS, pE);
  if (prefix < 0) return { kind: 'legacy' };
  if (starts.length < k + 4) return { kind: 'malformed', reason: 'too few header fields' };
  if (prefix > 255) return { kind: 'malformed', reason: `prefix ${prefix} out of range` };
  const seq = parseUint(buf, starts[k + 1]!, fieldEnd(k + 1));
  if (seq < 0) return { kind: 'malformed', reason: 'bad sequence number' };
  const tsUsec = parseUint(buf, starts[k + 2]!, fieldEnd(k + 2));
  if (tsUsec < 0) return { kind: 'malformed', reason: 'bad timestamp' };
  const fS = starts[k + 3]!;
  const fE = fieldEnd(k + 3);
  if (fE - fS !== 1) return { kind: 'malformed', reason: 'bad flag field' };
  const flag = String.fromCharCode(buf[fS]!);

  let frag: ExtendedHeader['frag'] = null;
  for (let j = k + 4; j < starts.length; j++) {
    const s = starts[j]!;
    const e = fieldEnd(j);
    // Only ncfrag matters; caller= and future fields are ignored.
    if (e - s > 7 && buf.toString('latin1', s, s + 7) === 'ncfrag=') {
      const slash = buf.indexOf(0x2f, s + 7);
      if (slash < 0 || slash >= e) return { kind: 'malformed', reason: 'bad ncfrag' };
      const offset = parseUint(buf, s + 7, slash);
      const total = parseUint(buf, slash + 1, e);
      const fragLen = buf.length - (semi + 1);
      if (offset < 0 || total <= 0 || offset >= total || offset + fragLen > total || total > MAX_FRAG_TOTAL) {
        return { kind: 'malformed', reason: `bad ncfrag ${buf.toString('latin1', s + 7, e)}` };
      }
      frag = { offset, total };
    }
  }
  return {
    kind: 'extended',
    header: { release, facility: prefix >> 3, level: prefix & 7, seq, tsUsec, flag, frag },
    bodyStart: semi + 1,
  };
}

/** A complete extended message body split into its text and dictionary lines (raw bytes, still escaped). */
export interface SplitBody {
  textEnd: number;
  /** [start, end) of each dictionary line, without the leading space and trailing newline. */
  dict: Array<[number, number]>;
}

/** Split `<text>\n[ KEY=VAL\n]...`: the text ends at the first newline; dict lines start with a space. */
export function splitBody(body: Buffer): SplitBody {
  const nl = body.indexOf(0x0a);
  if (nl < 0) return { textEnd: body.length, dict: [] };
  const dict: Array<[number, number]> = [];
  let pos = nl + 1;
  while (pos < body.length) {
    let e = body.indexOf(0x0a, pos);
    if (e < 0) e = body.length;
    if (e > pos) {
      const s = body[pos] === 0x20 ? pos + 1 : pos;
      if (e > s) dict.push([s, e]);
    }
    pos = e + 1;
  }
  return { textEnd: nl, dict };
}
