/**
 * The enricher: audit text in, the same text out with the process history added to every
 * record that has a pid. Bytes are handled as latin1 (one char per byte), so any input —
 * records, other lines, invalid UTF-8 — comes out byte for byte. Pure but for the injected
 * resolver, clock and sleep.
 */
import { formatHistory, PROCESS_HISTORY_FIELD, UNKNOWN_HISTORY } from './history.js';
import { parseAuditRecord, withField } from './record.js';
import type { Resolver } from './resolve.js';

/** Longest line held in memory; a longer one passes through in pieces, unchanged, counted once. */
export const MAX_LINE_BYTES = 1 << 20;

export interface EnrichCounts {
  /** Lines read (a last line without newline counts). */
  lines: number;
  /** Audit records among them. */
  records: number;
  /** Records given their history from the store. */
  fromStore: number;
  /** Records given their history from /proc (live process, not in the store). */
  fromProc: number;
  /** Records with a pid whose history is unknown: given `proc_history=?`. */
  unknownPid: number;
  /** Records without a pid: unchanged. */
  noPid: number;
  /** Records that already had the field (enriched before): unchanged. */
  alreadyEnriched: number;
  /** Records with a pid from another host (`node=` not this host's name): unchanged. */
  otherNode: number;
  /** Lines that are not audit records (or longer than MAX_LINE_BYTES): unchanged. */
  passedThrough: number;
}

export function emptyCounts(): EnrichCounts {
  return { lines: 0, records: 0, fromStore: 0, fromProc: 0, unknownPid: 0, noPid: 0, alreadyEnriched: 0, otherNode: 0, passedThrough: 0 };
}

/** The stderr summary. records = fromStore + fromProc + unknownPid + noPid + alreadyEnriched + otherNode; lines = records + passedThrough. */
export function summaryLine(c: EnrichCounts): string {
  return (
    `lantern audit enrich: ${c.lines} lines read: ${c.records} audit records ` +
    `(${c.fromStore + c.fromProc} enriched: ${c.fromStore} from the store, ${c.fromProc} from /proc; ` +
    `${c.unknownPid} unknown pid; ${c.noPid} without pid, unchanged` +
    `${c.alreadyEnriched ? `; ${c.alreadyEnriched} already enriched, unchanged` : ''}` +
    `${c.otherNode ? `; ${c.otherNode} from other hosts (node=), unchanged` : ''}), ${c.passedThrough} other lines passed through`
  );
}

export interface EnrichOptions {
  resolver: Resolver;
  /**
   * Names of this host (`node=` values whose pids are ours). A record from another node (a
   * central log server's audit.log) must not get the history of a local process with its pid.
   */
  localNodes?: string[];
  /**
   * Wait until a record is this old before resolving it, so the recorder (which writes in
   * batches every poll) has stored the exec that precedes it. Old records do not wait.
   */
  settleMs: number;
  nowMs?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Enricher {
  readonly counts = emptyCounts();
  private pending = '';
  /** Inside an over-long line: its pieces pass through until the newline. */
  private inLongLine = false;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: EnrichOptions) {
    this.now = opts.nowMs ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Feed a chunk (latin1 string); returns the output for the complete lines in it. */
  async push(chunk: string): Promise<string> {
    let out = '';
    let text = this.pending + chunk;
    this.pending = '';
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const line = text.slice(start, nl);
      start = nl + 1;
      if (this.inLongLine) {
        out += line + '\n';
        this.inLongLine = false;
        continue;
      }
      out += (await this.line(line)) + '\n';
    }
    text = text.slice(start);
    if (this.inLongLine) return out + text;
    if (text.length > MAX_LINE_BYTES) {
      this.counts.lines++;
      this.counts.passedThrough++;
      this.inLongLine = true;
      return out + text;
    }
    this.pending = text;
    return out;
  }

  /**
   * End of one file or of the input: its last line when it had no newline. When more input
   * follows (the next file, the file after a rotation) that line is ended with a newline, so
   * it is not glued to the next file's first record; at the very end it stays as it was.
   */
  async end(moreFollows = false): Promise<string> {
    const rest = this.pending;
    this.pending = '';
    const nl = moreFollows ? '\n' : '';
    if (this.inLongLine) {
      this.inLongLine = false;
      return rest + nl;
    }
    return rest.length ? (await this.line(rest)) + nl : '';
  }

  private async line(line: string): Promise<string> {
    this.counts.lines++;
    const rec = parseAuditRecord(line);
    if (!rec) {
      this.counts.passedThrough++;
      return line;
    }
    this.counts.records++;
    if (rec.pid === null) {
      this.counts.noPid++;
      return line;
    }
    if (rec.node !== null && !(this.opts.localNodes ?? []).includes(rec.node)) {
      this.counts.otherNode++;
      return line;
    }
    if (rec.fields.includes(PROCESS_HISTORY_FIELD)) {
      // Enriching an enriched log again (a re-run, a restarted follower) must not add a second one.
      this.counts.alreadyEnriched++;
      return line;
    }
    const wait = rec.timeMs + this.opts.settleMs - this.now();
    if (wait > 0) await this.sleep(Math.min(wait, this.opts.settleMs));
    const r = this.opts.resolver.resolve(rec.pid, rec.timeMs * 1000);
    if (r.source === 'unknown') {
      this.counts.unknownPid++;
      return withField(line, rec, PROCESS_HISTORY_FIELD, UNKNOWN_HISTORY);
    }
    if (r.source === 'store') this.counts.fromStore++;
    else this.counts.fromProc++;
    return withField(line, rec, PROCESS_HISTORY_FIELD, formatHistory(r.steps));
  }
}

/** Removes what the enricher added: ` proc_history=…` (the last raw field). For checks and tools. */
export function stripHistory(line: string): string {
  const rec = parseAuditRecord(line);
  if (!rec) return line;
  const raw = line.slice(0, rec.rawEnd);
  const at = raw.lastIndexOf(` ${PROCESS_HISTORY_FIELD}=`);
  if (at < 0) return line;
  const value = raw.slice(at + PROCESS_HISTORY_FIELD.length + 2);
  // Only our own value shapes: `?` or one quoted string with no quote inside.
  if (value !== UNKNOWN_HISTORY && !/^"[^"]*"$/.test(value)) return line;
  return raw.slice(0, at) + line.slice(rec.rawEnd);
}
