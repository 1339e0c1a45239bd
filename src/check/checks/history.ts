/** Resource history and system call auditing: sysstat, auditd. */
import { type CheckDef, finding } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import { parseAuditctlStatus, parseShellVars } from '../parse.js';
import { pkgInstall, serviceEnable } from '../remedies.js';

export const sysstat: CheckDef = {
  id: 'sysstat',
  title: 'sysstat (sar) installed and collecting',
  run(f) {
    const why = 'sar history shows what CPU, memory, I/O and paging did in the minutes before a hang or OOM; without it there is no record of the run-up.';
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
    if (installed === false) return finding(this.id, this.title, 'warn', 'sysstat is not installed', ev, why, remedy);
    // Collecting: cron (RHEL 6/7), systemd timers (RHEL 8+, Debian), Debian's ENABLED switch, and data files.
    const reasons: string[] = [];
    let collecting: boolean | null = null;
    const cron = f.src.get('cronSysstat');
    if (cron.ok) {
      const active = cron.text.split('\n').some((l) => /^[^#].*\bsa1\b/.test(l.trim()));
      ev.push(f.src.evidence('/etc/cron.d/sysstat', cron, active ? 'sa1 scheduled' : 'no active sa1 line'));
      if (active) collecting = true;
    }
    const timer = f.service(['sysstat-collect.timer', 'sysstat.service'], ['sysstat']);
    if (timer.enabled !== null) {
      ev.push(...timer.evidence.filter((e) => e.value !== null));
      if (timer.enabled) collecting ??= true;
    }
    const def = f.src.get('defaultSysstat');
    if (def.ok) {
      const en = parseShellVars(def.text).get('ENABLED');
      ev.push(f.src.evidence('ENABLED', def, en ?? '(unset)'));
      if (en !== 'true') {
        collecting = false;
        reasons.push('/etc/default/sysstat ENABLED is not "true"');
      }
    }
    let dataFiles = 0;
    for (const dir of ['/var/log/sa', '/var/log/sysstat']) {
      const names = f.src.list(dir);
      if (names) {
        const sa = names.filter((n) => /^sa\d\d$|^sa\d{8}$/.test(n));
        dataFiles += sa.length;
        ev.push({ what: `${dir} data files`, value: sa.length ? `${sa.length} (${sa.slice(-3).join(', ')})` : 'none', path: f.src.host.mapPath(dir) });
      }
    }
    if (collecting === null && dataFiles > 0) collecting = true;
    if (installed === null && collecting === null) return finding(this.id, this.title, 'unknown', 'no package list, sysstat files or schedule collected', ev.length ? ev : [{ what: 'sysstat', value: null, path: null, reason: 'not collected' }], why, remedy);
    if (collecting === true) return finding(this.id, this.title, 'ok', `sysstat is collecting${dataFiles ? ` (${dataFiles} daily data files)` : ''}`, ev, why, null);
    return finding(this.id, this.title, 'warn', `sysstat is installed but not collecting${reasons.length ? ': ' + reasons.join('; ') : ''}`, ev, why, remedy);
  },
};

export const audit: CheckDef = {
  id: 'audit',
  title: 'system call auditing (auditd) running',
  run(f) {
    const why = 'The audit log records who ran what (execve, privilege changes, file access rules), which is how a reboot or a killed process is traced to the command that caused it.';
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
    const remedy: Remedy = { kind: 'package', text: s.masked ? 'auditd.service is masked: unmask and enable it (ask first why it was masked).' : 'Install auditd and enable it at boot.', commands: [pkgInstall(dist, 'audit', 'auditd'), serviceEnable(dist, 'auditd.service', s.masked)], safe: true };
    const running = kernelOn ?? s.active;
    if (installed === false && running !== true) return finding(this.id, this.title, 'warn', 'auditd is not installed', ev, why, remedy);
    if (running === true) return finding(this.id, this.title, s.enabled === false ? 'warn' : 'ok', s.enabled === false ? 'auditd is running but not enabled at boot' : 'auditd is running', ev, why, s.enabled === false ? remedy : null);
    if (running === false) return finding(this.id, this.title, 'warn', 'auditd is installed but not running', ev, why, remedy);
    return finding(this.id, this.title, 'unknown', 'whether auditd runs was not collected', ev, why, remedy);
  },
};
