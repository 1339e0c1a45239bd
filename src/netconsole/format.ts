/**
 * Output line formats, pure: an RxEvent (or a receiver marker) becomes one or more text lines.
 *
 *   text       2026-11-26T17:48:34.123456Z 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up
 *              2026-11-26T17:48:34.123456Z 10.0.0.5:6665 <6>#444 [  501.151268] netconsole: network logging started
 *   json       {"time":"…","sender":"10.0.0.5:6665","type":"record","seq":444,…,"text":"…"}
 *   udplogger  2026-11-26 17:48:34 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up
 */
import type { RxEvent, Sender } from './decoder.js';
import type { ExtendedHeader } from './extended.js';

export type LineFormat = 'text' | 'json' | 'udplogger';

export interface Formatted {
  /** Day the line belongs to (for file switching), `YYYY-MM-DD` in the chosen zone. */
  day: string;
  /** One or more complete lines, each ending in a newline. */
  text: string;
  /** How many lines `text` holds. */
  lines: number;
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** Wall-clock formatting with a per-second cache (the hot path formats many lines per second). */
export class Clock {
  private cachedSec = -1;
  private cachedIso = '';
  private cachedPlain = '';
  private cachedDay = '';
  private cachedZone = 'Z';
  private cachedOffsetMinutes = 0;

  constructor(readonly utc: boolean) {}

  private fill(sec: number): void {
    const d = new Date(sec * 1000);
    let y: number, mo: number, da: number, h: number, mi: number, s: number;
    if (this.utc) {
      y = d.getUTCFullYear();
      mo = d.getUTCMonth() + 1;
      da = d.getUTCDate();
      h = d.getUTCHours();
      mi = d.getUTCMinutes();
      s = d.getUTCSeconds();
      this.cachedZone = 'Z';
      this.cachedOffsetMinutes = 0;
    } else {
      y = d.getFullYear();
      mo = d.getMonth() + 1;
      da = d.getDate();
      h = d.getHours();
      mi = d.getMinutes();
      s = d.getSeconds();
      const off = -d.getTimezoneOffset();
      this.cachedOffsetMinutes = off;
      const a = Math.abs(off);
      this.cachedZone = (off >= 0 ? '+' : '-') + pad2(Math.floor(a / 60)) + ':' + pad2(a % 60);
    }
    this.cachedDay = `${y}-${pad2(mo)}-${pad2(da)}`;
    this.cachedIso = `${this.cachedDay}T${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
    this.cachedPlain = `${this.cachedDay} ${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
    this.cachedSec = sec;
    this.cachedIsoBytes = Buffer.from(this.cachedIso + '.', 'latin1');
  }

  /** `YYYY-MM-DDTHH:MM:SS.` as bytes (the direct path copies it per line). */
  private cachedIsoBytes: Uint8Array = new Uint8Array(0);

  isoSecondBytes(timeUs: number): Uint8Array {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    return this.cachedIsoBytes;
  }

  /** ISO 8601 with microseconds: 2026-11-26T17:48:34.123456Z (or +01:00). */
  iso(timeUs: number): string {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    const us = String(timeUs - sec * 1e6);
    return this.cachedIso + '.' + '000000'.slice(us.length) + us + this.cachedZone;
  }

  /** `YYYY-MM-DDTHH:MM:SS` of the second holding timeUs (iso() without fraction and zone). */
  isoSecond(timeUs: number): string {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    return this.cachedIso;
  }

  /** Minutes the stamps of timeUs's second are ahead of UTC (0 in UTC; the zone suffix's value). */
  offsetMinutes(timeUs: number): number {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    return this.cachedOffsetMinutes;
  }

  /** Zone suffix of the last second formatted: `Z` or `+01:00`. */
  get zone(): string {
    return this.cachedZone;
  }

  /** udplogger's `YYYY-MM-DD HH:MM:SS`. */
  plain(timeUs: number): string {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    return this.cachedPlain;
  }

  day(timeUs: number): string {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    return this.cachedDay;
  }
}

/** Boot-relative kernel time as dmesg prints it: `[  501.151268]`. */
export function kernelTs(tsUsec: number): string {
  const s = Math.floor(tsUsec / 1e6);
  const us = String(tsUsec - s * 1e6);
  const ss = String(s);
  return '[' + (ss.length < 5 ? '     '.slice(ss.length) : '') + ss + '.' + '000000'.slice(us.length) + us + ']';
}

/**
 * Byte writers for the hot path (encodeText): a few dozen bytes are cheaper to store one by one
 * from JavaScript than through a native Buffer call, and no intermediate string is built.
 */

/** `text` as UTF-8 at pos; returns the end. ASCII is stored directly, anything else by Buffer.write. */
function putText(out: Buffer, pos: number, text: string): number {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return pos + out.write(text.slice(i), pos + i, 'utf8') + i;
    out[pos + i] = c;
  }
  return pos + n;
}

/** A non-negative safe integer in decimal, as String(n) writes it; returns the end. */
function putUint(out: Buffer, pos: number, n: number): number {
  let digits = 1;
  for (let p = 10; p <= n; p *= 10) digits++;
  const end = pos + digits;
  for (let i = end - 1; i >= pos; i--) {
    const q = Math.floor(n / 10);
    out[i] = 0x30 + (n - q * 10);
    n = q;
  }
  return end;
}

/** Exactly six digits with leading zeros (0 <= n < 1e6). */
function putSix(out: Buffer, pos: number, n: number): number {
  for (let i = pos + 5; i >= pos; i--) {
    const q = Math.floor(n / 10);
    out[i] = 0x30 + (n - q * 10);
    n = q;
  }
  return pos + 6;
}

export class Formatter {
  readonly clock: Clock;
  constructor(
    readonly format: LineFormat,
    utc: boolean,
  ) {
    this.clock = new Clock(utc);
  }

  event(ev: RxEvent): Formatted {
    const day = this.clock.day(ev.timeUs);
    if (this.format === 'json') return { day, text: JSON.stringify(this.json(ev)) + '\n', lines: 1 };
    const head = (this.format === 'udplogger' ? this.clock.plain(ev.timeUs) : this.clock.iso(ev.timeUs)) + ' ' + ev.sender.label + ' ';
    switch (ev.type) {
      case 'line': {
        const tag = ev.malformed !== null ? `[malformed: ${ev.malformed}] ` : ev.partial !== null ? `[partial: ${ev.partial}] ` : '';
        return { day, text: head + tag + ev.text + '\n', lines: 1 };
      }
      case 'marker':
        return { day, text: head + '-- lantern: ' + ev.text + ' --\n', lines: 1 };
      case 'record': {
        const h = ev.header;
        const prefix = (h.facility << 3) | h.level;
        let lead: string;
        if (this.format === 'udplogger') {
          // Keep the kernel's own header, as udplogger stores extended records verbatim.
          lead = head + (h.release !== null ? h.release + ',' : '') + prefix + ',' + h.seq + ',' + h.tsUsec + ',' + h.flag + ';';
        } else {
          lead = head + '<' + prefix + '>#' + h.seq + (h.flag === '-' ? '' : h.flag) + ' ' + kernelTs(h.tsUsec) + ' ';
        }
        let text = lead + (ev.incomplete !== null ? `[${ev.incomplete}] ` : '') + ev.text + '\n';
        for (const d of ev.dict) text += (this.format === 'udplogger' ? head + ' ' : lead + ' ') + d + '\n';
        return { day, text, lines: 1 + ev.dict.length };
      }
    }
  }

  /**
   * The text format's common lines, encoded straight into `out` at `pos` (room for
   * encodedMax(ev) bytes): an untagged line, or a record without dictionary or fragment trouble.
   * Byte for byte what event().text gives in UTF-8; returns the end, or -1 when ev is not such a
   * line (the caller then uses event()).
   */
  encodeText(ev: RxEvent, out: Buffer, pos: number): number {
    if (!this.encodable(ev)) return -1;
    let p = this.encodeHead(ev.sender, ev.timeUs, ev.type === 'record' ? ev.header : null, out, pos);
    p = putText(out, p, ev.text);
    out[p++] = 0x0a;
    return p;
  }

  /**
   * Everything of a text-format line before its text: receive time, sender and, for a record,
   * `<prefix>#seq[flag] [kernel time] `. The caller checked encodable() (or the same conditions).
   */
  encodeHead(sender: Sender, timeUs: number, h: ExtendedHeader | null, out: Buffer, pos: number): number {
    const sec = Math.floor(timeUs / 1e6);
    const second = this.clock.isoSecondBytes(timeUs);
    const n = second.length;
    for (let i = 0; i < n; i++) out[pos + i] = second[i]!;
    let p = pos + n;
    p = putSix(out, p, timeUs - sec * 1e6);
    p = putText(out, p, this.clock.zone);
    out[p++] = 0x20;
    p = putText(out, p, sender.label);
    out[p++] = 0x20;
    if (h !== null) {
      out[p++] = 0x3c; // <
      p = putUint(out, p, (h.facility << 3) | h.level);
      out[p++] = 0x3e; // >
      out[p++] = 0x23; // #
      p = putUint(out, p, h.seq);
      if (h.flag !== '-') p = putText(out, p, h.flag);
      out[p++] = 0x20;
      // kernelTs(): [%5d.%06d]
      const ks = Math.floor(h.tsUsec / 1e6);
      out[p++] = 0x5b; // [
      for (let d = ks < 10 ? 1 : ks < 100 ? 2 : ks < 1000 ? 3 : ks < 10000 ? 4 : 5; d < 5; d++) out[p++] = 0x20;
      p = putUint(out, p, ks);
      out[p++] = 0x2e;
      p = putSix(out, p, h.tsUsec - ks * 1e6);
      out[p++] = 0x5d; // ]
      out[p++] = 0x20;
    }
    return p;
  }

  /** Whether encodeHead() can write this receive time and header. */
  headEncodable(timeUs: number, h: ExtendedHeader | null): boolean {
    if (this.format !== 'text' || !Number.isInteger(timeUs) || timeUs < 0) return false;
    return h === null || (Number.isInteger(h.tsUsec) && Number.isInteger(h.seq) && h.tsUsec >= 0 && h.seq >= 0);
  }

  /** Whether encodeText() handles ev (the rest, and the other formats, go through event()). */
  encodable(ev: RxEvent): boolean {
    if (ev.type === 'line') return ev.partial === null && ev.malformed === null && this.headEncodable(ev.timeUs, null);
    if (ev.type !== 'record' || ev.dict.length !== 0 || ev.incomplete !== null) return false;
    return this.headEncodable(ev.timeUs, ev.header);
  }

  /** Most bytes encodeText() can write for ev. */
  static encodedMax(ev: RxEvent): number {
    return 160 + 3 * (ev.sender.label.length + ev.text.length + (ev.type === 'record' ? ev.header.flag.length : 0));
  }

  /** A receiver-side marker (disk trouble, start, stop) that belongs to no sender. */
  note(timeUs: number, text: string): Formatted {
    const day = this.clock.day(timeUs);
    if (this.format === 'json') return { day, text: JSON.stringify({ time: this.clock.iso(timeUs), type: 'lantern', text }) + '\n', lines: 1 };
    const t = this.format === 'udplogger' ? this.clock.plain(timeUs) : this.clock.iso(timeUs);
    return { day, text: `${t} lantern -- ${text} --\n`, lines: 1 };
  }

  json(ev: RxEvent): Record<string, unknown> {
    const base: Record<string, unknown> = { time: this.clock.iso(ev.timeUs), sender: ev.sender.label, address: ev.sender.address, port: ev.sender.port };
    switch (ev.type) {
      case 'line':
        return { ...base, type: 'line', partial: ev.partial, malformed: ev.malformed, text: ev.text };
      case 'marker':
        return { ...base, type: 'marker', marker: ev.kind, count: ev.count, text: ev.text };
      case 'record': {
        const h = ev.header;
        return {
          ...base,
          type: 'record',
          release: h.release,
          facility: h.facility,
          level: h.level,
          seq: h.seq,
          ts_usec: h.tsUsec,
          flag: h.flag,
          incomplete: ev.incomplete,
          text: ev.text,
          dict: ev.dict,
        };
      }
    }
  }
}
