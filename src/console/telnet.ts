/**
 * Telnet (RFC 854) option negotiation taken out of a byte stream: pure, streaming (a sequence may
 * be split across reads), no I/O. Converters and `ipmitool sol`-style servers put IAC sequences
 * into the console stream; none of them may reach the log.
 *
 *  - IAC IAC is one 0xFF data byte;
 *  - IAC WILL/WONT/DO/DONT <option> is a negotiation: dropped, and reported so that the edge can
 *    refuse it once (we never take on an option: a capture only listens);
 *  - IAC SB … IAC SE (subnegotiation) is dropped whole, however long (bytes counted);
 *  - any other IAC <command> (NOP, GA, BRK, AYT, …) is two bytes dropped;
 *  - CR NUL (NVT's bare carriage return) is CR: the NUL is dropped.
 */

export const IAC = 0xff;
export const DONT = 0xfe;
export const DO = 0xfd;
export const WONT = 0xfc;
export const WILL = 0xfb;
export const SB = 0xfa;
export const SE = 0xf0;

const enum St {
  Data,
  Iac,
  Option,
  Sub,
  SubIac,
}

export interface TelnetCounters {
  /** IAC sequences removed (negotiations, subnegotiations, other commands). */
  commands: number;
  /** Bytes removed from the stream: every byte of those sequences, the first of IAC IAC, the NUL of CR NUL. */
  bytes: number;
}

export class TelnetStripper {
  readonly counters: TelnetCounters = { commands: 0, bytes: 0 };
  private st = St.Data;
  private verb = 0;
  private lastCr = false;

  /**
   * @param onNegotiation told of each WILL/WONT/DO/DONT seen (verb, option), to answer it.
   */
  constructor(private readonly onNegotiation: (verb: number, option: number) => void = () => undefined) {}

  /** The data bytes of `chunk` (a new buffer only when something was removed). */
  strip(chunk: Buffer): Buffer {
    // Fast path: no IAC, no CR NUL pending or inside: the chunk is data as it is.
    if (this.st === St.Data && !this.lastCr && chunk.indexOf(IAC) < 0 && chunk.indexOf(0) < 0) {
      this.lastCr = chunk.length > 0 && chunk[chunk.length - 1] === 0x0d;
      return chunk;
    }
    const out = Buffer.allocUnsafe(chunk.length);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (this.st) {
        case St.Data:
          if (b === IAC) {
            this.st = St.Iac;
            this.counters.bytes++;
          } else if (b === 0 && this.lastCr) {
            this.counters.bytes++;
            this.lastCr = false;
          } else {
            out[o++] = b;
            this.lastCr = b === 0x0d;
          }
          break;
        case St.Iac:
          if (b === IAC) {
            // An escaped 0xFF: one data byte of the two (the first IAC is counted as removed).
            out[o++] = b;
            this.lastCr = false;
            this.st = St.Data;
            break;
          }
          this.counters.bytes++;
          this.counters.commands++;
          if (b === WILL || b === WONT || b === DO || b === DONT) {
            this.verb = b;
            this.st = St.Option;
          } else if (b === SB) this.st = St.Sub;
          else this.st = St.Data;
          break;
        case St.Option:
          this.counters.bytes++;
          this.st = St.Data;
          this.onNegotiation(this.verb, b);
          break;
        case St.Sub:
          this.counters.bytes++;
          if (b === IAC) this.st = St.SubIac;
          break;
        case St.SubIac:
          this.counters.bytes++;
          // IAC SE ends it; IAC IAC is an 0xFF inside it; anything else stays inside it too.
          this.st = b === SE ? St.Data : St.Sub;
          break;
      }
    }
    return out.subarray(0, o);
  }
}

/**
 * The answer to a negotiation, or null: we refuse every option (DONT to WILL, WONT to DO) and never
 * answer a refusal (WONT/DONT), as RFC 854 asks, so two refusing parties cannot loop.
 */
export function refusal(verb: number, option: number): Buffer | null {
  if (verb === WILL) return Buffer.from([IAC, DONT, option]);
  if (verb === DO) return Buffer.from([IAC, WONT, option]);
  return null;
}
