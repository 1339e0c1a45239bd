/**
 * Loki's push API body (`POST /loki/api/v1/push`, JSON form).
 *
 * Labels are few and bounded, as Loki wants (every label set is a stream with its own index
 * entry): `host` (the sender's host), `source` (netconsole, console, record, analyze) and `level`.
 * Everything else — sender with port, sequence number, kernel time, markers, the line's stable id —
 * goes in the line itself as JSON, so `{source="netconsole"} | json | seq > 100` works in Grafana.
 */
import type { ForwardLine } from './lines.js';
import { LEVEL_NAMES } from './lines.js';

export interface LokiStream {
  stream: Record<string, string>;
  values: [string, string][];
}

/** Label values are kept short and printable: a hostile sender name cannot blow up the index. */
function labelValue(v: string): string {
  return v.replace(/[^\x20-\x7e]/g, '_').slice(0, 128) || 'unknown';
}

/** Nanoseconds since the epoch as Loki wants them: a decimal string. */
export function lokiTime(timeUs: number, fallbackUs: number): string {
  const us = Number.isFinite(timeUs) && timeUs > 0 ? Math.floor(timeUs) : Math.floor(fallbackUs);
  return `${us}000`;
}

export function lokiLine(l: ForwardLine, id: string): string {
  const o: Record<string, unknown> = { sender: l.sender };
  if (l.seq !== undefined) o.seq = l.seq;
  if (l.ktimeUs !== undefined) o.ktime = (l.ktimeUs / 1e6).toFixed(6);
  if (l.facility !== undefined) o.facility = l.facility;
  if (l.kind !== 'line' && l.kind !== 'record') o.marker = l.kind;
  if (l.tag) o.tag = l.tag;
  o.id = id;
  o.text = l.text;
  return JSON.stringify(o);
}

/** Groups lines into streams by their label set, keeping each stream's lines in order. */
export function lokiBody(lines: { line: ForwardLine; id: string }[], source: string, nowUs: number): { streams: LokiStream[] } {
  const byKey = new Map<string, LokiStream>();
  for (const { line, id } of lines) {
    const labels = {
      host: labelValue(line.host || 'lantern'),
      source: labelValue(source),
      level: line.level !== undefined && line.level < 8 ? LEVEL_NAMES[line.level]! : line.kind === 'marker' || line.kind === 'note' ? 'lantern' : 'unknown',
    };
    const key = `${labels.host}\0${labels.level}`;
    let s = byKey.get(key);
    if (!s) byKey.set(key, (s = { stream: labels, values: [] }));
    s.values.push([lokiTime(line.timeUs, nowUs), lokiLine(line, id)]);
  }
  return { streams: [...byKey.values()] };
}
