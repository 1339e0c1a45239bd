/** Resource history and system call auditing: sysstat, auditd. */
import type { CheckDef } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import { parseShellVars } from '../../host/formats/shell-vars.js';
import { parseAuditctlStatus } from '../parse.js';
import { pkgInstall, serviceEnable } from '../remedies.js';

export const sysstat: CheckDef = {
  id: 'sysstat',
  title: 'sysstat (sar) installed and collecting',
  commands: ['rpmList'],
  why: 'sar history shows what CPU, memory, I/O and paging did in the minutes before a hang or OOM; without it there is no record of the run-up.',
  run(r, f) {
    const dist = f.distro();
    const ev: Evidence[] = [];
    const pkg = f.pkg(['sysstat']);
    if (pkg.ev) ev.push(pkg.ev);
    const binary = ['/usr/bin/sar', '/usr/lib64/sa/sa1', '/usr/lib/sa/sa1', '/usr/lib/sysstat/sa1'].find((p) => f.src.exists(p));
    if (binary) ev.push({ what: 'sysstat binary', value: 'present', path: f.src.host.mapPath(binary) });
    const installed = pkg.version ? true : binary ? true : pkg.version === false ? false : null;
    const enableCmds = [pkgInstall(dist, 'sysstat', 'sysstat')];
    if (dist.family === 'debian') enableCmds.push(`sed -i -E 's/^ENABLED=.*/ENABLED="true"/' /etc/default/sysstat`);
    enableCmds.push(serviceEnable(dist, 'sysstat.service'));
    const remedy: Remedy = { kind: 'package', text: 'Install sysstat and enable its collection (every 10 minutes by default).', commands: enableCmds, safe: true };
    if (installed === false) return r.warn('sysstat is not installed', ev, remedy);
    // Collecting: cron (RHEL 6/7), systemd timers (RHEL 8+, Debian), Debian's ENABLED switch, and data files.
    const reasons: string[] = [];
    // On Debian and Ubuntu the cron job and the timer both run debian-sa1, which collects nothing
    // unless /etc/default/sysstat says ENABLED="true" (the package's default is "false"): there an
    // enabled schedule proves nothing without that file.
    const gated = dist.family === 'debian';
    let scheduled: boolean | null = null;
    const cron = f.src.get('cronSysstat');
    if (cron.ok) {
      const active = cron.text.split('\n').some((l) => /^[^#].*\b(sa1|debian-sa1)\b/.test(l.trim()));
      ev.push(f.src.evidence('/etc/cron.d/sysstat', cron, active ? 'sa1 scheduled' : 'no active sa1 line'));
      if (active) scheduled = true;
    }
    const timer = f.service(['sysstat-collect.timer', 'sysstat.service'], ['sysstat']);
    if (timer.enabled !== null) {
      ev.push(...timer.evidence.filter((e) => e.value !== null));
      if (timer.enabled) scheduled ??= true;
      else scheduled ??= false;
    }
    let switchOn: boolean | null = null;
    const def = f.src.get('defaultSysstat');
    if (def.ok) {
      const en = parseShellVars(def.text).get('ENABLED');
      ev.push(f.src.evidence('ENABLED', def, en ?? '(unset)'));
      switchOn = en === 'true';
      if (!switchOn) reasons.push('/etc/default/sysstat ENABLED is not "true"');
    } else if (gated) {
      ev.push(f.src.evidence('/etc/default/sysstat ENABLED', def));
      // Read on a live host and absent: debian-sa1 finds no ENABLED="true" and collects nothing.
      if (!def.notCollected && f.src.kind === 'live') {
        switchOn = false;
        reasons.push('/etc/default/sysstat is missing (debian-sa1 collects only with ENABLED="true")');
      }
    }
    let dataFiles = 0;
    let dataListed = false;
    for (const dir of ['/var/log/sa', '/var/log/sysstat']) {
      const names = f.src.list(dir);
      if (names) {
        dataListed = true;
        const sa = names.filter((n) => /^sa\d\d$|^sa\d{8}$/.test(n));
        dataFiles += sa.length;
        ev.push({ what: `${dir} data files`, value: sa.length ? `${sa.length} (${sa.slice(-3).join(', ')})` : 'none', path: f.src.host.mapPath(dir) });
      }
    }
    if (!dataListed) ev.push({ what: '/var/log/sa, /var/log/sysstat data files', value: null, path: null, reason: f.src.kind === 'live' ? 'no such directory' : 'not collected' });
    const files = dataFiles ? ` (${dataFiles} daily data files)` : '';
    if (switchOn === false) return r.warn(`sysstat is installed but not collecting: ${reasons.join('; ')}${files ? `${files} from an earlier collection` : ''}`, ev, remedy);
    if (scheduled === false) return r.warn(`sysstat is installed but its collection is not scheduled (no sa1 cron job, timer not enabled)${files}`, ev, remedy);
    // A schedule counts only where nothing else gates it, or where the gate was read and is on.
    if (scheduled === true && (!gated || switchOn === true)) return r.ok(`sysstat is collecting${files}`, ev);
    if (dataFiles > 0) return r.ok(`sysstat has collected: ${dataFiles} daily data files${gated && switchOn === null ? ' (/etc/default/sysstat not collected: the data files decide)' : ''}`, ev);
    if (installed === null && scheduled === null)
      return r.unknown('no package list, sysstat files or schedule collected', ev.length ? ev : [{ what: 'sysstat', value: null, path: null, reason: 'not collected' }], remedy);
    if (gated && switchOn === null)
      return r.unknown(
        `whether sysstat collects is unknown: ${scheduled ? 'its schedule is enabled, but ' : ''}/etc/default/sysstat (ENABLED) was not collected and no data files under /var/log/sysstat or /var/log/sa were`,
        ev,
        remedy,
      );
    return r.warn(`sysstat is installed but not collecting${reasons.length ? ': ' + reasons.join('; ') : ''}`, ev, remedy);
  },
};

export const audit: CheckDef = {
  id: 'audit',
  title: 'system call auditing (auditd) running',
  commands: ['listUnits', 'auditctlStatus', 'rpmList'],
  why: 'The audit log records who ran what (execve, privilege changes, file access rules), which is how a reboot or a killed process is traced to the command that caused it.',
  run(r, f) {
    const dist = f.distro();
    const s = f.service(['auditd.service'], ['auditd'], ['auditd']);
    const ev = [...s.evidence];
    const st = f.src.get('auditctlStatus');
    let kernelOn: boolean | null = null;
    if (st.ok) {
      const a = parseAuditctlStatus(st.text);
      ev.push(f.src.evidence('auditctl -s', st, `enabled=${a.enabled ?? '?'} pid=${a.pid ?? '?'}`));
      if (a.enabled !== null) kernelOn = a.enabled >= 1 && (a.pid ?? 0) > 0;
    }
    const bin = ['/sbin/auditd', '/usr/sbin/auditd'].find((p) => f.src.exists(p));
    if (bin) ev.push({ what: 'auditd binary', value: 'present', path: f.src.host.mapPath(bin) });
    const pkg = f.pkg(['audit', 'auditd']);
    if (pkg.ev) ev.push(pkg.ev);
    const installed = s.installed === true || !!bin || !!pkg.version ? true : pkg.version === false || s.installed === false ? false : null;
    const remedy: Remedy = {
      kind: 'package',
      text: s.masked ? 'auditd.service is masked: unmask and enable it (ask first why it was masked).' : 'Install auditd and enable it at boot.',
      commands: [pkgInstall(dist, 'audit', 'auditd'), serviceEnable(dist, 'auditd.service', s.masked)],
      safe: true,
    };
    const running = kernelOn ?? s.active;
    if (installed === false && running !== true) return r.warn('auditd is not installed', ev, remedy);
    if (running === true && s.enabled === false) return r.warn('auditd is running but not enabled at boot', ev, remedy);
    // Running now says nothing about the next boot: ok only when the enablement was read too.
    if (running === true && s.enabled === null) return r.info('auditd is running; whether it starts at boot was not collected', ev);
    if (running === true) return r.ok('auditd is running and enabled at boot', ev);
    if (running === false) return r.warn('auditd is installed but not running', ev, remedy);
    return r.unknown('whether auditd runs was not collected', ev, remedy);
  },
};
