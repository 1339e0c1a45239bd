/**
 * Audit records as auditd writes them (`type=T msg=audit(EPOCH.MS:SERIAL): name=value …`),
 * RAW or ENRICHED (the interpreted part after a 0x1d byte). Pure: no I/O.
 *
 * The parser finds only what enrichment needs — the record's time, its top-level `pid=` and
 * where its raw fields end — and never rewrites a byte of the line: the added field is
 * inserted at that point, so removing it gives back the input exactly.
 */

/** Separator auditd puts before the interpreted fields of log_format=ENRICHED. */
export const ENRICHED_SEPARATOR = '\x1d';

export interface AuditRecord {
  /** `node=NAME` before the type (auditd's name_format, audisp-remote), or null. */
  node: string | null;
  type: string;
  /** Record time from msg=audit(EPOCH.MS:SERIAL), ms since the epoch. */
  timeMs: number;
  serial: number;
  /** The record's own `pid=` (not `ppid=`, `opid=`, nor one inside msg='…'), or null. */
  pid: number | null;
  /** Index in the line where the raw fields end: before the 0x1d of ENRICHED, or at the end. */
  rawEnd: number;
  /** Names of its top-level fields (to see a record that was already enriched). */
  fields: string[];
}

const HEAD = /^(?:node=(\S+) )?type=([A-Za-z0-9_]+) msg=audit\((\d{1,12})\.(\d{3}):(\d{1,20})\):/;

/** The record in one line (without its newline), or null when the line is not an audit record. */
export function parseAuditRecord(line: string): AuditRecord | null {
  const m = HEAD.exec(line);
  if (!m) return null;
  const sep = line.indexOf(ENRICHED_SEPARATOR);
  const rawEnd = sep >= 0 ? sep : line.length;
  const fields: string[] = [];
  const pid = topLevelPid(line, m[0].length, rawEnd, fields);
  return { node: m[1] ?? null, type: m[2]!, timeMs: Number(m[3]) * 1000 + Number(m[4]), serial: Number(m[5]), pid, rawEnd, fields };
}

/**
 * Walks the name=value fields between `from` and `to`. Values may be "double" or 'single'
 * quoted (USER_* records carry msg='op=… pid=…' with fields of their own, which are skipped).
 * A pid that is not a plain decimal (e.g. `pid=?`) counts as no pid.
 */
function topLevelPid(line: string, from: number, to: number, names: string[]): number | null {
  let i = from;
  let pid: number | null = null;
  while (i < to) {
    while (i < to && line[i] === ' ') i++;
    const nameStart = i;
    while (i < to && line[i] !== '=' && line[i] !== ' ') i++;
    if (i >= to || line[i] === ' ') continue; // a bare word: not a field
    const name = line.slice(nameStart, i);
    i++; // '='
    let value: string;
    const q = line[i];
    if (q === '"' || q === "'") {
      const close = line.indexOf(q, i + 1);
      const end = close < 0 || close > to ? to : close + 1;
      value = line.slice(i, end);
      i = end;
    } else {
      const sp = line.indexOf(' ', i);
      const end = sp < 0 || sp > to ? to : sp;
      value = line.slice(i, end);
      i = end;
    }
    names.push(name);
    if (name === 'pid' && pid === null && /^\d{1,10}$/.test(value)) pid = Number(value);
  }
  return pid;
}

/** The line with ` NAME=VALUE` inserted where its raw fields end (VALUE already formatted). */
export function withField(line: string, rec: AuditRecord, name: string, value: string): string {
  return `${line.slice(0, rec.rawEnd)} ${name}=${value}${line.slice(rec.rawEnd)}`;
}
