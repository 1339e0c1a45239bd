/**
 * The finding model of `lantern check`: what one check says about one host.
 * Pure types and helpers; no I/O.
 */

/**
 * What a check can say, plus `waived`: a warn or fail that a waiver accepts (set only by the
 * waiver step in policy.ts, never by a check). A waived finding does not count toward the verdict.
 */
export type Status = 'ok' | 'info' | 'warn' | 'fail' | 'unknown' | 'waived';

/** Order used for the worst-of verdict and for grouping the table (worst first). */
export const STATUS_RANK: Record<Status, number> = { ok: 0, waived: 0, info: 1, unknown: 2, warn: 3, fail: 4 };
/** Waived findings sit right after the open problems: accepted, but still problems. */
export const STATUS_ORDER: Status[] = ['fail', 'warn', 'waived', 'unknown', 'info', 'ok'];

/** One piece of evidence: the value seen and the file (or command) it came from. */
import type { Evidence } from '../host/sources.js';

export type { Evidence };

export type RemedyKind = 'sysctl' | 'cmdline' | 'service' | 'package' | 'file' | 'manual';

export interface Remedy {
  kind: RemedyKind;
  /** One or two sentences on what to change. */
  text: string;
  /** Exact shell commands (for the documentation and the fix script). */
  commands: string[];
  /** Whether `--fix-script` may emit the commands uncommented (no reboot, no memory reservation, no process killed). */
  safe: boolean;
}

export interface Finding {
  /** Stable id, e.g. "kdump.reserved"; documented in docs/check.md. */
  id: string;
  title: string;
  status: Status;
  /** One line: the verdict in words (for unknown: the reason). */
  summary: string;
  evidence: Evidence[];
  /** One or two sentences: why this matters for keeping evidence of trouble. */
  why: string;
  /** What to change; null when nothing needs changing. */
  remedy: Remedy | null;
  /** Where this advice contradicts common hardening advice, and the trade-off. */
  tradeoff?: string;
  /** The status the check itself gave, before the profile and any waiver (set by policy.ts). */
  checkStatus?: Status;
  /** The waiver that matched this finding: applied (status `waived`) or expired (status unchanged). */
  waiver?: FindingWaiver;
}

/** A waiver as shown on the finding it matched. */
export interface FindingWaiver {
  /** The check id or group the waiver names, as written. */
  match: string;
  reason: string | null;
  by: string | null;
  /** Where it was given: "--waive" or "<file>:<line>". */
  where: string;
  /** Last day it applies (YYYY-MM-DD), or the instant it stops applying (ISO 8601); null: no expiry. */
  expires: string | null;
  state: 'applied' | 'expired';
  /** For an applied waiver, the status it hides (after the profile). */
  waivedStatus?: Status;
}

export function worstStatus(statuses: Iterable<Status>): Status {
  let worst: Status = 'ok';
  for (const s of statuses) if (STATUS_RANK[s] > STATUS_RANK[worst]) worst = s;
  return worst;
}

/** Exit code for a verdict: 0 when nothing is warn/fail, 1 on warn, 2 on fail (src/common/exit.ts). */
export function exitCodeForFindings(findings: Finding[]): 0 | 1 | 2 {
  let code: 0 | 1 | 2 = 0;
  for (const f of findings) {
    if (f.status === 'fail') return 2;
    if (f.status === 'warn') code = 1;
  }
  return code;
}

export function countByStatus(findings: Finding[]): Record<Status, number> {
  const c: Record<Status, number> = { ok: 0, info: 0, warn: 0, fail: 0, unknown: 0, waived: 0 };
  for (const f of findings) c[f.status]++;
  return c;
}
