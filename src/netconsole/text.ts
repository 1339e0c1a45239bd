/**
 * Turning received bytes into text that is safe to write as one line: pure, no I/O.
 *
 * Packets may hold anything (NUL, control characters, invalid UTF-8). Output lines must
 * stay one line each and stay greppable, so control bytes and bytes that are not valid
 * UTF-8 are written as `\xNN` (the kernel's own escape); valid UTF-8 is kept as is.
 */

const HEX = '0123456789abcdef';

function hexEscape(b: number): string {
  return '\\x' + HEX[b >> 4]! + HEX[b & 15]!;
}

/** Length of the valid UTF-8 sequence starting at i (2..4), or 0 when it is not one. */
function utf8SeqLen(buf: Uint8Array, i: number, end: number): number {
  const b0 = buf[i]!;
  let n: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    min = 0x10000;
  } else return 0;
  if (i + n > end) return 0;
  let cp = b0 & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const c = buf[i + k]!;
    if ((c & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/**
 * Bytes [start, end) as one safe line of text. Fast path: printable ASCII (the usual kernel
 * line) is sliced directly. Tab is kept; other control bytes, DEL and invalid UTF-8 become \xNN.
 */
export function safeText(buf: Buffer, start = 0, end = buf.length): string {
  let i = start;
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b < 0x20 || b >= 0x7f) {
      if (b === 0x09) continue;
      break;
    }
  }
  if (i === end) return buf.toString('latin1', start, end);
  let out = buf.toString('latin1', start, i);
  let runStart = i;
  while (i < end) {
    const b = buf[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x09) {
      i++;
      continue;
    }
    if (b >= 0x80) {
      const n = utf8SeqLen(buf, i, end);
      if (n > 0) {
        i += n;
        continue;
      }
    }
    if (runStart < i) out += buf.toString('utf8', runStart, i);
    out += hexEscape(b);
    i++;
    runStart = i;
  }
  if (runStart < end) out += buf.toString('utf8', runStart, end);
  return out;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Undo the kernel's `\xNN` escaping of extended-format text, giving the original bytes.
 * A backslash not followed by `x` and two hex digits is kept literally.
 */
export function unescapeKernel(buf: Buffer, start = 0, end = buf.length): Buffer {
  const first = buf.indexOf(0x5c, start);
  if (first < 0 || first >= end) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x5c && i + 3 < end && buf[i + 1] === 0x78) {
      const h = hexVal(buf[i + 2]!);
      const l = hexVal(buf[i + 3]!);
      if (h >= 0 && l >= 0) {
        out[o++] = (h << 4) | l;
        i += 3;
        continue;
      }
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}

/** Kernel-escaped text as a safe line: unescape, then re-escape only what is unsafe. */
export function kernelText(buf: Buffer, start = 0, end = buf.length): string {
  // Usually nothing is escaped: skip the copy (and the view) unescaping would make.
  const bs = buf.indexOf(0x5c, start);
  if (bs < 0 || bs >= end) return safeText(buf, start, end);
  return safeText(unescapeKernel(buf, start, end));
}
