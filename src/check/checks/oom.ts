/** OOM: panic_on_oom policy and processes excluded from the OOM killer. */
import { type CheckDef, crashLoaded } from './common.js';
import { OOM_EXEMPT_EXPECTED } from '../../host/facts.js';
import type { Evidence, Remedy } from '../model.js';
import { sysctlRemedy } from '../remedies.js';

export const oomPanic: CheckDef = {
  id: 'oom.panic',
  title: 'vm.panic_on_oom policy',
  why: 'panic_on_oom=0 lets the OOM killer kill one process and keeps the server up; 1 or 2 panic instead (for cluster fail-over), which only leaves evidence if kdump is working.',
  run(r, f) {
    const d = f.src.sysctl('vm.panic_on_oom');
    const dump = f.src.sysctl('vm.oom_dump_tasks');
    const ev = [f.src.evidence('vm.panic_on_oom', d), f.src.evidence('vm.oom_dump_tasks', dump)];
    if (!d.ok) return r.unknown(d.reason, ev);
    const v = d.text.trim();
    if (dump.ok && dump.text.trim() === '0') {
      return r.warn(`vm.oom_dump_tasks=0: an OOM kill will not log the task table`, ev, sysctlRemedy('vm.oom_dump_tasks', '1', 'Log the task table (with oom_score_adj) at every OOM kill.'));
    }
    const meaning: Record<string, string> = {
      '0': 'the OOM killer kills a process; no panic',
      '1': 'panic on system-wide OOM (a process is still killed for cpuset/mempolicy-confined OOM)',
      '2': 'always panic on OOM, even in a memory cgroup',
    };
    // oom_dump_tasks=0 warns above: not collected, it cannot be ok.
    if (v === '0' && !dump.ok) return r.unknown(`vm.panic_on_oom=0: ${meaning['0']}; vm.oom_dump_tasks (whether the kill logs the task table): ${dump.reason}`, ev);
    if (v === '0') return r.ok(`vm.panic_on_oom=0: ${meaning['0']}`, ev);
    if (v === '1' || v === '2') {
      const cl = crashLoaded(f);
      ev.push(cl.ev);
      if (cl.loaded === false)
        return r.warn(`vm.panic_on_oom=${v} (${meaning[v]}) but no crash kernel is loaded: an OOM panic leaves no vmcore`, ev, {
          kind: 'manual',
          text: 'Make kdump operational (see kdump.* findings) or set vm.panic_on_oom=0.',
          commands: [],
          safe: false,
        });
      return r.info(`vm.panic_on_oom=${v}: ${meaning[v]}; with kdump the vmcore shows why memory ran out`, ev);
    }
    return r.unknown(`unexpected vm.panic_on_oom value "${v}"`, ev);
  },
};

/** Processes that should never be exempt from the OOM killer: applications and databases. */
const APPLICATION_RE =
  /^(java|postgres|postmaster|mysqld|mariadbd|mongod|redis-server|oracle|ora_\w+|tnslsnr|beam\.smp|node|python\d*(\.\d+)?|ruby|php-fpm|httpd|nginx|elasticsearch|memcached|sqlservr|db2sysc|hdbindexserver)$/;

export const oomExempt: CheckDef = {
  id: 'oom.exempt',
  title: 'processes excluded from the OOM killer',
  processTable: 'processes',
  why: 'A process with oom_score_adj -1000 (oom_adj -17) is never chosen by the OOM killer, and its children inherit that; if it is the one leaking memory the kernel kills everything else or panics with "no killable processes".',
  run(r, f) {
    const p = f.processes();
    if (p.pids === null || p.scanned === 0) {
      return r.unknown(p.pids === null ? 'no per-process data (/proc/<pid>/oom_score_adj) in this root' : 'no process could be read', [
        { what: '/proc/<pid>/oom_score_adj', value: null, path: null, reason: 'not collected' },
      ]);
    }
    const groups = new Map<string, typeof p.exempt>();
    for (const e of p.exempt) {
      const l = groups.get(e.comm) ?? [];
      l.push(e);
      groups.set(e.comm, l);
    }
    const ev: Evidence[] = [{ what: 'processes scanned', value: `${p.scanned} of ${p.pids}${p.unreadable ? ` (${p.unreadable} exited or unreadable)` : ''}`, path: f.src.host.mapPath('/proc') }];
    const unexpected: string[] = [];
    const apps: string[] = [];
    for (const [comm, list] of [...groups].sort()) {
      const pids = list.map((e) => e.pid);
      const shown = `${list[0]!.legacy ? 'oom_adj' : 'oom_score_adj'} ${list[0]!.value}: pid ${pids.slice(0, 8).join(', ')}${pids.length > 8 ? ` … (${pids.length})` : ''}`;
      ev.push({ what: `${safeName(comm)} ×${list.length}`, value: shown, path: list[0]!.path });
      // sshd: the listener (child of init) is expected; sessions inheriting -1000 are not.
      const isSshSession = comm === 'sshd' && list.some((e) => e.ppid !== null && e.ppid !== 1);
      if (APPLICATION_RE.test(comm)) apps.push(safeName(comm));
      else if (isSshSession || (!OOM_EXEMPT_EXPECTED.has(comm) && !(comm === 'sshd'))) unexpected.push(safeName(comm) + (isSshSession ? ' (sessions)' : ''));
    }
    const partial = f.src.kind === 'sosreport' && p.pids >= 2048 ? ' (sosreport holds only the first 2048 processes)' : '';
    const remedy: Remedy = {
      kind: 'manual',
      text: 'Find what sets it (systemd OOMScoreAdjust= in the unit, or the start script) and remove it, or use a milder value such as -900 so the process stays killable as a last resort.',
      // Without systemd as PID 1 only the init scripts and their defaults can set it.
      commands:
        f.distro().init === 'sysv'
          ? ['grep -rnE "oom_(score_)?adj" /etc/init.d /etc/rc.d/init.d /etc/sysconfig /etc/default 2>/dev/null']
          : ['grep -rn "OOMScoreAdjust" /etc/systemd/system /usr/lib/systemd/system', 'systemctl show -p OOMScoreAdjust <unit>'],
      safe: false,
    };
    if (apps.length) return r.warn(`application processes excluded from the OOM killer: ${apps.join(', ')}${unexpected.length ? `; also ${unexpected.join(', ')}` : ''}${partial}`, ev, remedy);
    if (unexpected.length) return r.warn(`unexpected processes excluded from the OOM killer: ${unexpected.join(', ')}${partial}`, ev, remedy);
    // Processes the sosreport left out may be the exempt ones: a partial scan is not ok.
    const clean = partial ? 'info' : 'ok';
    if (p.exempt.length) return r.finding(clean, `${p.exempt.length} process(es) excluded, all expected system daemons (${[...groups.keys()].map(safeName).join(', ')})${partial}`, ev);
    return r.finding(clean, `no process is excluded from the OOM killer (${p.scanned} scanned)${partial}`, ev);
  },
};

/** A process name is host data: keep it printable and short for messages. */
function safeName(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 32);
}
