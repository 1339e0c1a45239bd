/**
 * Output line formats, pure: an RxEvent (or a receiver marker) becomes one or more text lines.
 *
 *   text       2026-11-26T17:48:34.123456Z 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up
 *              2026-11-26T17:48:34.123456Z 10.0.0.5:6665 <6>#444 [  501.151268] netconsole: network logging started
 *   json       {"time":"…","sender":"10.0.0.5:6665","type":"record","seq":444,…,"text":"…"}
 *   udplogger  2026-11-26 17:48:34 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up
 */
import type { RxEvent } from './decoder.js';

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
    } else {
      y = d.getFullYear();
      mo = d.getMonth() + 1;
      da = d.getDate();
      h = d.getHours();
      mi = d.getMinutes();
      s = d.getSeconds();
      const off = -d.getTimezoneOffset();
      const a = Math.abs(off);
      this.cachedZone = (off >= 0 ? '+' : '-') + pad2(Math.floor(a / 60)) + ':' + pad2(a % 60);
    }
    this.cachedDay = `${y}-${pad2(mo)}-${pad2(da)}`;
    this.cachedIso = `${this.cachedDay}T${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
    this.cachedPlain = `${this.cachedDay} ${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
    this.cachedSec = sec;
  }

  /** ISO 8601 with microseconds: 2026-11-26T17:48:34.123456Z (or +01:00). */
  iso(timeUs: number): string {
    const sec = Math.floor(timeUs / 1e6);
    if (sec !== this.cachedSec) this.fill(sec);
    const us = String(timeUs - sec * 1e6);
    return this.cachedIso + '.' + '000000'.slice(us.length) + us + this.cachedZone;
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
