/**
 * Incidents found by `lantern analyze` as a forwarding source (`lantern forward --analyze FILE…`):
 * one message per incident on the timeline — kind, stable title, main task, where it was read —
 * with a severity from one table per kind. One stream per input file, the position being the line
 * of the last incident sent, so running it again over a log that grew sends only the new ones.
 */
import { hostname } from 'node:os';
import type { TimelineEntry } from '../analyze/group.js';
import type { IncidentKind } from '../analyze/model.js';
import type { ForwardLine } from './lines.js';
import { parseStamp } from './lines.js';
import type { Spool, SpoolLine, StreamPos } from './spool.js';

/** syslog severity of each incident kind (RFC 5424 numbers). */
export const KIND_SEVERITY: Record<IncidentKind, number> = {
  panic: 0,
  oops: 2,
  hard_lockup: 2,
  mce: 2,
  hw_error: 2,
  soft_lockup: 3,
  rcu_stall: 3,
  hung_task: 3,
  oom_kill: 3,
  io_error: 3,
  fs_error: 3,
  segfault: 4,
  warning: 4,
  shrink_slab: 4,
  sysrq_show_state: 5,
  boot: 6,
};

export function incidentLine(e: TimelineEntry, localHost: string, nowUs: number): ForwardLine {
  const wall = e.time.wall ? parseStamp(e.time.wall.replace(/(\.\d{1,6})\d*/, '$1')) : NaN;
  const ktime = e.time.kernel !== undefined ? Math.round(Number(e.time.kernel) * 1e6) : undefined;
  return {
    timeUs: Number.isFinite(wall) ? wall : nowUs,
    sender: e.host ?? localHost,
    host: e.host ?? localHost,
    facility: 0,
    level: KIND_SEVERITY[e.kind] ?? 4,
    ...(ktime !== undefined && Number.isFinite(ktime) ? { ktimeUs: ktime } : {}),
    text: `${e.kind}: ${e.title}${e.task ? ` (task ${e.task})` : ''}${e.partial ? ' [partial report]' : ''} at ${e.time.file}:${e.time.line}`,
    kind: 'record',
  };
}

export function analyzeSpool(timeline: TimelineEntry[]): Spool {
  const host = hostname();
  const byFile = new Map<string, TimelineEntry[]>();
  for (const e of timeline) {
    const l = byFile.get(e.time.file) ?? [];
    l.push(e);
    byFile.set(e.time.file, l);
  }
  for (const l of byFile.values()) l.sort((a, b) => a.time.line - b.time.line);
  const after = (stream: string, pos: StreamPos | null) => (byFile.get(stream) ?? []).filter((e) => e.time.line > (pos?.offset ?? 0));
  return {
    streams: () => [...byFile.keys()].sort(),
    read(stream, pos, maxBytes): SpoolLine[] {
      const out: SpoolLine[] = [];
      let bytes = 0;
      const now = Date.now() * 1000;
      for (const e of after(stream, pos)) {
        const line = incidentLine(e, host, now);
        out.push({ text: line.text, line, id: `analyze:${e.time.file}:${e.time.line}`, next: { file: 'lines', offset: e.time.line } });
        bytes += line.text.length + 64;
        if (bytes >= maxBytes) break;
      }
      return out;
    },
    backlog: (stream, pos) => after(stream, pos).length,
    skip: (_s, pos) => ({ pos, skippedLines: 0, skippedBytes: 0 }),
  };
}
