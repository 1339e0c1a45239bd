/**
 * Line normaliser: takes one input line in any supported envelope and yields a NormLine
 * {host?, wall?, kernelTime?, level?, caller?, text}. Pure; the only state is the year
 * guess for year-less syslog stamps and the last host/time, which unstamped continuation
 * lines inherit.
 *
 * Envelopes: raw dmesg (with/without `[sec.usec]`, `<N>` levels, printk caller `[T123]`),
 * `dmesg -T`, classic syslog and journalctl short/short-precise, RFC 3339 syslog and
 * journalctl short-iso, journalctl -o json, Lantern netconsole files
 * (`<ISO8601> <ip:port> <text>`), udplogger captures (`YYYY-MM-DD HH:MM:SS ip:port text`),
 * netconsole extended records (`6,123,4567,-;text`), serial consoles (CR, ANSI escapes,
 * glued `host login: ` prompts, pdsh/dshbak `host: ` prefixes for several hosts).
 */
import type { NormLine, WallTime } from './model.js';

export type LogFormat = 'dmesg' | 'dmesg-raw' | 'dmesg-T' | 'syslog' | 'syslog-rfc3339' | 'journal-json' | 'journal-short' | 'netconsole' | 'udplogger' | 'serial' | 'unknown';

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

// Envelopes, anchored at line start. Hostnames and program names are \S+ (never used as paths).
// An RFC 3339 host never starts with `[`: `2024-…Z [12345.678901] BUG: …` (kubectl logs --timestamps) is no syslog line.
const SYSLOG_RE = /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d)(\.\d{1,9})? (\S+) ([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
const RFC3339_RE = /^(?:<(\d{1,3})>(?:1 )?)?(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)? ([^\s[]\S*) ([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
const NETCONSOLE_RE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)? (\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):(\d{1,5}) ?(.*)$/;
/**
 * `lantern console` captures: the netconsole layout with the console's source name (letters, digits,
 * `._-`; `NAME/peer:port` for a converter that connected to a tcp-listen source) where netconsole
 * has `address:port`. Tried after RFC3339_RE, so `TIME host tag: text` stays syslog, and never
 * before a `facility.level` word (a collector's `TIME UTC kern.warn kernel: text`).
 */
const CONSOLE_RE =
  /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)? ([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:\/\S+)? (?![a-z]+\.(?:emerg|alert|crit|err|warn|warning|notice|info|debug) )(.*)$/;
const UDPLOGGER_RE = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d{1,9})? (\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+):(\d{1,5}) ?(.*)$/;
// journalctl -o short-full: `Fri 2024-05-03 06:00:39 CEST web01 kernel: …` (zone as an abbreviation).
const SHORT_FULL_RE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d{1,9})? ([A-Z][A-Za-z0-9+-]{0,5}) (\S+) ([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
// journalctl -o short-monotonic: `[ 1234.567890] web01 kernel: …`.
const SHORT_MONO_RE = /^([A-Za-z0-9][\w.-]*) ([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
// Syslog without a host field (`Feb 23 03:28:16 kernel: mce: …`: rsyslog/syslog-ng templates without
// %HOSTNAME%, busybox syslogd -S): after the stamp comes the program tag itself.
const HOSTLESS_TAG_RE = /^([^\s:[]+)(?:\[\d+\])?: ?(.*)$/;
// A kernel message after a prefix of no known envelope (container/VM log collectors, OpenWrt logread):
// `2024-05-01T10:00:00.123456+0000 UTC kern.warn kernel: …`, `Thu May  2 10:00:00 2024 kern.warn kernel: …`.
const KERNEL_TAG = ' kernel: ';
const MAX_PREFIX_CHARS = 160;
const PREFIX_ISO_RE = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)?(?: (UTC|GMT)\b)?/;
const PREFIX_CTIME_RE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})/;
// Hostless syslog whose message does not look like `tag: …` (`Feb 23 03:28:16 kernel:  schedule+0x29/0x70`).
const PREFIX_SYSLOG_RE = /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d)(\.\d{1,9})?$/;
// busybox syslogd: `May  2 10:00:00 host kern.warn kernel: …` (the facility.level between host and tag).
const PREFIX_BUSYBOX_RE = /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\S+) [a-z0-9]+\.[a-z]+$/;
// Another program's line in those formats (`… daemon.info containerd[811]: …`, hostless
// `May 12 15:39:04 dropbear[2211]: Password auth …`): not a kernel line.
const PREFIXED_OTHER_TAG_RE =
  /^(?:\d{4}-\d\d-\d\dT\S+(?: UTC| GMT)?|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \d{4}|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \S+) [a-z0-9]+\.[a-z]+ [^\s:[]+(?:\[\d+\])?: |^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,9})? [^\s:[]+(?:\[\d+\])?: /;
const DMESG_T_RE = /^\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})\] ?(.*)$/;
// Kernel-side prefixes inside any envelope.
const LEVEL_RE = /^<(\d)>/;
const KTIME_RE = /^\[\s*(\d+\.\d+)\]/;
const CALLER_RE = /^\[\s*([TC]\d+)\] ?/;
const EXTENDED_RE = /^(\d),(\d+),(\d+),[^;]*;/;
const DROPPED_RE = /^\*\* \d+ printk messages dropped \*\* /;
// A getty prompt glued to the next console line, or a pdsh/dshbak `host: ` prefix.
const GLUED_LOGIN_RE = /^.{0,200}? login: (?=(?:<\d>)?\[\s*\d+\.\d+\])/;
const HOST_PREFIX_RE = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}): (?=(?:<\d>)?\[\s*\d+\.\d+\])/;
const JOURNAL_MARKER_RE = /^-- (?:Boot [0-9a-f]+|Reboot) --\s*$/;
const JOURNAL_INFO_RE = /^-- (?:Logs begin at|No entries|Journal begins at)/;
// ANSI CSI / OSC sequences and other C0 controls a serial console leaves behind.
const ANSI_RE = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;

export interface NormalizerOptions {
  file: string;
  /** Year assumed for syslog stamps without one (the file's mtime year); months after `refMonth` belong to the year before. */
  refYear: number;
  refMonth: number;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function naiveWall(y: number, mo: number, d: number, h: number, mi: number, s: number, frac: string | undefined): WallTime {
  const ms = Date.UTC(y, mo, d, h, mi, s) + (frac ? Math.round(Number('0' + frac) * 1000) : 0);
  const fracText = frac ? frac : '';
  return { ms, iso: `${y}-${pad(mo + 1)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${fracText}`, zoned: false };
}

function zonedWall(y: string, mo: string, d: string, h: string, mi: string, s: string, frac: string | undefined, zone: string | undefined): WallTime {
  const base = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) + (frac ? Math.round(Number('0' + frac) * 1000) : 0);
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac ?? ''}`;
  if (!zone) return { ms: base, iso, zoned: false };
  if (zone === 'Z') return { ms: base, iso: iso + 'Z', zoned: true };
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  return { ms: base - offMin * 60000, iso: `${iso}${zone[0]}${digits.slice(0, 2)}:${digits.slice(2, 4)}`, zoned: true };
}

function stripHostBrackets(ip: string): string {
  return ip.startsWith('[') ? ip.slice(1, -1) : ip;
}

/**
 * The times an unknown prefix carries (the detector's second look, detect.ts headerAnywhere): a
 * leading ISO 8601 or ctime stamp as the wall clock, a trailing `[ seconds.micros] ` as kernel time.
 */
export function timesOfPrefix(prefix: string): { wall?: WallTime; wallText?: string; kernelTime?: number; kernelTimeText?: string } {
  const out: { wall?: WallTime; wallText?: string; kernelTime?: number; kernelTimeText?: string } = { ...fullWallOfPrefix(prefix) };
  let m: RegExpExecArray | null;
  if ((m = /\[\s*(\d+\.\d+)\] $/.exec(prefix))) {
    out.kernelTime = Number(m[1]);
    out.kernelTimeText = m[1]!;
  }
  return out;
}

/** The wall clock of a prefix that starts with a stamp carrying its year: ISO 8601 or ctime. */
function fullWallOfPrefix(prefix: string): { wall: WallTime; wallText: string } | null {
  let m: RegExpExecArray | null;
  if ((m = PREFIX_ISO_RE.exec(prefix))) {
    return { wall: zonedWall(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], m[8] ?? (m[9] ? 'Z' : undefined)), wallText: m[9] ? m[0].slice(0, -m[9].length - 1) : m[0] };
  }
  if ((m = PREFIX_CTIME_RE.exec(prefix))) {
    const month = MONTHS[m[1]!]!;
    return { wall: naiveWall(+m[6]!, month, Number(m[2]!.trim()), +m[3]!, +m[4]!, +m[5]!, undefined), wallText: m[0] };
  }
  return null;
}

/** Turns lines of one input into NormLines. One instance per input file. */
export class Normalizer {
  private lastHost: string | undefined;
  private lastWall: WallTime | undefined;
  private lastWallText: string | undefined;
  /** Lines that could not be parsed where a format promised structure (bad JSON records). */
  malformed = 0;

  constructor(private readonly opts: NormalizerOptions) {}

  private yearFor(month: number): number {
    return month > this.opts.refMonth ? this.opts.refYear - 1 : this.opts.refYear;
  }

  normalize(rawLine: string, lineNo: number): NormLine {
    let raw = rawLine;
    if (raw.length > 0 && raw.charCodeAt(raw.length - 1) === 13) raw = raw.slice(0, -1);
    if (raw.indexOf('\x1b') !== -1 || raw.indexOf('\r') !== -1 || /[\x00-\x08]/.test(raw)) {
      // A serial console redraws with CR: keep what was printed last on the line.
      const cr = raw.lastIndexOf('\r');
      if (cr !== -1) raw = raw.slice(cr + 1);
      raw = raw.replace(ANSI_RE, '');
    }
    const line: NormLine = { file: this.opts.file, lineNo, raw, text: raw, kernel: true };
    let body = raw;
    const c0 = raw.charCodeAt(0);

    if (c0 === 123 /* { */) {
      if (this.parseJournalJson(raw, line)) return line;
    } else if (c0 >= 48 && c0 <= 57 /* digit */) {
      let m = NETCONSOLE_RE.exec(raw);
      if (m) {
        line.wall = zonedWall(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], m[8]);
        line.wallText = raw.slice(0, raw.indexOf(' '));
        line.host = stripHostBrackets(m[9]!);
        body = m[11]!;
      } else if ((m = UDPLOGGER_RE.exec(raw))) {
        line.wall = zonedWall(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], undefined);
        line.wallText = `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}`;
        line.host = stripHostBrackets(m[8]!);
        body = m[10]!;
      } else if ((m = RFC3339_RE.exec(raw))) {
        body = this.fromRfc3339(m, line);
      } else if ((m = CONSOLE_RE.exec(raw))) {
        line.wall = zonedWall(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], m[8]);
        line.wallText = raw.slice(0, raw.indexOf(' '));
        line.host = m[9]!;
        body = m[10]!;
      }
    } else if (c0 === 60 /* < */ && /^<\d{1,3}>(?:1 )?\d{4}-/.test(raw)) {
      const m = RFC3339_RE.exec(raw);
      if (m) body = this.fromRfc3339(m, line);
    } else if (c0 >= 65 && c0 <= 87 /* A..W: month and day names */) {
      let m = SYSLOG_RE.exec(raw);
      if (!m && (m = SHORT_FULL_RE.exec(raw))) {
        const zone = m[8] === 'UTC' || m[8] === 'GMT' ? 'Z' : undefined;
        line.wall = zonedWall(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], zone);
        line.wallText = raw.slice(0, raw.indexOf(' ' + m[9]! + ' '));
        line.host = m[9]!;
        line.kernel = m[10] === 'kernel';
        body = m[11]!;
        m = null;
      } else if (m) {
        const month = MONTHS[m[1]!]!;
        line.wall = naiveWall(this.yearFor(month), month, Number(m[2]!.trim()), +m[3]!, +m[4]!, +m[5]!, m[6]);
        line.wallText = raw.slice(0, 15 + (m[6]?.length ?? 0));
        const hostless = m[7]!.endsWith(':') ? HOSTLESS_TAG_RE.exec(raw.slice(line.wallText.length + 1)) : null;
        if (hostless) {
          // The "host" is the program tag (`kernel:`): there is no host field.
          line.kernel = hostless[1] === 'kernel';
          body = hostless[2]!;
        } else {
          line.host = m[7]!;
          line.kernel = m[8] === 'kernel';
          body = m[9]!;
        }
      }
    } else if (c0 === 91 /* [ */) {
      const m = DMESG_T_RE.exec(raw);
      if (m) {
        const month = MONTHS[m[1]!]!;
        line.wall = naiveWall(+m[6]!, month, Number(m[2]!.trim()), +m[3]!, +m[4]!, +m[5]!, undefined);
        line.wallText = raw.slice(1, raw.indexOf(']'));
        body = m[7]!;
      }
    } else if (c0 === 45 /* - */ && raw.startsWith('-- ')) {
      if (JOURNAL_MARKER_RE.test(raw)) {
        line.bootMarker = true;
        line.text = raw;
        return line;
      }
      if (JOURNAL_INFO_RE.test(raw)) {
        line.kernel = false;
        return line;
      }
    }

    if (body === raw && c0 !== 91 /* [ */ && c0 !== 60 /* < */ && c0 !== 123 /* { */) {
      const k = raw.indexOf(KERNEL_TAG);
      if (k > 0 && k <= MAX_PREFIX_CHARS) body = this.fromUnknownPrefix(raw.slice(0, k), raw.slice(k + KERNEL_TAG.length), line) ?? body;
      else if (PREFIXED_OTHER_TAG_RE.test(raw)) line.kernel = false;
    }

    if (line.wall === undefined && line.host === undefined) {
      // Serial console: a pdsh-style host prefix or a glued login prompt before a dmesg stamp.
      let m = HOST_PREFIX_RE.exec(body);
      if (m) {
        line.host = m[1]!;
        body = body.slice(m[0].length);
      } else if ((m = GLUED_LOGIN_RE.exec(body))) {
        body = body.slice(m[0].length);
      }
    }

    body = this.stripKernelPrefixes(body, line);
    line.text = body;
    // Continuation lines (no envelope of their own) inherit the previous line's host and time.
    if (line.wall) {
      this.lastWall = line.wall;
      this.lastWallText = line.wallText;
    } else if (this.lastWall && line.kernelTime === undefined && !line.bootMarker) {
      line.wall = this.lastWall;
      line.wallText = this.lastWallText;
    }
    if (line.host) this.lastHost = line.host;
    else if (this.lastHost && line.wall) line.host = this.lastHost;
    return line;
  }

  /**
   * A `kernel: ` tag after a prefix no envelope matched: the message is what follows the tag.
   * The prefix must look like one (no `: ` in it, at most 6 words), so that kernel text which merely
   * contains ` kernel: ` stays whole; its time is read when it starts with an ISO 8601, ctime or
   * busybox syslog stamp.
   */
  private fromUnknownPrefix(prefix: string, rest: string, line: NormLine): string | undefined {
    if (prefix.includes(': ') || prefix.split(' ').filter((w) => w !== '').length > 6) return undefined;
    let m: RegExpExecArray | null;
    const full = fullWallOfPrefix(prefix);
    if (full) {
      line.wall = full.wall;
      line.wallText = full.wallText;
    } else if ((m = PREFIX_SYSLOG_RE.exec(prefix))) {
      const month = MONTHS[m[1]!]!;
      line.wall = naiveWall(this.yearFor(month), month, Number(m[2]!.trim()), +m[3]!, +m[4]!, +m[5]!, m[6]);
      line.wallText = prefix;
    } else if ((m = PREFIX_BUSYBOX_RE.exec(prefix))) {
      const month = MONTHS[m[1]!]!;
      line.wall = naiveWall(this.yearFor(month), month, Number(m[2]!.trim()), +m[3]!, +m[4]!, +m[5]!, undefined);
      line.wallText = prefix.slice(0, 15);
      line.host = m[6]!;
    }
    line.kernel = true;
    return rest;
  }

  private fromRfc3339(m: RegExpExecArray, line: NormLine): string {
    if (m[1] !== undefined) line.level = Number(m[1]) & 7;
    line.wall = zonedWall(m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7]!, m[8], m[9]);
    line.wallText = `${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}${m[8] ?? ''}${m[9] ?? ''}`;
    line.host = m[10]!;
    line.kernel = m[11] === 'kernel';
    return m[12]!;
  }

  private stripKernelPrefixes(input: string, line: NormLine): string {
    let body = input;
    if (body.charCodeAt(0) === 42 /* * */) body = body.replace(DROPPED_RE, '');
    let m = EXTENDED_RE.exec(body);
    if (m) {
      // netconsole extended record: level,seq,usec,flags;text
      line.level = Number(m[1]);
      const usec = Number(m[3]);
      line.kernelTime = usec / 1e6;
      line.kernelTimeText = (usec / 1e6).toFixed(6);
      return body.slice(m[0].length);
    }
    if (body.charCodeAt(0) === 60 /* < */) {
      m = LEVEL_RE.exec(body);
      if (m) {
        line.level = Number(m[1]);
        body = body.slice(m[0].length);
      }
    }
    if (body.charCodeAt(0) === 91 /* [ */) {
      m = KTIME_RE.exec(body);
      if (m) {
        line.kernelTimeText = m[1]!;
        line.kernelTime = Number(m[1]);
        body = body.slice(m[0].length);
        if (line.host === undefined && body.indexOf(': ') !== -1 && / kernel: |^ \S+ \S+\[\d+\]: /.test(body)) {
          const j = SHORT_MONO_RE.exec(body.slice(1));
          if (j && (j[2] === 'kernel' || /\[\d+\]:/.test(body))) {
            line.host = j[1]!;
            line.kernel = j[2] === 'kernel';
            line.text = j[3]!;
            return j[3]!;
          }
        }
        const c = CALLER_RE.exec(body);
        if (c) {
          line.caller = c[1]!;
          body = body.slice(c[0].length);
        } else if (body.charCodeAt(0) === 32) body = body.slice(1);
      }
    }
    return body;
  }

  private parseJournalJson(raw: string, line: NormLine): boolean {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      this.malformed++;
      return false;
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      this.malformed++;
      return false;
    }
    let msg = rec['MESSAGE'];
    // journald stores non-UTF-8 messages as byte arrays.
    if (Array.isArray(msg)) msg = Buffer.from(msg.filter((b) => typeof b === 'number') as number[]).toString('utf8');
    if (typeof msg !== 'string') msg = msg === null || msg === undefined ? '' : typeof msg === 'object' ? JSON.stringify(msg) : String(msg as number | boolean);
    const text = msg as string;
    const rt = Number(rec['__REALTIME_TIMESTAMP']);
    if (Number.isFinite(rt) && rt > 0) {
      const ms = Math.floor(rt / 1000);
      line.wall = { ms, iso: new Date(ms).toISOString(), zoned: true };
      line.wallText = line.wall.iso;
    }
    const mono = Number(rec['_SOURCE_MONOTONIC_TIMESTAMP']);
    const transport = rec['_TRANSPORT'];
    line.kernel = transport === 'kernel' || rec['SYSLOG_IDENTIFIER'] === 'kernel';
    if (line.kernel && Number.isFinite(mono) && rec['_SOURCE_MONOTONIC_TIMESTAMP'] !== undefined) {
      line.kernelTime = mono / 1e6;
      line.kernelTimeText = (mono / 1e6).toFixed(6);
    }
    if (typeof rec['_HOSTNAME'] === 'string') line.host = rec['_HOSTNAME'] as string;
    const prio = Number(rec['PRIORITY']);
    if (Number.isInteger(prio)) line.level = prio;
    if (typeof rec['_BOOT_ID'] === 'string') {
      // A new boot id is a reboot, like the `-- Boot … --` separator of the text formats.
      const boot = rec['_BOOT_ID'] as string;
      if (this.lastBootId !== undefined && boot !== this.lastBootId) line.bootMarker = true;
      this.lastBootId = boot;
    }
    line.text = text.replace(/\n$/, '');
    line.raw = line.text;
    return true;
  }
  private lastBootId: string | undefined;
}

/** Names the format of one input from its first lines (for the report; parsing is per line). */
export function detectFormat(lines: string[], fileName: string): LogFormat {
  const counts = new Map<LogFormat, number>();
  const bump = (f: LogFormat) => counts.set(f, (counts.get(f) ?? 0) + 1);
  let serialHints = 0;
  for (const l of lines) {
    if (l.length === 0) continue;
    if (l.includes('\r') || l.includes('\x1b')) serialHints++;
    if (l[0] === '{') bump('journal-json');
    else if (NETCONSOLE_RE.test(l)) bump('netconsole');
    else if (UDPLOGGER_RE.test(l)) bump('udplogger');
    else if (RFC3339_RE.test(l)) bump('syslog-rfc3339');
    else if (SYSLOG_RE.test(l)) bump(/^\S+ \d\d /.test(l) ? 'journal-short' : 'syslog');
    else if (SHORT_FULL_RE.test(l) || /^\[\s*\d+\.\d+\] [\w.-]+ kernel: /.test(l)) bump('journal-short');
    else if (DMESG_T_RE.test(l)) bump('dmesg-T');
    else if (PREFIX_ISO_RE.test(l) && (l.includes(KERNEL_TAG) || PREFIXED_OTHER_TAG_RE.test(l))) bump('syslog-rfc3339');
    else if (/^[A-Z]/.test(l) && (l.includes(KERNEL_TAG) || PREFIXED_OTHER_TAG_RE.test(l)))
      bump('syslog'); // hostless, busybox, logread
    else if (/^(?:<\d>)?\[\s*\d+\.\d+\]/.test(l)) bump('dmesg');
    else if (HOST_PREFIX_RE.test(l) || GLUED_LOGIN_RE.test(l)) {
      bump('serial');
    } else bump('dmesg-raw');
  }
  let best: LogFormat = 'unknown';
  let bestN = 0;
  for (const [f, n] of counts) {
    if (f === 'dmesg-raw') continue;
    if (n > bestN) {
      best = f;
      bestN = n;
    }
  }
  if (best === 'unknown' && (counts.get('dmesg-raw') ?? 0) > 0) best = 'dmesg-raw';
  if (serialHints > 0 || (best === 'dmesg' && (counts.get('serial') ?? 0) > 0)) return 'serial';
  if (best === 'journal-short' || best === 'syslog') {
    // journalctl short and classic syslog differ only in day padding; both read the same.
    return best;
  }
  if (/vmcore-dmesg/.test(fileName) && (best === 'dmesg' || best === 'dmesg-raw')) return best;
  return best;
}
