/** Hung-task detector: timeout against fail-over timeouts, warnings left, panic. */
import { type CheckDef, crashLoaded } from './common.js';
import { type Facts, num } from '../../host/facts.js';
import type { Evidence } from '../model.js';
import { versionBefore } from '../../host/formats/kernel.js';
import { parseShellVars } from '../../host/formats/shell-vars.js';
import { corosyncTokenMs } from '../parse.js';
import { sysctlRemedy } from '../remedies.js';

function clusterTimeouts(f: Facts): { secs: number; what: string; ev: Evidence }[] {
  const out: { secs: number; what: string; ev: Evidence }[] = [];
  const cs = f.src.get('corosyncConf');
  if (cs.ok) {
    const ms = corosyncTokenMs(cs.text);
    if (ms !== null) out.push({ secs: ms / 1000, what: 'corosync token', ev: f.src.evidence('corosync totem token', cs, `${ms} ms`) });
  }
  // A hardware watchdog fed by the watchdog daemon or by systemd resets a hung box after its timeout.
  const wd = f.src.get('watchdogConf');
  if (wd.ok && /^\s*watchdog-device\s*=/m.test(wd.text)) {
    const t = Number(/^\s*watchdog-timeout\s*=\s*(\d+)/m.exec(wd.text)?.[1] ?? 60);
    const svc = f.service(['watchdog.service'], ['watchdog'], ['watchdog']);
    if (svc.enabled === true || svc.active === true || (svc.enabled === null && svc.active === null))
      out.push({ secs: t, what: 'watchdog daemon timeout', ev: f.src.evidence('watchdog-timeout', wd, `${t} s`) });
  }
  const sc = f.src.get('systemdSystemConf');
  if (sc.ok) {
    const m = /^\s*RuntimeWatchdogSec\s*=\s*(\d+)\s*(s|sec|min)?\s*$/m.exec(sc.text);
    if (m && Number(m[1]) > 0) {
      const secs = Number(m[1]) * (m[2] === 'min' ? 60 : 1);
      out.push({ secs, what: 'systemd RuntimeWatchdogSec', ev: f.src.evidence('RuntimeWatchdogSec', sc, `${secs} s`) });
    }
  }
  const sbd = f.src.get('sbdSysconfig');
  if (sbd.ok) {
    const v = parseShellVars(sbd.text).get('SBD_WATCHDOG_TIMEOUT');
    const secs = v !== undefined ? Number(v) : 5;
    if (Number.isFinite(secs) && secs > 0) out.push({ secs, what: 'SBD watchdog timeout', ev: f.src.evidence('SBD_WATCHDOG_TIMEOUT', sbd, `${secs} s${v === undefined ? ' (default)' : ''}`) });
  }
  return out;
}

/** A timeout this short reports a hang before any common fail-over (corosync tokens, watchdogs) acts. */
export const SHORT_HUNG_TIMEOUT_SECS = 10;

export const HUNG_TIMEOUT_TRADEOFF =
  'A short timeout also reports tasks that are only slow (a SAN path fail-over, fsync on a busy array, an NFS server restart): those reports are noise in the log and use up kernel.hung_task_warnings, and with kernel.hung_task_panic=1 they panic a healthy server. Keep hung_task_panic=0 with a short timeout, and hung_task_warnings unlimited.';

export const hungTimeout: CheckDef = {
  id: 'hung.timeout',
  title: 'hung-task detector on, and faster than fail-over',
  why: 'khungtaskd reports tasks stuck in D state longer than kernel.hung_task_timeout_secs with their stacks; it is off at 0, and if a cluster fences the node sooner, the report is never written.',
  tradeoff: HUNG_TIMEOUT_TRADEOFF,
  minimal: true,
  run(r, f) {
    const d = f.src.sysctl('kernel.hung_task_timeout_secs');
    const ev: Evidence[] = [f.src.evidence('kernel.hung_task_timeout_secs', d)];
    const cluster = clusterTimeouts(f);
    ev.push(...cluster.map((c) => c.ev));
    const fastest = cluster.length ? Math.min(...cluster.map((c) => c.secs)) : null;
    const target = fastest !== null ? Math.max(1, Math.floor(fastest / 2)) : 120;
    const remedy = sysctlRemedy(
      'kernel.hung_task_timeout_secs',
      String(target),
      fastest !== null
        ? `Report hung tasks before this node is fenced or reset (half of the fastest timeout, ${fastest} s).`
        : 'Turn the hung-task detector on with the kernel default of 120 s (lower it to report sooner).',
    );
    if (!d.ok) {
      if (f.src.kind === 'live' && !d.notCollected) return r.warn('no kernel.hung_task_timeout_secs: kernel built without CONFIG_DETECT_HUNG_TASK', ev);
      return r.unknown(d.reason, ev);
    }
    const v = Number(d.text.trim());
    if (!Number.isFinite(v)) return r.unknown(`unparseable value "${d.text.trim()}"`, ev);
    if (v === 0) return r.warn('hung-task detection is off (hung_task_timeout_secs=0)', ev, remedy);
    if (fastest !== null && v >= fastest) {
      const c = cluster.find((x) => x.secs === fastest)!;
      return r.warn(`hung_task_timeout_secs=${v} is not shorter than the ${c.what} (${fastest} s): the node is fenced or reset before a hang is reported`, ev, remedy);
    }
    if (fastest !== null) return r.ok(`hung tasks reported after ${v} s (fastest fail-over timeout ${fastest} s)`, ev);
    if (v <= SHORT_HUNG_TIMEOUT_SECS) return r.ok(`hung tasks reported after ${v} s (no cluster or watchdog timeout found)`, ev);
    // Nothing found that fails over sooner: not wrong, but the advice is a short timeout, so the
    // report is written before a cluster, a watchdog or an impatient operator resets the box.
    return r.withTradeoff.info(
      `hung tasks reported only after ${v} s, and no cluster or watchdog timeout was found to compare with: a timeout of a few seconds (e.g. ${SHORT_HUNG_TIMEOUT_SECS}) reports a hang before anything fails over or someone power-cycles the server`,
      ev,
      sysctlRemedy('kernel.hung_task_timeout_secs', String(SHORT_HUNG_TIMEOUT_SECS), `Report tasks stuck ${SHORT_HUNG_TIMEOUT_SECS} s in D state (see the trade-off).`, false),
    );
  },
};

/** Reports left below which one incident (a stuck mount blocks dozens of tasks) can use them all up. */
export const HUNG_WARNINGS_ENOUGH = 10000;

/**
 * The value that turns the countdown off. -1 ("report an infinite number of warnings") came with
 * commit 270750dbc18a "hung_task: Display every hung task warning" (Linux 3.14, January 2014);
 * before it the sysctl is unsigned and -1 is refused, so older or unknown kernels get 1000000,
 * which every kernel accepts and no incident uses up.
 */
export function unlimitedHungWarnings(version: [number, number, number] | null): '-1' | '1000000' {
  return version !== null && !versionBefore(version, [3, 14, 0]) ? '-1' : '1000000';
}

export const hungWarnings: CheckDef = {
  id: 'hung.warnings',
  title: 'hung-task warnings not exhausted',
  why: 'kernel.hung_task_warnings counts down with each report and reporting stops at 0; the default 10 can be used up by one incident, hiding the next.',
  minimal: true,
  run(r, f) {
    const d = f.src.sysctl('kernel.hung_task_warnings');
    const ev: Evidence[] = [f.src.evidence('kernel.hung_task_warnings', d)];
    const k = f.kernel();
    const unlimited = unlimitedHungWarnings(k.k?.version ?? null);
    const remedy = sysctlRemedy(
      'kernel.hung_task_warnings',
      unlimited,
      unlimited === '-1'
        ? 'Report every hung task (-1 = unlimited, accepted since Linux 3.14).'
        : `Report practically every hung task (1000000: ${k.k ? `kernel ${k.k.raw} predates` : 'the kernel version is unknown, and kernels before 3.14 refuse'} the unlimited value -1).`,
    );
    if (!d.ok) return r.unknown(d.reason, ev);
    const v = Number(d.text.trim());
    if (!Number.isFinite(v)) return r.unknown(`unparseable value "${d.text.trim()}"`, ev);
    if (v === -1 || v >= 2 ** 31) return r.ok('unlimited hung-task reports', ev);
    ev.push(k.ev);
    const p = f.persisted('kernel.hung_task_warnings');
    const configured = p && Number.isFinite(Number(p.value)) ? Number(p.value) : 10;
    if (p) ev.push({ what: 'kernel.hung_task_warnings (persisted)', value: `${p.value} (${p.file}:${p.line})`, path: p.realPath });
    if (v === 0) return r.warn('hung_task_warnings=0: no more hung-task reports until reboot', ev, remedy);
    // Plenty left, but counted down: hung tasks were already reported since boot, worth a look.
    if (v >= HUNG_WARNINGS_ENOUGH && v < configured) return r.info(`${v} hung-task reports left; ${configured - v} of ${configured} already used since boot (see the kernel log)`, ev);
    if (v >= HUNG_WARNINGS_ENOUGH) return r.ok(`${v} hung-task reports left`, ev);
    const used = v < configured && configured > 0 ? `, ${configured - v} of ${configured} already used since boot` : '';
    const dflt = v === 10 && !used ? ' (the kernel default)' : '';
    return r.warn(`only ${v} hung-task report(s) left${dflt}${used}: one incident can use them up and hide the next`, ev, remedy);
  },
};

export const hungPanic: CheckDef = {
  id: 'hung.panic',
  title: 'hung_task_panic',
  why: 'hung_task_panic=1 turns a hung task into a panic (and a vmcore with kdump); with a short timeout, an I/O stall on a busy SAN then reboots a healthy server.',
  minimal: true,
  run(r, f) {
    const d = f.src.sysctl('kernel.hung_task_panic');
    const t = f.src.sysctl('kernel.hung_task_timeout_secs');
    const ev = [f.src.evidence('kernel.hung_task_panic', d), f.src.evidence('kernel.hung_task_timeout_secs', t)];
    if (!d.ok) {
      if (f.src.kind === 'live' && !d.notCollected) return r.info('no kernel.hung_task_panic (kernel without the hung-task detector)', ev);
      return r.unknown(d.reason, ev);
    }
    const v = Number(d.text.trim());
    const timeout = num(t);
    if (v === 0) return r.ok('hung tasks are reported, not turned into panics (hung_task_panic=0)', ev);
    const cl = crashLoaded(f);
    ev.push(cl.ev);
    if (timeout !== null && timeout > 0 && timeout < 60)
      return r.warn(
        `hung_task_panic=${v} with a ${timeout} s timeout: an I/O stall can panic the server`,
        ev,
        sysctlRemedy('kernel.hung_task_panic', '0', 'Report hung tasks without panicking (or raise the timeout).', false),
      );
    if (cl.loaded === false) return r.warn(`hung_task_panic=${v} but no crash kernel is loaded: the panic leaves no vmcore`, ev);
    return r.info(`hung_task_panic=${v}: a hung task panics the server (with a vmcore if kdump works)`, ev);
  },
};
