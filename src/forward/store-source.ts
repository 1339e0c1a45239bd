/**
 * A recorder's store as a forwarding source (`lantern forward --store PATH`): each record after
 * the delivered one, in id order, as one message (the text `lantern events` prints, the type,
 * pid and program as structured fields). Read-only, on a store a recorder is writing.
 *
 * Records go in id order. The recorder writes each batch of records in one transaction with ids
 * above every id written before, so a cursor on the id loses nothing; `lantern events` stays the
 * complete view if a detector ever wrote late.
 *
 * Severity per record type — one table: a signal death or OOM kill is what on-call wants paged,
 * an exec is routine.
 */
import { hostname } from 'node:os';
import { renderLine } from '../record/render.js';
import { Store, type StoredEvent } from '../record/store/store.js';
import type { ForwardLine } from './lines.js';
import type { Spool, SpoolLine, StreamPos } from './spool.js';

/** syslog severity of each stored type (RFC 5424 numbers): the recorder's record types and its slow_* ones; types not listed: info. */
export const RECORD_SEVERITY: Partial<Record<string, number>> = {
  hung: 3,
  lost: 4,
  signal: 4,
  slab: 4,
  slow_stat: 4,
  slow_io: 4,
  rule: 5,
  dentry: 6,
  exec: 6,
  exit: 6,
};

const STREAM = 'events';

export function recordLine(e: StoredEvent, domainName: (id: number) => string, host: string): ForwardLine {
  // The text without its leading [time]: the message carries the time itself.
  const text = renderLine(e, domainName).replace(/^\[[^\]]*\] /, '');
  const oom = e.type === 'signal' && e.detail === 'oom-killer';
  return {
    timeUs: e.time_us,
    sender: host,
    host,
    facility: 1, // user-level: the recorder's view of processes, not the kernel's log
    level: oom ? 3 : (RECORD_SEVERITY[e.type] ?? 6),
    seq: e.id,
    text: `${e.type}${oom ? ' oom-kill' : ''}: ${text}`,
    kind: 'record',
  };
}

export function storeSpool(path: string): Spool {
  let store: Store | null = null;
  const open = (): Store => (store ??= Store.openReadonly(path));
  const host = hostname();
  const names = new Map<number, string>();
  const nameOf = (id: number) => {
    let n = names.get(id);
    if (n === undefined) {
      n = open().name(id);
      if (names.size > 100_000) names.clear();
      names.set(id, n);
    }
    return n;
  };
  const after = (pos: StreamPos | null) => (pos ? pos.offset : 0);
  return {
    streams: () => [STREAM],
    read(_stream, pos, maxBytes): SpoolLine[] {
      const out: SpoolLine[] = [];
      let bytes = 0;
      try {
        for (const e of open().iterate({ afterId: after(pos), limit: 5000 })) {
          const line = recordLine(e, nameOf, host);
          out.push({ text: line.text, line, id: `record:${e.id}`, next: { file: STREAM, offset: e.id } });
          bytes += line.text.length + 64;
          if (bytes >= maxBytes) break;
        }
      } catch {
        // A store being replaced or not there yet: tried again next time.
        store?.close();
        store = null;
      }
      return out;
    },
    backlog(_stream, pos): number {
      try {
        return Math.max(0, open().lastId() - after(pos));
      } catch {
        return 0;
      }
    },
    skip: (_stream, pos) => ({ pos, skippedLines: 0, skippedBytes: 0 }),
    close() {
      store?.close();
      store = null;
    },
  };
}
