/** Known uptime bugs (208.5 days). */
import type { CheckDef } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import { versionBefore } from '../../host/formats/kernel.js';
import { parseBtime, parseProcUptime, parseUptimeCommand } from '../../host/formats/proc.js';
import { rpmvercmp } from '../../host/formats/versions.js';

/** RHEL 6 kernels before this one have the 208.5-day sched_clock / cyc2ns problems (per the 2014 talk). */
export const RHEL6_UPTIME_FIX = '358.23.2.el6';
const DAY = 86400;
const SCHED_CLOCK_DAYS = 208.5;

function formatUptime(secs: number): string {
  if (secs >= DAY) return `${(secs / DAY).toFixed(1)} days`;
  if (secs >= 3600) return `${(secs / 3600).toFixed(1)} hours`;
  return `${Math.floor(secs / 60)} min`;
}

export const uptimeBugs: CheckDef = {
  id: 'uptime.bugs',
  title: 'known uptime bugs (208.5 days)',
  why: 'x86 kernels with the sched_clock overflow (RHEL 6 before 2.6.32-358.23.2.el6, upstream 2.6.28–3.1.4) can panic or hang at 208.5 days of uptime, or after a warm reboot of hardware powered on that long.',
  run(r, f) {
    const ev: Evidence[] = [];
    const k = f.kernel();
    ev.push(k.ev);
    const up = f.src.get('uptime');
    let secs: number | null = null;
    if (up.ok) secs = /^\s*\d+(\.\d+)?\s+\d+(\.\d+)?\s*$/.test(up.text) ? parseProcUptime(up.text) : parseUptimeCommand(up.text);
    let boot: Date | null = null;
    const bt = f.src.get('procStat');
    const btime = bt.ok ? parseBtime(bt.text) : null;
    if (btime !== null) boot = new Date(btime * 1000);
    else if (secs !== null && f.src.kind === 'live') boot = new Date(Date.now() - secs * 1000);
    else if (secs !== null) {
      const date = f.src.get('date');
      const when = date.ok
        ? Date.parse(
            date.text
              .trim()
              .split('\n')[0]!
              .replace(/\s+[A-Z]{3,4}\s+(\d{4})$/, ' $1'),
          )
        : NaN;
      if (Number.isFinite(when)) boot = new Date(when - secs * 1000);
    }
    ev.push(f.src.evidence('uptime', up, secs !== null ? formatUptime(secs) : undefined));
    if (boot) ev.push({ what: 'boot time', value: boot.toISOString(), path: btime !== null && bt.ok ? bt.path : up.ok ? up.path : null });
    const upText = secs !== null ? `up ${formatUptime(secs)}${boot ? ` since ${boot.toISOString().replace(/\.\d+Z$/, 'Z')}` : ''}` : 'uptime unknown';
    if (!k.k) return r.unknown(`kernel release unknown; ${upText}`, ev);
    const rel = k.k;
    let affected: string | null = null;
    if (rel.rhelMajor === 6 && rel.version.join('.') === '2.6.32') {
      const release = rel.release.replace(/\.(x86_64|i686)$/, '');
      if (rpmvercmp(release, RHEL6_UPTIME_FIX) < 0) affected = `RHEL 6 kernel ${rel.raw} is older than 2.6.32-${RHEL6_UPTIME_FIX} (fix per the talk)`;
    } else if (
      rel.rhelMajor === null &&
      !versionBefore(rel.version, [2, 6, 28]) &&
      versionBefore(rel.version, [3, 1, 5]) &&
      !(rel.version[0] === 3 && rel.version[1] === 0 && rel.version[2] >= 13) &&
      !(rel.version.join('.') === '2.6.32' && Number(/^(\d+)/.exec(rel.release)?.[1] ?? 0) >= 50)
    ) {
      affected = `upstream kernel ${rel.raw} is in the affected range 2.6.28–3.1.4 (fixed in 3.1.5, 3.0.13, 2.6.32.50)`;
    }
    const remedy: Remedy = {
      kind: 'package',
      text: 'Update the kernel (RHEL 6: kernel-2.6.32-358.23.2.el6 or later) and reboot before 208 days of uptime.',
      commands: ['yum update -y kernel'],
      safe: false,
    };
    if (!affected) return r.ok(`kernel ${rel.raw} is not affected; ${upText}`, ev);
    if (secs !== null && secs >= (SCHED_CLOCK_DAYS - 30) * DAY) return r.fail(`${affected}; ${upText}, close to or past ${SCHED_CLOCK_DAYS} days`, ev, remedy);
    const left = secs !== null ? `; ${(SCHED_CLOCK_DAYS - secs / DAY).toFixed(0)} days left` : '';
    return r.warn(`${affected}; ${upText}${left}`, ev, remedy);
  },
};
