/** What a panic, oops or lockup does. */
import { type CheckDef, crashLoaded } from './common.js';
import { num } from '../../host/facts.js';
import type { Evidence } from '../model.js';
import { sysctlRemedy } from '../remedies.js';

export const panicSettings: CheckDef = {
  id: 'panic.settings',
  title: 'what a panic, oops or lockup does',
  why: 'These settings decide whether an oops or soft lockup becomes a panic (and so a vmcore with kdump) and whether the server reboots afterwards or stays stopped with the panic on its console.',
  run(r, f) {
    const keys = ['kernel.panic', 'kernel.panic_on_oops', 'kernel.softlockup_panic', 'kernel.watchdog_thresh', 'kernel.nmi_watchdog'];
    const vals = new Map<string, number | null>();
    const ev: Evidence[] = [];
    for (const k of keys) {
      const d = f.src.sysctl(k);
      vals.set(k, num(d));
      ev.push(f.src.evidence(k, d));
    }
    if ([...vals.values()].every((v) => v === null)) return r.unknown('no panic sysctl collected', ev);
    const panic = vals.get('kernel.panic');
    const oops = vals.get('kernel.panic_on_oops');
    const parts: string[] = [];
    if (panic !== null && panic !== undefined)
      parts.push(panic === 0 ? 'a panic leaves the server stopped (kernel.panic=0)' : panic < 0 ? 'a panic reboots at once' : `a panic reboots after ${panic} s`);
    if (oops !== null && oops !== undefined) parts.push(oops ? 'an oops panics' : 'an oops kills only the task (panic_on_oops=0)');
    const soft = vals.get('kernel.softlockup_panic');
    if (soft !== null && soft !== undefined) parts.push(soft ? 'a soft lockup panics' : 'soft lockups are reported only');
    const thresh = vals.get('kernel.watchdog_thresh');
    if (thresh !== null && thresh !== undefined) parts.push(thresh === 0 ? 'lockup detector off (watchdog_thresh=0)' : `soft lockup after ${2 * thresh} s`);
    const cl = crashLoaded(f);
    ev.push(cl.ev);
    // panic_on_oops=0 with working kdump wastes the chance of a vmcore of the first oops.
    if (oops === 0 && cl.loaded === true)
      return r.info(
        `${parts.join('; ')}; with kdump loaded, kernel.panic_on_oops=1 would capture a vmcore of the first oops`,
        ev,
        sysctlRemedy('kernel.panic_on_oops', '1', 'Panic (and so dump) on the first oops instead of running on with a damaged kernel.', false),
      );
    return r.info(parts.join('; '), ev);
  },
};
