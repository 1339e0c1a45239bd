/** What every check module shares: the check type, the finding builder, and kdump state other checks consult. */
import { type Facts } from '../../host/facts.js';
import type { DatumId } from '../../host/sources.js';
import type { Evidence, Finding, Remedy, Status } from '../model.js';

export interface CheckDef {
  id: string;
  title: string;
  /** Why the check matters: the same for every finding of the check. */
  why: string;
  /** Where this check's advice contradicts common hardening advice, and the trade-off (on the findings that give that advice). */
  tradeoff?: string;
  /** A fail of this check stays a fail under `--profile minimal`: it is evidence of the next panic or hang (policy.ts). */
  minimal?: boolean;
  /**
   * Hints for `runChecksAhead` on a live host: the live commands (catalog data) the check reads on
   * every run (`procConfigGz`: may read, started only where /boot has no config for the running
   * kernel), started all at once before the checks run, and the part of the process table it
   * reads (Facts.processes, or only threadCount), read while they run. A check that reads more
   * still gets it, only when it asks.
   */
  commands?: DatumId[];
  processTable?: 'processes' | 'threads';
  /** The decision: what the facts say, as one finding of `r`. */
  run: (r: Reporter, f: Facts) => Finding;
}

type Say = (summary: string, evidence: Evidence[], remedy?: Remedy | null) => Finding;

/** Findings of one check: its id, title and why come from the CheckDef; a body says only status, summary, evidence, remedy. */
export interface Reporter {
  ok: Say;
  info: Say;
  warn: Say;
  fail: Say;
  unknown: Say;
  /** A status decided at run time. */
  finding(status: Status, summary: string, evidence: Evidence[], remedy?: Remedy | null): Finding;
  /** The same findings, carrying the check's trade-off (the advice they give is the contested one). */
  withTradeoff: Omit<Reporter, 'withTradeoff'>;
}

export const MiB = 2 ** 20;

export function reporter(def: CheckDef): Reporter {
  const make = (tradeoff: string | undefined) => {
    const finding = (status: Status, summary: string, evidence: Evidence[], remedy: Remedy | null = null): Finding => {
      const f: Finding = { id: def.id, title: def.title, status, summary, evidence, why: def.why, remedy };
      if (tradeoff) f.tradeoff = tradeoff;
      return f;
    };
    const say =
      (status: Status): Say =>
      (summary, evidence, remedy) =>
        finding(status, summary, evidence, remedy);
    return { ok: say('ok'), info: say('info'), warn: say('warn'), fail: say('fail'), unknown: say('unknown'), finding };
  };
  return { ...make(undefined), withTradeoff: make(def.tradeoff) };
}

export function kdumpUnits(f: Facts) {
  return f.distro().family === 'debian' ? { units: ['kdump-tools.service'], sysv: ['kdump-tools'] } : { units: ['kdump.service', 'kdump-tools.service'], sysv: ['kdump', 'kdump-tools'] };
}

/** Crash kernel loaded (the service's real effect), from sysfs or the sos kdump outputs. */
export function crashLoaded(f: Facts): { loaded: boolean | null; ev: Evidence } {
  const d = f.src.get('kexecCrashLoaded');
  if (d.ok) return { loaded: d.text.trim() === '1', ev: f.src.evidence('kexec_crash_loaded', d) };
  const st = f.src.get('kdumpctlStatus');
  if (st.ok) {
    const operational = /Kdump is operational|kdump: Kdump is operational/i.test(st.text) ? true : /not operational|FAILED/i.test(st.text) ? false : null;
    return { loaded: operational, ev: f.src.evidence('kdumpctl status', st) };
  }
  const show = f.src.get('kdumpConfigShow');
  if (show.ok) return { loaded: /ready to kdump/i.test(show.text) ? true : /not ready/i.test(show.text) ? false : null, ev: f.src.evidence('kdump-config show', show) };
  // Live host without the file: the kernel has no kexec support at all.
  if (f.src.kind === 'live' && !d.notCollected && /does not exist/.test(d.reason))
    return { loaded: false, ev: { what: 'kexec_crash_loaded', value: null, path: null, reason: `${d.reason} (kernel without kexec/crash dump support)` } };
  return { loaded: null, ev: f.src.evidence('kexec_crash_loaded', d) };
}
