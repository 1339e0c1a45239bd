/**
 * Pure: a who-sends event as a line (text or JSON) and the per-sender summary.
 */
import type { NetRecord, SentCount } from '../access/net/records.js';
import type { DomainSource, Lineage } from './lineage.js';

export interface SendEvent {
  timeUs: number;
  record: NetRecord;
  lineage: Lineage;
}

function isoUs(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString(); // …T11:52:01.123Z
  return `${iso.slice(0, -1)}${String(Math.floor(us % 1000)).padStart(3, '0')}Z`;
}

/** A value for a `key=value` line: quoted (JSON) when it holds blanks, quotes or control characters. */
function val(s: string): string {
  return /^[^\s"\\\x00-\x1f\x7f]+$/.test(s) ? s : JSON.stringify(s);
}

function dest(r: NetRecord): string {
  return r.family === 'inet6' ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

const SOURCE_NOTE: Record<DomainSource, string> = { store: '', proc: ' (domain from /proc)', partial: ' (domain from /proc, incomplete)' };

/** One line as it happens: time, pid, uid, program, comm, what, where, result, domain. */
export function eventLine(e: SendEvent): string {
  const r = e.record;
  return (
    `${isoUs(e.timeUs)} pid=${r.pid} uid=${r.uid} program=${val(e.lineage.program)} comm=${val(r.comm)} ` +
    `${r.protocol} ${r.op} ${dest(r)}${r.errno ? ` ${r.errno}` : ''} domain=${val(e.lineage.domain)}${SOURCE_NOTE[e.lineage.source]}`
  );
}

export function eventJson(e: SendEvent): string {
  const r = e.record;
  return JSON.stringify({
    type: r.op,
    time: isoUs(e.timeUs),
    pid: r.pid,
    tid: r.tid,
    ppid: r.ppid,
    uid: r.uid,
    comm: r.comm,
    program: e.lineage.program,
    protocol: r.protocol,
    address: r.address,
    port: r.port,
    result: r.ret,
    errno: r.errno ?? null,
    domain: e.lineage.domain,
    domain_source: e.lineage.source,
  });
}

export interface SenderSummary {
  pid: number;
  uid: number;
  program: string;
  domain: string;
  domainSource: DomainSource;
  sends: number;
  connects: number;
  failed: number;
  firstUs: number;
  /** The last printed event (a counted send after it has no time of its own). */
  lastUs: number;
  destinations: string[];
}

/**
 * Senders by process (pid and start time), in order of first appearance. Events are what was
 * printed (a process's first send to a destination, each connect); sends are what the kernel
 * counted, once the counts arrive at the end (until then, the events).
 */
export class Senders {
  private readonly byProc = new Map<string, SenderSummary>();
  events = 0;
  /** Sends the kernel counted for processes with no printed event (their first record was lost). */
  unnamedSends = 0;

  add(e: SendEvent): void {
    this.events++;
    const r = e.record;
    const key = `${r.pid}/${r.pstartUs}`;
    let s = this.byProc.get(key);
    if (!s) {
      s = {
        pid: r.pid,
        uid: r.uid,
        program: e.lineage.program,
        domain: e.lineage.domain,
        domainSource: e.lineage.source,
        sends: 0,
        connects: 0,
        failed: 0,
        firstUs: e.timeUs,
        lastUs: e.timeUs,
        destinations: [],
      };
      this.byProc.set(key, s);
    }
    if (r.op === 'connect') s.connects++;
    else s.sends++;
    if (r.errno) s.failed++;
    s.lastUs = Math.max(s.lastUs, e.timeUs);
    const d = dest(r);
    if (!s.destinations.includes(d) && s.destinations.length < 16) s.destinations.push(d);
  }

  /** The kernel's counts of every send replace the event counts. */
  applyCounts(counts: readonly SentCount[]): void {
    const sums = new Map<string, { sends: number; failed: number }>();
    for (const c of counts) {
      const key = `${c.pid}/${c.pstartUs}`;
      const t = sums.get(key) ?? sums.set(key, { sends: 0, failed: 0 }).get(key)!;
      t.sends += c.count;
      if (c.failed) t.failed += c.count;
    }
    for (const [key, t] of sums) {
      const s = this.byProc.get(key);
      if (!s) {
        this.unnamedSends += t.sends;
        continue;
      }
      s.sends = t.sends;
      s.failed = t.failed;
    }
  }

  get list(): SenderSummary[] {
    return [...this.byProc.values()];
  }
}

export interface RunTotals {
  target: string;
  seconds: number;
  /** Events the kernel dropped before who-sends read them (its ring was full). */
  lost: number;
  /** Records that did not parse (counted, never silently dropped). */
  malformed: number;
}

export function summaryText(s: Senders, t: RunTotals): string {
  const list = s.list;
  const head =
    `who-sends ${t.target}: ${list.length} sender${list.length === 1 ? '' : 's'}, ${s.events} event${s.events === 1 ? '' : 's'} in ${t.seconds.toFixed(1)} s` +
    `, ${list.reduce((n, x) => n + x.sends, 0) + s.unnamedSends} sends; ${t.lost} lost in the kernel${t.malformed ? `, ${t.malformed} unreadable records` : ''}` +
    (s.unnamedSends ? `; ${s.unnamedSends} sends by processes whose first record was lost` : '');
  if (!list.length) return head + '\n';
  const rows = list.map((x) => [
    String(x.pid),
    String(x.uid),
    String(x.sends),
    String(x.connects),
    String(x.failed),
    isoUs(x.firstUs).slice(11, 23),
    x.program,
    x.destinations.join(','),
    x.domain + SOURCE_NOTE[x.domainSource],
  ]);
  const header = ['PID', 'UID', 'SENDS', 'CONNECTS', 'FAILED', 'FIRST', 'PROGRAM', 'TO', 'DOMAIN'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [head, fmt(header), ...rows.map(fmt)].join('\n') + '\n';
}

export function summaryJson(s: Senders, t: RunTotals): string {
  return JSON.stringify({
    type: 'summary',
    target: t.target,
    seconds: Number(t.seconds.toFixed(3)),
    events: s.events,
    sends: s.list.reduce((n, x) => n + x.sends, 0) + s.unnamedSends,
    unnamed_sends: s.unnamedSends,
    lost: t.lost,
    malformed: t.malformed,
    senders: s.list.map((x) => ({
      pid: x.pid,
      uid: x.uid,
      program: x.program,
      domain: x.domain,
      domain_source: x.domainSource,
      sends: x.sends,
      connects: x.connects,
      failed: x.failed,
      first: isoUs(x.firstUs),
      last_event: isoUs(x.lastUs),
      destinations: x.destinations,
    })),
  });
}
