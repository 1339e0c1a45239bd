/**
 * Text forms of access lists (pure): TOMOYO's per-domain layout (domain line, then the sorted,
 * numbered access lines), the failed list with errno, times and counts, and the live log line of
 * `record --access-log` in the talk's rough-profiling form.
 */
import type { AccessEntry } from './lists.js';

/** ISO 8601 UTC to the second. */
export function isoSecond(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** TOMOYO orders a domain's lines by keyword, then operands: a plain string sort does that. */
export function sortEntries(entries: AccessEntry[]): AccessEntry[] {
  return [...entries].sort((a, b) => (a.line < b.line ? -1 : a.line > b.line ? 1 : a.errno < b.errno ? -1 : a.errno > b.errno ? 1 : 0));
}

export interface DomainList {
  domain: string;
  entries: AccessEntry[];
  /** Accesses that did not fit in the per-domain bound. */
  overflow: number;
}

/**
 * One domain in TOMOYO's layout:
 * ```
 * <kernel> /sbin/init /usr/sbin/rsyslogd
 *
 *    1: file append /var/log/messages
 *    2: file read /etc/rsyslog.conf
 * ```
 * `failed` lists the failed operations instead, each with its errno, count and first/last time.
 */
export function renderDomain(d: DomainList, failed: boolean): string[] {
  const list = sortEntries(d.entries.filter((e) => (failed ? e.errno !== '' : e.errno === '')));
  const out = [d.domain, ''];
  const w = Math.max(4, String(list.length).length + 1);
  list.forEach((e, i) => {
    const n = `${i + 1}:`.padStart(w);
    out.push(failed ? `${n} ${e.line} ${e.errno}  (${e.count}×, first ${isoSecond(e.firstUs)}, last ${isoSecond(e.lastUs)})` : `${n} ${e.line}`);
  });
  if (d.overflow > 0) out.push(`  (${d.overflow} accesses did not fit in the per-domain limit and are not listed)`);
  return out;
}

/** ctime-like `Mon May  5 13:44:38 2014`, in UTC (what the talk's log shows, without a zone). */
export function ctimeUtc(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/**
 * `[Mon May  5 13:44:38 2014] read /etc/pam.d/login by init(1) /bin/sh /sbin/mingetty /bin/login`:
 * the operation (without its category word), who (comm and pid of the acting process) and the
 * domain's programs after `<kernel>`. A failure ends with its errno.
 */
export function accessLogLine(timeUs: number, operation: string, errno: string | undefined, comm: string, pid: number, domain: string): string {
  const programs = domain.startsWith('<kernel>') ? domain.slice('<kernel>'.length).trim() : domain;
  return `[${ctimeUtc(timeUs)}] ${operation}${errno ? ` ${errno}` : ''} by ${comm}(${pid})${programs ? ` ${programs}` : ''}`;
}

/**
 * The per-domain summary at the end of `record --access-log`, grouped by operation like the talk's
 * `domain: … / execve: / read: / write:`.
 */
export function summaryLines(lists: DomainList[]): string[] {
  const out: string[] = [];
  for (const d of [...lists].sort((a, b) => a.domain.localeCompare(b.domain))) {
    out.push(`domain: ${d.domain}`);
    const groups = new Map<string, string[]>();
    for (const e of sortEntries(d.entries)) {
      const [, op, ...rest] = e.line.split(' ');
      const name = op === 'execute' ? 'execve' : e.errno ? `${op} (failed)` : op!;
      const list = groups.get(name) ?? [];
      list.push(`${rest.join(' ')}${e.errno ? ` ${e.errno}` : ''}`);
      groups.set(name, list);
    }
    for (const [g, items] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
      out.push(`  ${g}:`);
      for (const i of items) out.push(`    ${i}`);
    }
    if (d.overflow) out.push(`  (${d.overflow} accesses over the per-domain limit)`);
  }
  return out;
}
