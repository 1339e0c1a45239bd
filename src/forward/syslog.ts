/**
 * RFC 5424 syslog messages with RFC 6587 octet-counting framing, as rsyslog's imtcp and
 * syslog-ng's network() source read them (and RFC 5425 TLS, which uses the same framing).
 *
 *   123 <6>1 2026-11-26T17:48:34.123456Z 10.0.0.5 kernel - netconsole [lantern@32473 sender="10.0.0.5:6665" seq="444" ktime="501.151268" id="2026-11-26.log:1234"] e1000e: eth0 NIC Link is Up
 *
 * Structured data: SD-ID `lantern@32473` — 32473 is the Private Enterprise Number IANA reserves
 * for documentation examples (RFC 5612); a site with its own PEN can set it in the config.
 * `id` is the line's position in the receiver's files: it is unique and stable, so a collector
 * (or a test) can drop the duplicates an at-least-once resend after a broken connection causes.
 */
import type { ForwardLine } from './lines.js';
import { LEVEL_NAMES } from './lines.js';

export interface SyslogOptions {
  /** SD-ID of Lantern's structured data element. */
  sdId: string;
  /** `source` value (netconsole, console, record, analyze). */
  source: string;
  /** Severity for lines that carry none (legacy netconsole lines): RFC 5424 number. */
  defaultSeverity: number;
}

export const DEFAULT_SYSLOG: SyslogOptions = { sdId: 'lantern@32473', source: 'netconsole', defaultSeverity: 6 };

/** RFC 5424 §6.3.3: inside PARAM-VALUE, `"`, `\` and `]` are escaped with a backslash. */
function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => '\\' + c);
}

/** HOSTNAME / APP-NAME etc.: PRINTUSASCII without spaces, at most `max` characters, `-` when empty. */
function header(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

function stamp(timeUs: number): string {
  if (!Number.isFinite(timeUs)) return '-';
  const ms = Math.floor(timeUs / 1000);
  const us = Math.floor(timeUs - ms * 1000);
  return new Date(ms).toISOString().replace('Z', String(us).padStart(3, '0') + 'Z');
}

/** One RFC 5424 message (no framing) for a receiver line; `id` is its stable position. */
export function syslogMessage(l: ForwardLine, id: string, o: SyslogOptions = DEFAULT_SYSLOG): string {
  const facility = l.facility !== undefined && l.facility >= 0 && l.facility < 24 ? l.facility : 0; // kern
  const severity = l.level !== undefined && l.level >= 0 && l.level < 8 ? l.level : o.defaultSeverity;
  const params: string[] = [`sender="${sdValue(l.sender)}"`, `source="${sdValue(o.source)}"`];
  if (l.seq !== undefined) params.push(`seq="${l.seq}"`);
  if (l.ktimeUs !== undefined) params.push(`ktime="${(l.ktimeUs / 1e6).toFixed(6)}"`);
  params.push(`level="${l.level !== undefined && l.level < 8 ? LEVEL_NAMES[l.level] : 'unknown'}"`);
  if (l.kind === 'marker' || l.kind === 'note') params.push(`marker="${l.kind}"`);
  if (l.tag) params.push(`tag="${sdValue(l.tag)}"`);
  params.push(`id="${sdValue(id)}"`);
  const host = header(l.host || 'lantern', 255);
  // The kernel's own messages (netconsole, serial console) under `kernel`; Lantern's markers and its recorder under `lantern`.
  const app = l.kind === 'note' || l.kind === 'marker' || (o.source !== 'netconsole' && o.source !== 'console') ? 'lantern' : 'kernel';
  return `<${facility * 8 + severity}>1 ${stamp(l.timeUs)} ${host} ${app} - ${header(o.source, 32)} [${o.sdId} ${params.join(' ')}] ${l.text}`;
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes of UTF-8. */
export function octetFrame(msg: string): string {
  return `${Buffer.byteLength(msg, 'utf8')} ${msg}`;
}
