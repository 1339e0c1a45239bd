/**
 * The receiver's own output lines, read back into the facts a forwarded message carries as
 * structured fields: receive time, sender, kernel facility/level, sequence number, kernel
 * timestamp, and Lantern's markers (gaps, restarts, disk trouble).
 *
 * Why read the files back instead of hooking the pipeline: the local files are the source of
 * truth and the durable spool at once (see docs/forward.md), so forwarding costs the receiver's
 * hot path nothing and a forwarder restart loses nothing. The formats are the ones
 * src/netconsole/format.ts writes (and `lantern console`, which keeps the same contract):
 *
 *   text       2026-11-26T17:48:34.123456Z 10.0.0.5:6665 <6>#444 [  501.151268] netconsole: started
 *              2026-11-26T17:48:34.123456Z 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up
 *              2026-11-26T17:48:34.123456Z 10.0.0.5:6665 -- lantern: 3 records lost (seq 41..43) --
 *              2026-11-26T17:48:34.123456Z lantern -- receiver started --
 *   json       {"time":"…","sender":"10.0.0.5:6665","type":"record","seq":444,…,"text":"…"}
 *   udplogger  2026-11-26 17:48:34 10.0.0.5:6665 [   12.345678] e1000e: eth0 NIC Link is Up
 */

/** A receiver line as forwarded. Absent fields were not in the line. */
export interface ForwardLine {
  /** Receive time, microseconds since the epoch (NaN when the line's stamp is unreadable). */
  timeUs: number;
  /** The sender's label (`10.0.0.5:6665` or its configured name); `lantern` for receiver notes. */
  sender: string;
  /** The sender's host part (address or name without the port): the syslog HOSTNAME / Loki `host`. */
  host: string;
  /** Kernel facility and level (extended netconsole records, or a `<N>` prefix in the text). */
  facility?: number;
  level?: number;
  /** Kernel sequence number (extended records). */
  seq?: number;
  /** Kernel timestamp, microseconds since boot. */
  ktimeUs?: number;
  /** The kernel's message (or the marker's text). */
  text: string;
  /** `marker` for Lantern's own gap/restart/trouble lines, `note` for receiver notes. */
  kind: 'line' | 'record' | 'marker' | 'note' | 'unparsed';
  /** The receiver's tag: `partial: …`, `malformed: …`. */
  tag?: string;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/;

/** `2026-11-26T17:48:34.123456Z` (or udplogger's `2026-11-26 17:48:34`, read as local time) → µs. */
export function parseStamp(s: string): number {
  const m = ISO_RE.exec(s);
  if (!m) return NaN;
  const frac = m[7] ? Number((m[7] + '000000').slice(0, 6)) : 0;
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  let ms: number;
  if (m[8] === undefined) ms = new Date(y, mo - 1, d, h, mi, se).getTime();
  else {
    ms = Date.UTC(y, mo - 1, d, h, mi, se);
    if (m[8] !== 'Z') {
      const sign = m[8][0] === '-' ? -1 : 1;
      ms -= sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000;
    }
  }
  return ms * 1000 + frac;
}

/** Host part of a sender label: `10.0.0.5:6665` → `10.0.0.5`, `[fe80::1]:6665` → `fe80::1`, `web1` → `web1`. */
export function hostOf(label: string): string {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(label);
  if (v6) return v6[1]!;
  const v4 = /^([^:]+):\d+$/.exec(label);
  return v4 ? v4[1]! : label;
}

const KTIME_RE = /^\[\s*(\d+)\.(\d{6})\] /;
const RECORD_HEAD_RE = /^<(\d{1,3})>#(\d+)(\S*) /;
const MARKER_RE = /^-- lantern: (.*) --$/;
const TAG_RE = /^\[(partial|malformed|incomplete)(?:: ([^\]]*))?\] /;

/** Reads one line of the text or udplogger format (without its newline). */
export function parseTextLine(line: string): ForwardLine {
  // The stamp is one token (text) or two (udplogger's date and time).
  let sp = line.indexOf(' ');
  let stamp = sp < 0 ? line : line.slice(0, sp);
  if (/^\d{4}-\d{2}-\d{2}$/.test(stamp)) {
    const sp2 = line.indexOf(' ', sp + 1);
    if (sp2 > 0) {
      stamp = line.slice(0, sp2);
      sp = sp2;
    }
  }
  const timeUs = parseStamp(stamp);
  if (sp < 0 || Number.isNaN(timeUs)) return { timeUs: NaN, sender: '', host: '', text: line, kind: 'unparsed' };
  const sp2 = line.indexOf(' ', sp + 1);
  const sender = sp2 < 0 ? line.slice(sp + 1) : line.slice(sp + 1, sp2);
  let rest = sp2 < 0 ? '' : line.slice(sp2 + 1);
  const out: ForwardLine = { timeUs, sender, host: hostOf(sender), text: rest, kind: 'line' };
  if (sender === 'lantern') {
    const n = /^-- (.*) --$/.exec(rest);
    return { ...out, host: '', text: n ? n[1]! : rest, kind: 'note' };
  }
  const mk = MARKER_RE.exec(rest);
  if (mk) return { ...out, text: mk[1]!, kind: 'marker' };
  const rh = RECORD_HEAD_RE.exec(rest);
  if (rh) {
    const prefix = Number(rh[1]);
    out.facility = prefix >> 3;
    out.level = prefix & 7;
    out.seq = Number(rh[2]);
    out.kind = 'record';
    rest = rest.slice(rh[0].length);
  }
  const kt = KTIME_RE.exec(rest);
  if (kt) {
    out.ktimeUs = Number(kt[1]) * 1e6 + Number(kt[2]);
    rest = rest.slice(kt[0].length);
  }
  const tg = TAG_RE.exec(rest);
  if (tg) {
    out.tag = tg[2] ? `${tg[1]}: ${tg[2]}` : tg[1];
    rest = rest.slice(tg[0].length);
  }
  out.text = rest;
  return out;
}

/** Reads one line of the json format. */
export function parseJsonLine(line: string): ForwardLine {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    o = v as Record<string, unknown>;
  } catch {
    return { timeUs: NaN, sender: '', host: '', text: line, kind: 'unparsed' };
  }
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const num = (k: string): number | undefined => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined);
  const timeUs = parseStamp(str('time') ?? '');
  const type = str('type');
  if (type === 'lantern') return { timeUs, sender: 'lantern', host: '', text: str('text') ?? '', kind: 'note' };
  const sender = str('sender') ?? '';
  const out: ForwardLine = { timeUs, sender, host: str('address') ?? hostOf(sender), text: str('text') ?? '', kind: type === 'record' ? 'record' : type === 'marker' ? 'marker' : 'line' };
  const f = num('facility');
  const l = num('level');
  const s = num('seq');
  const k = num('ts_usec');
  if (f !== undefined) out.facility = f;
  if (l !== undefined) out.level = l;
  if (s !== undefined) out.seq = s;
  if (k !== undefined) out.ktimeUs = k;
  const tag = str('partial') ? `partial: ${str('partial')}` : str('malformed') ? `malformed: ${str('malformed')}` : str('incomplete') ? `incomplete: ${str('incomplete')}` : undefined;
  if (tag) out.tag = tag;
  return out;
}

/** A receiver line in whichever of its formats it is. */
export function parseReceiverLine(line: string): ForwardLine {
  return line.startsWith('{') ? parseJsonLine(line) : parseTextLine(line);
}

/** syslog severity names (RFC 5424 §6.2.1), also the Loki `level` label. */
export const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
