/**
 * The process history as one audit field, in TaskTracker's form. Pure.
 *
 * TaskTracker (../shared/anchors/tasktracker/tt.c, Tetsuo Handa) appends to each exec a step
 * and writes the whole chain, double-quoted, as the last field of every audit record of the
 * process. From its source:
 *  - steps are joined by `=>`, oldest first; a step is written at exec (tt_update_record), so
 *    its time is the exec's, in UTC (get_seconds);
 *  - comm bytes other than [A-Za-z0-9._-] are written as `\ooo` (three octal digits), so the
 *    value never holds a space, quote or `=` that a field parser could take for a field;
 *  - the history is bounded (1 KiB record): when it would not fit, the oldest steps are
 *    dropped and the value then starts with `=>` to say so.
 * The step itself is the form of the first TaskTracker and of `lantern history`:
 * `init(2014/05/04-01:04:33)` (0.3 changed it to `name=…;pid=…;start=…`, which would put
 * `pid=` inside the value, where ausearch's substring search for `pid=` can find it).
 *
 * TaskTracker writes the value into `subj=`, as the LSM it is. A user-space enricher must not:
 * records already carry the LSM's own `subj=` (AppArmor, SELinux) and ausearch -se searches it.
 * The field is named PROCESS_HISTORY_FIELD instead: a name that is not, and does not end with,
 * any field name auditd or ausearch look up.
 */
import { historyStep } from '../record/process/domains.js';

export const PROCESS_HISTORY_FIELD = 'proc_history';
/** The value when no process history is known for the record's pid: audit's own "unknown" (`exe=?`). */
export const UNKNOWN_HISTORY = '?';
/** TaskTracker's bound: its history buffer is 1 KiB less a list head, an rcu head and a pointer. */
export const MAX_HISTORY_BYTES = 1000;

export interface HistoryStep {
  /** comm (or program basename) of the image. */
  comm: string;
  /** Wall-clock µs of the exec (or the process start, for a step read from /proc). */
  timeUs: number;
}

/** TaskTracker's comm escaping: every byte outside [A-Za-z0-9._-] as \ooo. */
export function escapeComm(comm: string): string {
  let out = '';
  for (const byte of Buffer.from(comm, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9._-]/.test(c)) out += c;
    else out += '\\' + byte.toString(8).padStart(3, '0');
  }
  return out;
}

/** `"init(2014/05/04-01:04:33)=>sh(2014/05/04-01:07:03)"`, or `?` for no steps. */
export function formatHistory(steps: HistoryStep[], maxBytes = MAX_HISTORY_BYTES): string {
  if (steps.length === 0) return UNKNOWN_HISTORY;
  const parts = steps.map((s) => historyStep(escapeComm(s.comm || '?'), s.timeUs));
  // Drop the oldest steps until it fits (all ASCII after escaping: length = bytes).
  let first = 0;
  let len = parts.reduce((n, p) => n + p.length, 0) + 2 * (parts.length - 1);
  // Two quotes, and `=>` in front once a step was dropped.
  while (len + 2 + (first > 0 ? 2 : 0) > maxBytes && first < parts.length - 1) {
    len -= parts[first]!.length + 2;
    first++;
  }
  const body = parts.slice(first).join('=>');
  return `"${first > 0 ? '=>' : ''}${body}"`;
}
