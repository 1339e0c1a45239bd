/**
 * What a finding means for the verdict on this host: the profile (which checks fail and which
 * only warn) and the waivers (findings accepted on purpose). Pure: findings in, findings out.
 */
import type { Evidence, Finding, FindingWaiver, Status } from './model.js';
import type { Waiver } from './waivers.js';
import { CHECKS } from './checks/index.js';

export const PROFILES = ['minimal', 'standard', 'strict'] as const;
export type Profile = (typeof PROFILES)[number];

/**
 * Checks whose failures `minimal` keeps (`minimal: true` on their CheckDef): the evidence of the
 * next panic or hang (a crash dump, SysRq dumps, messages leaving the box, the hung-task report).
 */
export const MINIMAL_CHECKS: readonly string[] = CHECKS.filter((c) => c.minimal).map((c) => c.id);

export function inGroup(id: string, match: string): boolean {
  return id === match || id.startsWith(match + '.');
}

/**
 * The status a check's own status gets under a profile. `standard` is the checks' own judgement;
 * `strict` turns every warn into a fail; `minimal` keeps fails only for MINIMAL_CHECKS and makes
 * every other fail a warn. So minimal <= standard <= strict for every check and status, and
 * ok, info and unknown are never changed (a datum that was not collected is not a failure).
 */
export function profileStatus(profile: Profile, id: string, status: Status): Status {
  if (profile === 'strict' && status === 'warn') return 'fail';
  if (profile === 'minimal' && status === 'fail' && !MINIMAL_CHECKS.includes(id)) return 'warn';
  return status;
}

/** What became of a waiver in this run (reported in --json `waivers` and, for problems, as a finding). */
export type WaiverState = 'applied' | 'unused' | 'expired' | 'unknown-id' | 'not-selected';

export interface WaiverReport {
  match: string;
  reason: string | null;
  by: string | null;
  where: string;
  expires: string | null;
  state: WaiverState;
  /** Finding ids this waiver hides (state applied) or would hide (expired). */
  findings: string[];
}

export interface PolicyResult {
  findings: Finding[];
  waivers: WaiverReport[];
}

/** The finding that reports expired and unknown-id waivers, so waivers do not rot silently. */
export const WAIVERS_FINDING_ID = 'waivers';

function findingWaiver(w: Waiver, state: FindingWaiver['state'], waivedStatus?: Status): FindingWaiver {
  const fw: FindingWaiver = { match: w.match, reason: w.reason, by: w.by, where: w.where, expires: w.expires, state };
  if (waivedStatus) fw.waivedStatus = waivedStatus;
  return fw;
}

/** Command-line waivers win over the file, an exact id over a group, then the first given. */
function preference(w: Waiver, id: string): number {
  return (w.fromFile ? 0 : 2) + (w.match === id ? 1 : 0);
}

/**
 * Apply the profile, then the waivers. `allIds` are every check id Lantern knows (a waiver
 * naming none of them is reported as unknown), `now` decides expiry. Adds `checkStatus` to
 * every finding; a waived warn/fail gets status `waived` and its waiver; a finding matched
 * only by an expired waiver keeps its status and shows the expired waiver.
 */
export function applyPolicy(findings: Finding[], profile: Profile, waivers: Waiver[], allIds: string[], now: Date): PolicyResult {
  const nowMs = now.getTime();
  const expired = (w: Waiver) => w.expiresAt !== null && nowMs >= w.expiresAt;
  const hits = new Map<Waiver, string[]>(waivers.map((w) => [w, []]));
  const out = findings.map((f0): Finding => {
    const f: Finding = { ...f0, checkStatus: f0.status, status: profileStatus(profile, f0.id, f0.status) };
    const matching = waivers.filter((w) => inGroup(f.id, w.match));
    const live = matching.filter((w) => !expired(w)).sort((a, b) => preference(b, f.id) - preference(a, f.id));
    if ((f.status === 'warn' || f.status === 'fail') && live.length) {
      const w = live[0]!;
      hits.get(w)!.push(f.id);
      return { ...f, waiver: findingWaiver(w, 'applied', f.status), status: 'waived' };
    }
    const old = matching.find(expired);
    if (old && !live.length && (f.status === 'warn' || f.status === 'fail')) {
      hits.get(old)!.push(f.id);
      return { ...f, waiver: findingWaiver(old, 'expired') };
    }
    return f;
  });
  const selected = new Set(findings.map((f) => f.id));
  const reports = waivers.map((w): WaiverReport => {
    const known = allIds.some((id) => inGroup(id, w.match));
    const state: WaiverState = !known ? 'unknown-id' : expired(w) ? 'expired' : hits.get(w)!.length ? 'applied' : ![...selected].some((id) => inGroup(id, w.match)) ? 'not-selected' : 'unused';
    return { match: w.match, reason: w.reason, by: w.by, where: w.where, expires: w.expires, state, findings: hits.get(w)! };
  });
  // An expired waiver is a problem of this run only when it names a check that ran: `--only kdump`
  // is not failed by an expired audit waiver (it is still listed as expired).
  const problems = reports.filter((r) => r.state === 'unknown-id' || (r.state === 'expired' && [...selected].some((id) => inGroup(id, r.match))));
  if (problems.length) out.push(waiverProblemsFinding(problems));
  return { findings: out, waivers: reports };
}

function waiverProblemsFinding(problems: WaiverReport[]): Finding {
  const describe = (p: WaiverReport) => (p.state === 'expired' ? `${p.match} expired ${p.expires}` : `${p.match} names no check`);
  const evidence: Evidence[] = problems.map((p) => ({
    what: `waiver ${p.match}`,
    value: `${p.state === 'expired' ? `expired ${p.expires}` : 'no check has this id or group'}; reason: ${p.reason ?? '(none given)'}`,
    path: p.where,
  }));
  const n = problems.length;
  return {
    id: WAIVERS_FINDING_ID,
    title: 'waivers are current and name real checks',
    status: 'warn',
    summary: `${n} waiver${n === 1 ? '' : 's'} to review: ${problems.map((p) => `${describe(p)} (${p.where})`).join('; ')}`,
    evidence,
    why: 'A waiver accepts a known gap for a while; an expired one no longer hides its finding, and one that names no check (a typo, or a check renamed) hides nothing while its author believes it does.',
    remedy: {
      kind: 'file',
      text: 'Renew (a new expires date, after review) or remove expired waivers; correct or remove waivers whose id names no check (lantern check --help lists the ids).',
      commands: [],
      safe: false,
    },
    checkStatus: 'warn',
  };
}
