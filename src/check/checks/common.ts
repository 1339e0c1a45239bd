/** What every check module shares: the check type, the finding builder, and kdump state other checks consult. */
import { type Facts } from '../../host/facts.js';
import type { Evidence, Finding, Remedy, Status } from '../model.js';

export interface CheckDef {
  id: string;
  title: string;
  /** Why the check matters: the same for every finding of the check, so it is data, not a run() local. */
  why: string;
  run: (f: Facts) => Finding;
}

export const MiB = 2 ** 20;

export function finding(id: string, title: string, status: Status, summary: string, evidence: Evidence[], why: string, remedy: Remedy | null, tradeoff?: string): Finding {
  const f: Finding = { id, title, status, summary, evidence, why, remedy };
  if (tradeoff) f.tradeoff = tradeoff;
  return f;
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
  if (f.src.kind === 'live' && !d.notCollected && /does not exist/.test(d.reason)) return { loaded: false, ev: { what: 'kexec_crash_loaded', value: null, path: null, reason: `${d.reason} (kernel without kexec/crash dump support)` } };
  return { loaded: null, ev: f.src.evidence('kexec_crash_loaded', d) };
}
