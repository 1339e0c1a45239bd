/**
 * Console bytes into lines: pure, streaming, no I/O, no clock of its own (times are passed in).
 *
 * A serial console ends its lines with CR LF (the kernel's serial drivers send "\r\n"), some
 * devices with LF CR, LF or CR alone. Each of these ends one line: CR and LF both end a line,
 * and the other one of the pair right after it is swallowed (so CR LF, LF CR, LF and CR are all
 * one line end, and CR LF CR LF is two; more CRs before the LF, as a tty adding its own CR to a
 * CR LF sends them, change nothing). Backspace (0x08) and DEL (0x7f) erase the character
 * before them, as the terminal would show it (a whole UTF-8 character; nothing at the start of
 * a line: counted). Everything else is kept and escaped later like netconsole's legacy text:
 * control bytes, escape sequences and invalid UTF-8 as \xNN (netconsole/text.ts).
 *
 * A line is stamped with the time its end arrived. One that never ends is written marked
 * partial: after `quietUs` without a byte (stamped with its last byte's time), at `maxLineBytes`,
 * when the connection behind it ends, and at shutdown.
 */
import { safeText } from '../netconsole/text.js';

export type ConsolePartial = 'timeout' | 'max-length' | 'disconnect' | 'shutdown' | 'evicted';

export interface ConsoleLine {
  timeUs: number;
  text: string;
  partial: ConsolePartial | null;
}

export interface LineCounters {
  /** Bytes given to push() (after telnet stripping). */
  bytes: number;
  lines: number;
  partialLines: number;
  /** Line-end bytes (CR, LF). */
  terminators: number;
  /** Backspace/DEL bytes, each erasing one character (or nothing, at a line's start). */
  erasures: number;
  /** Of those, the ones at a line's start with nothing to erase. */
  erasuresAtStart: number;
}

export function newLineCounters(): LineCounters {
  return { bytes: 0, lines: 0, partialLines: 0, terminators: 0, erasures: 0, erasuresAtStart: 0 };
}

const CR = 0x0d;
const LF = 0x0a;
const BS = 0x08;
const DEL = 0x7f;

export class LineAssembler {
  private buf: Buffer;
  private len = 0;
  /** The byte that would complete the pair of the line end just seen (LF after CR, CR after LF), or -1. */
  private swallow = -1;
  private lastByteUs = 0;

  constructor(
    private readonly emit: (line: ConsoleLine) => void,
    private readonly maxLineBytes: number,
    readonly counters: LineCounters = newLineCounters(),
  ) {
    this.buf = Buffer.allocUnsafe(Math.min(4096, maxLineBytes));
  }

  /** Bytes of a line not yet ended. */
  get pendingBytes(): number {
    return this.len;
  }

  /** Time of the last byte of the pending line (0 when none). */
  get pendingSinceUs(): number {
    return this.len > 0 ? this.lastByteUs : 0;
  }

  push(chunk: Buffer, timeUs: number): void {
    this.counters.bytes += chunk.length;
    let start = 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      if (b === CR || b === LF) {
        this.append(chunk, start, i, timeUs);
        start = i + 1;
        this.counters.terminators++;
        if (b === this.swallow) {
          this.swallow = -1;
          continue;
        }
        // CR CR LF (a line ending in CR LF sent through a tty that adds its own CR): one line end.
        if (b === CR && this.swallow === LF) continue;
        this.swallow = b === CR ? LF : CR;
        this.end(timeUs, null);
        continue;
      }
      this.swallow = -1;
      if (b === BS || b === DEL) {
        this.append(chunk, start, i, timeUs);
        start = i + 1;
        this.erase();
      }
    }
    this.append(chunk, start, n, timeUs);
    if (n > 0) this.lastByteUs = timeUs;
  }

  /** Write out the pending line, marked partial for `why` (quiet, disconnect, shutdown). */
  flush(why: ConsolePartial, timeUs = this.lastByteUs): void {
    if (this.len > 0) this.end(timeUs, why);
    this.swallow = -1;
  }

  private append(chunk: Buffer, from: number, to: number, timeUs: number): void {
    while (from < to) {
      const room = this.maxLineBytes - this.len;
      const take = Math.min(room, to - from);
      if (this.len + take > this.buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(this.maxLineBytes, Math.max(this.buf.length * 2, this.len + take)));
        this.buf.copy(grown, 0, 0, this.len);
        this.buf = grown;
      }
      chunk.copy(this.buf, this.len, from, from + take);
      this.len += take;
      from += take;
      if (this.len >= this.maxLineBytes) this.end(timeUs, 'max-length');
    }
  }

  private erase(): void {
    this.counters.erasures++;
    if (this.len === 0) {
      this.counters.erasuresAtStart++;
      return;
    }
    // One character: a UTF-8 lead byte and its continuation bytes go together.
    let i = this.len - 1;
    while (i > 0 && (this.buf[i]! & 0xc0) === 0x80 && this.len - i < 4) i--;
    this.len = i;
  }

  private end(timeUs: number, partial: ConsolePartial | null): void {
    const text = safeText(this.buf, 0, this.len);
    this.len = 0;
    if (partial === null) this.counters.lines++;
    else this.counters.partialLines++;
    this.emit({ timeUs, text, partial });
  }
}
