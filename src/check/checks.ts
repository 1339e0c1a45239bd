/**
 * The readiness checks. Each takes the run's `Facts` and returns one `Finding`; the rules
 * here decide statuses from parsed values and never touch the host themselves.
 * A datum a snapshot did not collect yields `unknown` with the reason, never `ok`.
 */
import { type Facts, num, OOM_EXEMPT_EXPECTED } from './facts.js';
import type { Evidence, Finding, Remedy, Status } from './model.js';
import {
  autoCrashBytes,
  cmdlineValue,
  corosyncTokenMs,
  dmesgCrashLines,
  dmesgLogBufBytes,
  formatBytes,
  INT_MAX,
  iomemCrashBytes,
  parseAuditctlStatus,
  parseBtime,
  parseCrashkernel,
  parseDentryState,
  parseKdumpConf,
  parseKdumpEstimate,
  parseLoadavgThreads,
  parseProcUptime,
  parseShellVars,
  parseSize,
  parseUptimeCommand,
  recommendedCrashBytes,
  rpmvercmp,
  shrinkerProduct,
  sysctlValuesEqual,
  versionBefore,
} from './parse.js';
import { cmdlineAdd, cmdlineRemove, pkgInstall, serviceEnable, sysctlRemedy } from './remedies.js';

export interface CheckDef {
  id: string;
  title: string;
  run: (f: Facts) => Finding;
}

const MiB = 2 ** 20;

function finding(id: string, title: string, status: Status, summary: string, evidence: Evidence[], why: string, remedy: Remedy | null, tradeoff?: string): Finding {
  const f: Finding = { id, title, status, summary, evidence, why, remedy };
  if (tradeoff) f.tradeoff = tradeoff;
  return f;
}

/* ====================================================================== kdump */

function kdumpUnits(f: Facts) {
  return f.distro().family === 'debian' ? { units: ['kdump-tools.service'], sysv: ['kdump-tools'] } : { units: ['kdump.service', 'kdump-tools.service'], sysv: ['kdump', 'kdump-tools'] };
}

/** Crash kernel loaded (the service's real effect), from sysfs or the sos kdump outputs. */
function crashLoaded(f: Facts): { loaded: boolean | null; ev: Evidence } {
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

const kdumpService: CheckDef = {
  id: 'kdump.service',
  title: 'kdump service enabled and active',
  run(f) {
    const { units, sysv } = kdumpUnits(f);
    const s = f.service(units, sysv);
    const cl = crashLoaded(f);
    const ev = [...s.evidence, cl.ev];
    const active = s.active ?? cl.loaded;
    const d = f.distro();
    const debian = d.family === 'debian';
    const unit = debian ? 'kdump-tools.service' : 'kdump.service';
    const install = pkgInstall(d, d.rhelMajor !== null && d.rhelMajor >= 10 ? 'kdump-utils' : 'kexec-tools', 'kdump-tools');
    const why = 'Without a running kdump service a panic leaves no vmcore: the only record of the crash is whatever reached a console.';
    const remedy: Remedy = { kind: 'service', text: `Install kdump and enable the ${unit} so a crash kernel is loaded at every boot.`, commands: [install, serviceEnable(d, unit)], safe: true };
    if (s.installed === false || (s.installed === null && s.enabled === null && active === false)) {
      return finding(this.id, this.title, 'fail', 'kdump is not installed', ev, why, remedy);
    }
    if (s.enabled === null && active === null) return finding(this.id, this.title, 'unknown', 'cannot tell whether kdump is enabled or active: no service state collected', ev, why, remedy);
    if (s.enabled === true && active === true) return finding(this.id, this.title, 'ok', 'kdump is enabled and a crash kernel is loaded', ev, why, null);
    if (active === true) return finding(this.id, this.title, s.enabled === false ? 'warn' : 'info', s.enabled === false ? 'kdump is active now but not enabled at boot' : 'kdump is active; enablement unknown', ev, why, remedy);
    if (s.enabled === true && active === false) return finding(this.id, this.title, 'fail', 'kdump is enabled but not active (no crash kernel loaded)', ev, why, { ...remedy, text: 'Start kdump and read why it failed (kdumpctl status / journalctl -u kdump); usually no crashkernel memory is reserved.', commands: [serviceEnable(d, unit)] });
    if (active === null) return finding(this.id, this.title, s.enabled ? 'unknown' : 'fail', s.enabled ? 'kdump is enabled; whether it is active was not collected' : 'kdump is not enabled', ev, why, remedy);
    return finding(this.id, this.title, 'fail', 'kdump is neither enabled nor active', ev, why, remedy);
  },
};

function recommendedReservation(f: Facts): { bytes: number | null; how: string; ev: Evidence[] } {
  const ev: Evidence[] = [];
  const est = f.src.get('kdumpctlEstimate');
  if (est.ok) {
    const e = parseKdumpEstimate(est.text);
    if (e.recommended) {
      ev.push(f.src.evidence('kdumpctl estimate', est, `recommended ${formatBytes(e.recommended)}`));
      return { bytes: e.recommended, how: 'kdumpctl estimate', ev };
    }
  }
  const ram = f.ram();
  ev.push(ram.ev);
  if (ram.bytes === null) return { bytes: null, how: 'RAM unknown', ev };
  let bytes = recommendedCrashBytes(ram.bytes);
  let how = `kdump-utils default for ${formatBytes(ram.bytes)} RAM (1G-4G:192M,4G-64G:256M,64G-:512M)`;
  // Lantern's heuristic: big storage/network drivers enlarge the kdump initramfs and its runtime.
  const mods = f.src.get('modules');
  if (mods.ok && bytes > 0) {
    const loaded = LARGE_DRIVERS.filter((m) => new RegExp(`^${m}\\s`, 'm').test(mods.text));
    if (loaded.length) {
      bytes += 32 * MiB * loaded.length;
      how += ` + 32 MiB for each large driver loaded (${loaded.join(', ')}; Lantern heuristic)`;
      ev.push(f.src.evidence('large drivers loaded', mods, loaded.join(', ')));
    }
  }
  return { bytes, how, ev };
}

const LARGE_DRIVERS = ['mlx5_core', 'mlx4_core', 'qla2xxx', 'lpfc', 'bnx2x', 'bnxt_en', 'i40e', 'ice', 'be2net', 'qede', 'qedf', 'megaraid_sas', 'mpt3sas', 'hpsa', 'smartpqi'];

const kdumpCrashkernel: CheckDef = {
  id: 'kdump.crashkernel',
  title: 'crashkernel= on the kernel command line',
  run(f) {
    const { c, d } = f.cmdline();
    const why = 'The crash kernel can only be loaded into memory the running kernel reserved at boot with crashkernel=.';
    const dist = f.distro();
    const ram = f.ram();
    const rec = ram.bytes !== null ? recommendedCrashBytes(ram.bytes) : 256 * MiB;
    const value = dist.family === 'rhel' && dist.rhelMajor !== null && dist.rhelMajor >= 9 ? null : `${Math.max(rec, 192 * MiB) / MiB}M`;
    const remedy: Remedy = {
      kind: 'cmdline',
      text: 'Reserve crash kernel memory on the kernel command line, then reboot (this takes the reserved memory away from applications).',
      commands: value === null ? ['kdumpctl reset-crashkernel --kernel=ALL'] : cmdlineAdd(dist, `crashkernel=${value}`, 'crashkernel'),
      safe: false,
    };
    if (!c || !d.ok) return finding(this.id, this.title, 'unknown', (d as { reason: string }).reason, [f.src.evidence('/proc/cmdline', d)], why, remedy);
    const v = cmdlineValue(c, 'crashkernel');
    const next = f.nextBoot();
    const nextV = next ? cmdlineValue(next.c, 'crashkernel') : undefined;
    if (v === undefined) {
      const ev0 = [f.src.evidence('crashkernel=', d, '(absent)')];
      if (next) ev0.push(next.ev);
      if (nextV !== undefined) return finding(this.id, this.title, 'fail', `no crashkernel= on the running kernel command line; the next boot has crashkernel=${nextV} (reboot pending)`, ev0, why, { kind: 'manual', text: 'Reboot into the configured command line to reserve the crash kernel memory.', commands: [], safe: false });
      return finding(this.id, this.title, 'fail', 'no crashkernel= on the running kernel command line', ev0, why, remedy);
    }
    const parsed = parseCrashkernel(v, ram.bytes);
    const ev = [f.src.evidence('crashkernel=', d, v), ram.ev];
    if (next) ev.push(next.ev);
    if (next && nextV === undefined) return finding(this.id, this.title, 'warn', `crashkernel=${v} is on the running command line but missing from the next-boot configuration`, ev, why, remedy);
    if (parsed.kind === 'invalid') return finding(this.id, this.title, 'warn', `crashkernel=${v} is malformed: ${parsed.reason}`, ev, why, remedy);
    if (parsed.kind === 'ranges' && parsed.bytes === null) return finding(this.id, this.title, 'fail', `crashkernel=${v} has no range matching this host's RAM: nothing is reserved`, ev, why, remedy);
    const size = parsed.kind === 'auto' ? 'auto' : formatBytes(parsed.kind === 'ranges' ? parsed.bytes! : parsed.bytes);
    return finding(this.id, this.title, 'ok', `crashkernel=${v} (${size})`, ev, why, null);
  },
};

const kdumpReserved: CheckDef = {
  id: 'kdump.reserved',
  title: 'crash kernel memory reserved, loaded, and large enough',
  run(f) {
    const why = 'crashkernel= on the command line does not guarantee a reservation; too small a reservation makes the crash kernel run out of memory and no vmcore is written.';
    const ev: Evidence[] = [];
    let reserved: number | null = null;
    const size = f.src.get('kexecCrashSize');
    if (size.ok) {
      reserved = num(size);
      ev.push(f.src.evidence('kexec_crash_size', size, reserved === null ? size.text.trim() : `${size.text.trim()} (${formatBytes(reserved)})`));
    } else ev.push(f.src.evidence('kexec_crash_size', size));
    // A live kernel without /sys/kernel/kexec_crash_size was built without kexec: nothing can be reserved.
    const noKexec = f.src.kind === 'live' && !size.ok && !size.notCollected && /does not exist/.test(size.reason);
    if (reserved === null && !noKexec) {
      const io = f.src.get('iomem');
      if (io.ok) {
        const c = iomemCrashBytes(io.text);
        if (c && !c.zeroed) reserved = c.bytes;
        else if (!c) reserved = 0;
        ev.push(f.src.evidence('/proc/iomem Crash kernel', io, c ? (c.zeroed ? 'present, addresses hidden (not root)' : formatBytes(c.bytes)) : 'no Crash kernel region'));
      }
    }
    const dm = f.src.get('dmesg');
    if (dm.ok) {
      const lines = dmesgCrashLines(dm.text);
      if (lines.failed.length) {
        ev.push(f.src.evidence('boot message', dm, lines.failed[0]!));
        if (reserved === null) reserved = 0;
      } else if (lines.reserved.length) {
        ev.push(f.src.evidence('boot message', dm, lines.reserved[0]!));
        if (reserved === null && lines.bytes !== null && !noKexec) reserved = lines.bytes;
      }
    }
    const dist = f.distro();
    const remedyCmd = dist.family === 'rhel' && dist.rhelMajor !== null && dist.rhelMajor >= 9 ? ['kdumpctl reset-crashkernel --kernel=ALL'] : null;
    const rec = recommendedReservation(f);
    const recText = rec.bytes !== null ? `${Math.max(rec.bytes, 192 * MiB) / MiB}M` : '256M';
    const remedy: Remedy = {
      kind: 'cmdline',
      text: `Reserve at least ${rec.bytes !== null ? formatBytes(rec.bytes) : '256 MiB'} (${rec.how}) and reboot; then check that kdump loads the crash kernel.`,
      commands: remedyCmd ?? cmdlineAdd(dist, `crashkernel=${recText}`, 'crashkernel'),
      safe: false,
    };
    if (noKexec) {
      return finding(this.id, this.title, 'fail', 'this kernel has no kexec/crash dump support (/sys/kernel/kexec_crash_size is absent)', ev, why, { kind: 'manual', text: 'Boot a kernel built with CONFIG_KEXEC and CONFIG_CRASH_DUMP (every distribution kernel is).', commands: [], safe: false });
    }
    if (reserved === null) {
      const s = size as { reason?: string };
      return finding(this.id, this.title, 'unknown', `reservation not collected: ${s.reason ?? 'no kexec_crash_size, /proc/iomem or boot message'}`, ev, why, null);
    }
    if (reserved === 0) return finding(this.id, this.title, 'fail', 'no memory is reserved for the crash kernel', ev, why, remedy);
    const cl = crashLoaded(f);
    ev.push(cl.ev, ...rec.ev);
    const { c } = f.cmdline();
    const ck = c ? cmdlineValue(c, 'crashkernel') : undefined;
    const ram = f.ram().bytes;
    const autoNote =
      ck === 'auto' && ram !== null && dist.rhelMajor !== null && autoCrashBytes(dist.rhelMajor, ram) !== null
        ? ` crashkernel=auto on RHEL ${dist.rhelMajor} reserves ${formatBytes(autoCrashBytes(dist.rhelMajor, ram)!)} for this RAM.`
        : '';
    if (rec.bytes !== null && reserved < rec.bytes) {
      return finding(this.id, this.title, 'warn', `${formatBytes(reserved)} reserved, below the ${formatBytes(rec.bytes)} recommended (${rec.how}).${autoNote}`, ev, why, remedy);
    }
    if (cl.loaded === false) return finding(this.id, this.title, 'fail', `${formatBytes(reserved)} reserved but no crash kernel is loaded`, ev, why, { kind: 'service', text: 'Start the kdump service so it loads the crash kernel.', commands: [serviceEnable(dist, dist.family === 'debian' ? 'kdump-tools.service' : 'kdump.service')], safe: true });
    const loadedText = cl.loaded === true ? ', crash kernel loaded' : ' (whether a crash kernel is loaded was not collected)';
    return finding(this.id, this.title, cl.loaded === true ? 'ok' : 'info', `${formatBytes(reserved)} reserved${rec.bytes !== null ? ` (recommended ${formatBytes(rec.bytes)})` : ''}${loadedText}`, ev, why, null);
  },
};

const kdumpTarget: CheckDef = {
  id: 'kdump.target',
  title: 'dump target configured',
  run(f) {
    const why = 'kdump writes the vmcore to the target in its configuration; a missing or unusable target means the crash is captured and then lost.';
    const dist = f.distro();
    const conf = f.src.get('kdumpConf');
    if (conf.ok) {
      const k = parseKdumpConf(conf.text);
      const path = k.path ?? '/var/crash';
      const collector = k.options.get('core_collector') ?? 'makedumpfile -l --message-level 7 -d 31 (default)';
      const ev = [f.src.evidence('kdump.conf target', conf, k.target ? `${k.target.type} ${k.target.value}` : '(none: local root file system)'), f.src.evidence('kdump.conf path', conf, path), f.src.evidence('core_collector', conf, collector)];
      const fa = k.options.get('failure_action') ?? k.options.get('default');
      if (fa) ev.push(f.src.evidence('failure_action', conf, fa));
      if (/^(cp|scp)\b/.test(k.options.get('core_collector') ?? '')) {
        return finding(this.id, this.title, 'warn', `core_collector ${k.options.get('core_collector')} copies all of memory: the target needs free space of at least RAM size`, ev, why, {
          kind: 'file',
          text: 'Use makedumpfile in /etc/kdump.conf to write a filtered, compressed dump.',
          commands: [`sed -i -E 's/^core_collector[[:space:]].*/core_collector makedumpfile -l --message-level 7 -d 31/' /etc/kdump.conf`, serviceEnable(dist, 'kdump.service')],
          safe: true,
        });
      }
      const where = k.target ? `${k.target.type} ${k.target.value}, path ${path}` : `local root file system, path ${path}`;
      return finding(this.id, this.title, 'ok', `vmcore goes to ${where}`, ev, why, null);
    }
    const deb = f.src.get('kdumpToolsDefault');
    if (deb.ok) {
      const v = parseShellVars(deb.text);
      const use = v.get('USE_KDUMP');
      const dir = v.get('KDUMP_COREDIR') ?? '/var/crash';
      const remote = v.get('SSH') ? `ssh ${v.get('SSH')}` : v.get('NFS') ? `nfs ${v.get('NFS')}` : null;
      const ev = [f.src.evidence('USE_KDUMP', deb, use ?? '(unset)'), f.src.evidence('dump target', deb, remote ?? `local ${dir}`)];
      if (use !== '1')
        return finding(this.id, this.title, 'fail', 'kdump-tools is installed but disabled (USE_KDUMP is not 1)', ev, why, {
          kind: 'file',
          text: 'Set USE_KDUMP=1 in /etc/default/kdump-tools and restart kdump-tools.',
          commands: [`sed -i -E 's/^#?[[:space:]]*USE_KDUMP=.*/USE_KDUMP=1/' /etc/default/kdump-tools`, 'systemctl restart kdump-tools.service'],
          safe: true,
        });
      return finding(this.id, this.title, 'ok', `vmcore goes to ${remote ?? `local ${dir}`}`, ev, why, null);
    }
    const ev = [f.src.evidence('/etc/kdump.conf', conf), f.src.evidence('/etc/default/kdump-tools', deb)];
    {
      const svc = f.service(kdumpUnits(f).units, kdumpUnits(f).sysv);
      if (f.src.kind === 'live' || svc.installed === false) {
        ev.push(...svc.evidence);
        return finding(this.id, this.title, 'fail', 'no kdump configuration (/etc/kdump.conf or /etc/default/kdump-tools)', ev, why, {
          kind: 'package',
          text: 'Install kdump; its package ships the configuration with a local /var/crash target.',
          commands: [pkgInstall(dist, 'kexec-tools', 'kdump-tools')],
          safe: true,
        });
      }
    }
    return finding(this.id, this.title, 'unknown', 'kdump configuration not collected', ev, why, null);
  },
};

/* ====================================================================== SysRq */

const SYSRQ_WHY = 'On a hung server SysRq-T/W/M (task states, blocked tasks, memory) from the console or a serial BREAK are often the only way to see why it hangs; kernel.sysrq must allow the dump functions (bit 8) for that.';
const SYSRQ_TRADEOFF =
  'Security baselines (Lynis KRNL-6000, some CIS profiles) recommend kernel.sysrq=0 because anyone at the console can then reboot or dump state. For a server in a locked room or behind a protected serial console, being able to diagnose a hang outweighs that; a middle ground is kernel.sysrq=216 (dumps 8 + sync 16 + signals 64 + reboot 128). Root can always use /proc/sysrq-trigger whatever the mask.';

function sysrqAllowsDumps(v: number): boolean {
  return v === 1 || (v > 1 && (v & 8) !== 0);
}

function sysrqMeaning(v: number): string {
  if (v === 0) return '0 (disabled)';
  if (v === 1) return '1 (all functions)';
  const bits: [number, string][] = [[2, 'loglevel'], [4, 'keyboard'], [8, 'dumps'], [16, 'sync'], [32, 'remount-ro'], [64, 'signals'], [128, 'reboot'], [256, 'nice-rt']];
  return `${v} (${bits.filter(([b]) => v & b).map(([, n]) => n).join(', ') || 'nothing'})`;
}

const sysrqMask: CheckDef = {
  id: 'sysrq.mask',
  title: 'SysRq allows the dump functions (T/W/M)',
  run(f) {
    const { c, d: cd } = f.cmdline();
    const d = f.src.sysctl('kernel.sysrq');
    const ev: Evidence[] = [f.src.evidence('kernel.sysrq (runtime)', d, d.ok ? sysrqMeaning(Number(d.text)) : undefined)];
    const remedy = sysctlRemedy('kernel.sysrq', '1', 'Allow all SysRq functions (or 216 for dumps, sync, signals and reboot only), persistently and now.');
    if (c?.params.has('sysrq_always_enabled')) {
      ev.push(f.src.evidence('sysrq_always_enabled', cd, 'on the command line'));
      return finding(this.id, this.title, 'ok', 'sysrq_always_enabled is on the command line (kernel.sysrq is ignored)', ev, SYSRQ_WHY, null, SYSRQ_TRADEOFF);
    }
    if (!d.ok) {
      if (f.src.kind === 'live' && !d.notCollected) {
        const cfg = f.kernelConfig().config;
        if (cfg?.get('CONFIG_MAGIC_SYSRQ') === 'n') return finding(this.id, this.title, 'fail', 'this kernel is built without SysRq (CONFIG_MAGIC_SYSRQ is not set)', ev, SYSRQ_WHY, { kind: 'manual', text: 'Boot a kernel built with CONFIG_MAGIC_SYSRQ=y (every distribution kernel is).', commands: [], safe: false });
        return finding(this.id, this.title, 'fail', `kernel.sysrq cannot be read: ${d.reason} (kernel likely built without SysRq)`, ev, SYSRQ_WHY, null);
      }
      return finding(this.id, this.title, 'unknown', d.reason, ev, SYSRQ_WHY, remedy, SYSRQ_TRADEOFF);
    }
    const v = Number(d.text.trim());
    if (!Number.isInteger(v) || v < 0) return finding(this.id, this.title, 'unknown', `kernel.sysrq value "${d.text.trim()}" is not a number`, ev, SYSRQ_WHY, remedy);
    if (sysrqAllowsDumps(v)) {
      const missing = v === 1 ? '' : [[16, 's'], [128, 'b']].filter(([b]) => !(v & (b as number))).map(([, k]) => k).join(', ');
      return finding(this.id, this.title, 'ok', `kernel.sysrq=${sysrqMeaning(v)} allows SysRq-T/W/M${missing ? `; not ${missing}` : ''}`, ev, SYSRQ_WHY, null, SYSRQ_TRADEOFF);
    }
    return finding(this.id, this.title, 'warn', `kernel.sysrq=${sysrqMeaning(v)} does not allow SysRq-T/W/M from the console`, ev, SYSRQ_WHY, remedy, SYSRQ_TRADEOFF);
  },
};

const sysrqPersisted: CheckDef = {
  id: 'sysrq.persisted',
  title: 'SysRq runtime value matches the persisted one',
  run(f) {
    const why = 'A value set by hand with sysctl -w is lost at the next boot; the persisted value in sysctl.conf / sysctl.d is what the server will have after the crash you are preparing for.';
    const d = f.src.sysctl('kernel.sysrq');
    const p = f.persisted('kernel.sysrq');
    const ps = f.persistedSysctls();
    const ev: Evidence[] = [f.src.evidence('kernel.sysrq (runtime)', d)];
    if (p) ev.push({ what: 'kernel.sysrq (persisted)', value: `${p.value} (${p.file}:${p.line})`, path: p.realPath });
    else ev.push({ what: 'kernel.sysrq (persisted)', value: ps.collected ? `not set in ${ps.files.length} file(s) read` : null, path: null, reason: ps.collected ? undefined : 'no sysctl configuration collected' });
    const remedy = sysctlRemedy('kernel.sysrq', d.ok && sysrqAllowsDumps(Number(d.text)) ? String(Number(d.text)) : '1', 'Persist the SysRq setting so it survives a reboot.');
    if (!d.ok) return finding(this.id, this.title, 'unknown', `runtime value: ${d.reason}`, ev, why, null);
    if (!ps.collected) return finding(this.id, this.title, 'unknown', 'sysctl configuration files not collected', ev, why, null);
    const rt = d.text.trim();
    if (!p) return finding(this.id, this.title, sysrqAllowsDumps(Number(rt)) ? 'info' : 'warn', `kernel.sysrq=${rt} comes from the kernel default; no sysctl file sets it`, ev, why, sysrqAllowsDumps(Number(rt)) ? null : remedy);
    if (sysctlValuesEqual(p.value, rt)) return finding(this.id, this.title, 'ok', `runtime and persisted kernel.sysrq agree (${rt}, ${p.file})`, ev, why, null);
    const better = sysrqAllowsDumps(Number(rt)) && !sysrqAllowsDumps(Number(p.value));
    return finding(this.id, this.title, 'warn', `runtime kernel.sysrq=${rt} but ${p.file}:${p.line} sets ${p.value}${better ? ': the next boot loses the dump functions' : ''}`, ev, why, better || sysrqAllowsDumps(Number(rt)) ? remedy : sysctlRemedy('kernel.sysrq', '1', 'Persist kernel.sysrq=1 and apply it now.'));
  },
};

/* ====================================================================== boot messages, printk */

const bootQuiet: CheckDef = {
  id: 'boot.quiet',
  title: 'boot messages not silenced (quiet, rhgb)',
  run(f) {
    const { c, d } = f.cmdline();
    const why = '"quiet" lowers the console log level so hung-task reports, SysRq output and oopses never reach the serial or VGA console; "rhgb" hides boot messages behind a splash screen.';
    if (!c) return finding(this.id, this.title, 'unknown', (d as { reason: string }).reason, [f.src.evidence('/proc/cmdline', d)], why, null);
    const found = ['quiet', 'rhgb'].filter((t) => c.params.has(t));
    const ev: Evidence[] = [f.src.evidence('kernel command line', d, c.tokens.join(' '))];
    const lvl = f.src.sysctl('kernel.printk');
    if (lvl.ok) ev.push(f.src.evidence('kernel.printk (console loglevel first)', lvl, lvl.text.trim().replace(/\s+/g, ' ')));
    const next = f.nextBoot();
    const nextFound = next ? ['quiet', 'rhgb'].filter((t) => next.c.params.has(t)) : null;
    if (next) ev.push(next.ev);
    if (!found.length) {
      if (nextFound?.length) return finding(this.id, this.title, 'warn', `not on the running command line, but ${nextFound.join(' and ')} come back at the next boot (boot loader configuration)`, ev, why, { kind: 'cmdline', text: `Remove ${nextFound.join(' and ')} from the boot loader configuration.`, commands: cmdlineRemove(f.distro(), nextFound), safe: true });
      return finding(this.id, this.title, 'ok', 'neither quiet nor rhgb on the command line', ev, why, null);
    }
    if (nextFound && nextFound.length === 0) return finding(this.id, this.title, 'info', `${found.join(' and ')} on the running command line, already removed for the next boot (reboot pending)`, ev, why, null);
    return finding(this.id, this.title, 'warn', `${found.join(' and ')} on the kernel command line`, ev, why, {
      kind: 'cmdline',
      text: `Remove ${found.join(' and ')} from the kernel command line of every kernel (effective at next boot); 'dmesg -n 8' raises the console level now.`,
      commands: [...cmdlineRemove(f.distro(), found), 'dmesg -n 8'],
      safe: true,
    });
  },
};

/** Bytes a SysRq-T dump needs per thread: one header line plus a ~15-frame stack (Lantern's estimate). */
export const SYSRQ_T_BYTES_PER_THREAD = 1536;

const printkLogbuf: CheckDef = {
  id: 'printk.logbuf',
  title: 'kernel log buffer holds a SysRq-T dump',
  run(f) {
    const why = 'SysRq-T prints every thread\'s stack into the kernel ring buffer; when the buffer is smaller than the dump, its beginning is overwritten before syslog or a console can save it.';
    const ev: Evidence[] = [];
    let bytes: number | null = null;
    let how = '';
    const { c, d: cd } = f.cmdline();
    const lbl = c ? cmdlineValue(c, 'log_buf_len') : undefined;
    if (lbl !== undefined) {
      const b = parseSize(lbl);
      if (b !== null) {
        bytes = b;
        how = 'log_buf_len= on the command line';
        ev.push(f.src.evidence('log_buf_len=', cd, lbl));
      }
    }
    const dm = f.src.get('dmesg');
    if (dm.ok) {
      const m = dmesgLogBufBytes(dm.text);
      if (m) {
        bytes = Math.max(bytes ?? 0, m.bytes);
        how = 'boot message';
        ev.push(f.src.evidence('boot message', dm, m.line));
      }
    }
    if (bytes === null) {
      const { config, ev: cev } = f.kernelConfig();
      const shift = Number(config?.get('CONFIG_LOG_BUF_SHIFT'));
      if (config && Number.isInteger(shift) && shift > 0) {
        bytes = 2 ** shift;
        how = `CONFIG_LOG_BUF_SHIFT=${shift}`;
        ev.push({ ...cev!, value: `CONFIG_LOG_BUF_SHIFT=${shift}` });
      } else if (cev) ev.push(cev);
    }
    let threads: number | null = null;
    let threadsHow = '';
    const la = f.src.get('loadavg');
    if (la.ok && (threads = parseLoadavgThreads(la.text)) !== null) {
      threadsHow = '/proc/loadavg';
      ev.push(f.src.evidence('threads', la, String(threads)));
    } else {
      const ps = f.src.get('psThreads');
      if (ps.ok) {
        threads = Math.max(0, ps.text.trim().split('\n').length - 1);
        threadsHow = 'ps -elfL';
        ev.push(f.src.evidence('threads', ps, String(threads)));
      }
    }
    const dist = f.distro();
    if (bytes === null || threads === null) {
      return finding(this.id, this.title, 'unknown', bytes === null ? 'log buffer size unknown: no log_buf_len=, boot message or kernel config' : 'thread count unknown: no /proc/loadavg or ps -elfL', ev, why, null);
    }
    const needed = threads * SYSRQ_T_BYTES_PER_THREAD;
    const estimate = `${threads} threads (${threadsHow}) × ${SYSRQ_T_BYTES_PER_THREAD} B ≈ ${formatBytes(needed)} needed; buffer ${formatBytes(bytes)} (${how})`;
    if (bytes >= needed) return finding(this.id, this.title, 'ok', estimate, ev, why, null);
    let want = 2 ** 20;
    while (want < needed * 2) want *= 2;
    return finding(this.id, this.title, 'warn', estimate, ev, why, {
      kind: 'cmdline',
      text: `Boot with log_buf_len=${want / MiB}M (a power of two with room for twice today's threads).`,
      commands: cmdlineAdd(dist, `log_buf_len=${want / MiB}M`, 'log_buf_len'),
      safe: true,
    });
  },
};

const printkTime: CheckDef = {
  id: 'printk.time',
  title: 'printk timestamps on',
  run(f) {
    const why = 'Without timestamps kernel messages cannot be ordered against application logs or each other across a hang (RHEL 6 shipped with them off).';
    const d = f.src.get('printkTime');
    const ev = [f.src.evidence('printk.time', d)];
    const dist = f.distro();
    const remedy: Remedy = {
      kind: 'cmdline',
      text: 'Turn timestamps on now and at every boot (printk.time=1).',
      commands: ['echo Y > /sys/module/printk/parameters/time', ...cmdlineAdd(dist, 'printk.time=1', 'printk.time')],
      safe: true,
    };
    if (!d.ok) return finding(this.id, this.title, 'unknown', d.reason, ev, why, remedy);
    const v = d.text.trim();
    if (/^(N|0|disabled?)$/i.test(v)) return finding(this.id, this.title, 'warn', `printk timestamps are off (${v})`, ev, why, remedy);
    return finding(this.id, this.title, 'ok', `printk timestamps are on (${v})`, ev, why, null);
  },
};

/* ====================================================================== console capture */

const consoleCapture: CheckDef = {
  id: 'console.capture',
  title: 'serial console or netconsole captures kernel messages',
  run(f) {
    const why = 'When the machine dies, messages still in memory are lost; a serial console or netconsole sends every kernel message off the box as it is printed (netconsole cannot capture early boot or kdump-time messages; serial can).';
    const ev: Evidence[] = [];
    const dests: string[] = [];
    const notes: string[] = [];
    const { c, d: cd } = f.cmdline();
    for (const v of c?.params.get('console') ?? []) {
      if (/^(ttyS|ttyAMA|ttysclp|hvc|ttyUSB)\d*/.test(v)) {
        dests.push(`serial ${v}`);
        ev.push(f.src.evidence('console=', cd, v));
      }
    }
    const cons = f.src.get('consoles');
    if (cons.ok) {
      const serial = cons.text.split('\n').filter((l) => /^(ttyS|ttyAMA|ttysclp|hvc|ttyUSB)\d+/.test(l));
      if (serial.length) {
        const names = serial.map((l) => l.split(/\s+/)[0]!);
        for (const n of names) if (!dests.some((x) => x.startsWith(`serial ${n}`))) dests.push(`serial ${n}`);
        ev.push(f.src.evidence('/proc/consoles', cons, names.join(', ')));
      }
    }
    for (const v of c?.params.get('netconsole') ?? []) {
      dests.push(`netconsole ${v.replace(/^.*,/, '')}`);
      ev.push(f.src.evidence('netconsole=', cd, v));
      if (!/\/[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(v)) notes.push('netconsole= without a target MAC broadcasts to ff:ff:ff:ff:ff:ff');
    }
    const targets = f.src.list('/sys/kernel/config/netconsole');
    for (const t of targets ?? []) {
      if (!/^[\w.:-]+$/.test(t)) continue; // a configfs target name becomes part of a path
      const base = `/sys/kernel/config/netconsole/${t}`;
      if (f.src.value(`${base}/enabled`) !== '1') continue;
      const ip = f.src.value(`${base}/remote_ip`) ?? '?';
      const port = f.src.value(`${base}/remote_port`) ?? '?';
      const dev = f.src.value(`${base}/dev_name`) ?? '?';
      dests.push(`netconsole ${ip}:${port} via ${dev}`);
      ev.push({ what: `netconsole target ${t}`, value: `enabled, ${ip}:${port} via ${dev}`, path: f.src.host.mapPath(base) });
    }
    const mods = f.src.get('modules');
    if (mods.ok && /^netconsole\s/m.test(mods.text)) {
      ev.push(f.src.evidence('netconsole module', mods, 'loaded'));
      if (!dests.some((x) => x.startsWith('netconsole'))) dests.push('netconsole (module loaded; target set by module options)');
    }
    // Module options persisted for netconsole (loaded at boot via modules-load.d or an alias).
    for (const name of f.src.list('/etc/modprobe.d') ?? []) {
      if (!/^[\w.-]+\.conf$/.test(name)) continue; // the file name becomes part of a path
      const md = f.src.file(`/etc/modprobe.d/${name}`);
      if (!md.ok) continue;
      const m = /^\s*options\s+netconsole\s+.*\bnetconsole=(\S+)/m.exec(md.text);
      if (m) {
        ev.push(f.src.evidence('options netconsole', md, m[1]!));
        if (!dests.some((x) => x.startsWith('netconsole'))) dests.push(`netconsole ${m[1]!.replace(/^.*,/, '')} (modprobe options)`);
      }
    }
    const sc = f.src.get('netconsoleSysconfig');
    if (sc.ok) {
      const v = parseShellVars(sc.text);
      const addr = v.get('SYSLOGADDR');
      if (addr) {
        ev.push(f.src.evidence('SYSLOGADDR', sc, `${addr}:${v.get('SYSLOGPORT') ?? '514'}`));
        const svc = f.service(['netconsole.service'], ['netconsole']);
        ev.push(...svc.evidence);
        if (svc.enabled) dests.push(`netconsole ${addr}:${v.get('SYSLOGPORT') ?? '514'} (netconsole service)`);
        else notes.push(`/etc/sysconfig/netconsole names ${addr} but the netconsole service is not enabled`);
      }
    }
    const dist = f.distro();
    const remedy: Remedy = {
      kind: 'cmdline',
      text: 'Send kernel messages off the box: a serial console (console=ttyS0,115200n8 and console=tty0, captured by a console server or IPMI SOL) or netconsole to a `lantern netconsole` receiver.',
      commands: cmdlineAdd(dist, 'console=tty0 console=ttyS0,115200n8', 'console'),
      safe: false,
    };
    if (dests.length) return finding(this.id, this.title, 'ok', `kernel messages go to ${[...new Set(dests)].join('; ')}${notes.length ? ` (${notes.join('; ')})` : ''}`, ev, why, null);
    if (!c && !cons.ok) return finding(this.id, this.title, 'unknown', 'neither /proc/cmdline nor /proc/consoles collected', [f.src.evidence('/proc/cmdline', cd), f.src.evidence('/proc/consoles', cons)], why, remedy);
    if (!ev.length) ev.push(f.src.evidence('kernel command line', cd, 'no console=ttyS… or netconsole='));
    const snapNote = f.src.kind === 'sosreport' ? ' (sosreports do not collect netconsole configfs targets)' : '';
    return finding(this.id, this.title, 'warn', `no serial console or netconsole found${notes.length ? `; ${notes.join('; ')}` : ''}${snapNote}`, ev, why, remedy);
  },
};

/* ====================================================================== OOM */

const oomPanic: CheckDef = {
  id: 'oom.panic',
  title: 'vm.panic_on_oom policy',
  run(f) {
    const why = 'panic_on_oom=0 lets the OOM killer kill one process and keeps the server up; 1 or 2 panic instead (for cluster fail-over), which only leaves evidence if kdump is working.';
    const d = f.src.sysctl('vm.panic_on_oom');
    const dump = f.src.sysctl('vm.oom_dump_tasks');
    const ev = [f.src.evidence('vm.panic_on_oom', d), f.src.evidence('vm.oom_dump_tasks', dump)];
    if (!d.ok) return finding(this.id, this.title, 'unknown', d.reason, ev, why, null);
    const v = d.text.trim();
    if (dump.ok && dump.text.trim() === '0') {
      return finding(this.id, this.title, 'warn', `vm.oom_dump_tasks=0: an OOM kill will not log the task table`, ev, why, sysctlRemedy('vm.oom_dump_tasks', '1', 'Log the task table (with oom_score_adj) at every OOM kill.'));
    }
    const meaning: Record<string, string> = {
      '0': 'the OOM killer kills a process; no panic',
      '1': 'panic on system-wide OOM (a process is still killed for cpuset/mempolicy-confined OOM)',
      '2': 'always panic on OOM, even in a memory cgroup',
    };
    if (v === '0') return finding(this.id, this.title, 'ok', `vm.panic_on_oom=0: ${meaning['0']}`, ev, why, null);
    if (v === '1' || v === '2') {
      const cl = crashLoaded(f);
      ev.push(cl.ev);
      if (cl.loaded === false) return finding(this.id, this.title, 'warn', `vm.panic_on_oom=${v} (${meaning[v]}) but no crash kernel is loaded: an OOM panic leaves no vmcore`, ev, why, { kind: 'manual', text: 'Make kdump operational (see kdump.* findings) or set vm.panic_on_oom=0.', commands: [], safe: false });
      return finding(this.id, this.title, 'info', `vm.panic_on_oom=${v}: ${meaning[v]}; with kdump the vmcore shows why memory ran out`, ev, why, null);
    }
    return finding(this.id, this.title, 'unknown', `unexpected vm.panic_on_oom value "${v}"`, ev, why, null);
  },
};

/** Processes that should never be exempt from the OOM killer: applications and databases. */
const APPLICATION_RE = /^(java|postgres|postmaster|mysqld|mariadbd|mongod|redis-server|oracle|ora_\w+|tnslsnr|beam\.smp|node|python\d*(\.\d+)?|ruby|php-fpm|httpd|nginx|elasticsearch|memcached|sqlservr|db2sysc|hdbindexserver)$/;

const oomExempt: CheckDef = {
  id: 'oom.exempt',
  title: 'processes excluded from the OOM killer',
  run(f) {
    const why = 'A process with oom_score_adj -1000 (oom_adj -17) is never chosen by the OOM killer, and its children inherit that; if it is the one leaking memory the kernel kills everything else or panics with "no killable processes".';
    const p = f.processes();
    if (p.pids === null || p.scanned === 0) {
      return finding(this.id, this.title, 'unknown', p.pids === null ? 'no per-process data (/proc/<pid>/oom_score_adj) in this root' : 'no process could be read', [{ what: '/proc/<pid>/oom_score_adj', value: null, path: null, reason: 'not collected' }], why, null);
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
      commands: ['grep -rn "OOMScoreAdjust" /etc/systemd/system /usr/lib/systemd/system', 'systemctl show -p OOMScoreAdjust <unit>'],
      safe: false,
    };
    if (apps.length) return finding(this.id, this.title, 'warn', `application processes excluded from the OOM killer: ${apps.join(', ')}${unexpected.length ? `; also ${unexpected.join(', ')}` : ''}${partial}`, ev, why, remedy);
    if (unexpected.length) return finding(this.id, this.title, 'warn', `unexpected processes excluded from the OOM killer: ${unexpected.join(', ')}${partial}`, ev, why, remedy);
    if (p.exempt.length) return finding(this.id, this.title, 'ok', `${p.exempt.length} process(es) excluded, all expected system daemons (${[...groups.keys()].map(safeName).join(', ')})${partial}`, ev, why, null);
    return finding(this.id, this.title, 'ok', `no process is excluded from the OOM killer (${p.scanned} scanned)${partial}`, ev, why, null);
  },
};

/** A process name is host data: keep it printable and short for messages. */
function safeName(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 32);
}

/* ====================================================================== hung tasks */

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
    if (svc.enabled === true || svc.active === true || (svc.enabled === null && svc.active === null)) out.push({ secs: t, what: 'watchdog daemon timeout', ev: f.src.evidence('watchdog-timeout', wd, `${t} s`) });
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

const hungTimeout: CheckDef = {
  id: 'hung.timeout',
  title: 'hung-task detector on, and faster than fail-over',
  run(f) {
    const why = 'khungtaskd reports tasks stuck in D state longer than kernel.hung_task_timeout_secs with their stacks; it is off at 0, and if a cluster fences the node sooner, the report is never written.';
    const d = f.src.sysctl('kernel.hung_task_timeout_secs');
    const ev: Evidence[] = [f.src.evidence('kernel.hung_task_timeout_secs', d)];
    const cluster = clusterTimeouts(f);
    ev.push(...cluster.map((c) => c.ev));
    const fastest = cluster.length ? Math.min(...cluster.map((c) => c.secs)) : null;
    const target = fastest !== null ? Math.max(1, Math.floor(fastest / 2)) : 120;
    const remedy = sysctlRemedy('kernel.hung_task_timeout_secs', String(target), fastest !== null ? `Report hung tasks before this node is fenced or reset (half of the fastest timeout, ${fastest} s).` : 'Turn the hung-task detector on with the kernel default of 120 s (lower it to report sooner).');
    if (!d.ok) {
      if (f.src.kind === 'live' && !d.notCollected) return finding(this.id, this.title, 'warn', 'no kernel.hung_task_timeout_secs: kernel built without CONFIG_DETECT_HUNG_TASK', ev, why, null);
      return finding(this.id, this.title, 'unknown', d.reason, ev, why, null);
    }
    const v = Number(d.text.trim());
    if (!Number.isFinite(v)) return finding(this.id, this.title, 'unknown', `unparseable value "${d.text.trim()}"`, ev, why, null);
    if (v === 0) return finding(this.id, this.title, 'warn', 'hung-task detection is off (hung_task_timeout_secs=0)', ev, why, remedy);
    if (fastest !== null && v >= fastest) {
      const c = cluster.find((x) => x.secs === fastest)!;
      return finding(this.id, this.title, 'warn', `hung_task_timeout_secs=${v} is not shorter than the ${c.what} (${fastest} s): the node is fenced or reset before a hang is reported`, ev, why, remedy);
    }
    return finding(this.id, this.title, 'ok', `hung tasks reported after ${v} s${fastest !== null ? ` (fastest fail-over timeout ${fastest} s)` : ''}`, ev, why, null);
  },
};

const hungWarnings: CheckDef = {
  id: 'hung.warnings',
  title: 'hung-task warnings not exhausted',
  run(f) {
    const why = 'kernel.hung_task_warnings counts down with each report and reporting stops at 0; the default 10 can be used up by one incident, hiding the next.';
    const d = f.src.sysctl('kernel.hung_task_warnings');
    const ev: Evidence[] = [f.src.evidence('kernel.hung_task_warnings', d)];
    const k = f.kernel().k;
    // -1 (unlimited) exists since 3.14 and RHEL 7.4 (3.10.0-548); older kernels take a large count.
    const unlimited = k && versionBefore(k.version, [3, 10, 0]) ? '1000000' : '-1';
    const remedy = sysctlRemedy('kernel.hung_task_warnings', unlimited, unlimited === '-1' ? 'Report every hung task (-1 = unlimited).' : 'Report many more hung tasks (this kernel predates the unlimited value -1).');
    if (!d.ok) return finding(this.id, this.title, 'unknown', d.reason, ev, why, null);
    const v = Number(d.text.trim());
    if (!Number.isFinite(v)) return finding(this.id, this.title, 'unknown', `unparseable value "${d.text.trim()}"`, ev, why, null);
    if (v === -1 || v >= 2 ** 31) return finding(this.id, this.title, 'ok', 'unlimited hung-task reports', ev, why, null);
    const p = f.persisted('kernel.hung_task_warnings');
    const configured = p && Number.isFinite(Number(p.value)) ? Number(p.value) : 10;
    if (p) ev.push({ what: 'kernel.hung_task_warnings (persisted)', value: `${p.value} (${p.file}:${p.line})`, path: p.realPath });
    if (v === 0) return finding(this.id, this.title, 'warn', 'hung_task_warnings=0: no more hung-task reports until reboot', ev, why, remedy);
    if (v < configured && configured > 0) return finding(this.id, this.title, 'info', `hung_task_warnings=${v} of ${configured}: ${configured - v} hung-task report(s) already since boot`, ev, why, remedy);
    if (v < 10) return finding(this.id, this.title, 'warn', `only ${v} hung-task reports allowed`, ev, why, remedy);
    return finding(this.id, this.title, 'ok', `${v} hung-task reports left`, ev, why, null);
  },
};

const hungPanic: CheckDef = {
  id: 'hung.panic',
  title: 'hung_task_panic',
  run(f) {
    const why = 'hung_task_panic=1 turns a hung task into a panic (and a vmcore with kdump); with a short timeout, an I/O stall on a busy SAN then reboots a healthy server.';
    const d = f.src.sysctl('kernel.hung_task_panic');
    const t = f.src.sysctl('kernel.hung_task_timeout_secs');
    const ev = [f.src.evidence('kernel.hung_task_panic', d), f.src.evidence('kernel.hung_task_timeout_secs', t)];
    if (!d.ok) {
      if (f.src.kind === 'live' && !d.notCollected) return finding(this.id, this.title, 'info', 'no kernel.hung_task_panic (kernel without the hung-task detector)', ev, why, null);
      return finding(this.id, this.title, 'unknown', d.reason, ev, why, null);
    }
    const v = Number(d.text.trim());
    const timeout = num(t);
    if (v === 0) return finding(this.id, this.title, 'ok', 'hung tasks are reported, not turned into panics (hung_task_panic=0)', ev, why, null);
    const cl = crashLoaded(f);
    ev.push(cl.ev);
    if (timeout !== null && timeout > 0 && timeout < 60) return finding(this.id, this.title, 'warn', `hung_task_panic=${v} with a ${timeout} s timeout: an I/O stall can panic the server`, ev, why, sysctlRemedy('kernel.hung_task_panic', '0', 'Report hung tasks without panicking (or raise the timeout).', false));
    if (cl.loaded === false) return finding(this.id, this.title, 'warn', `hung_task_panic=${v} but no crash kernel is loaded: the panic leaves no vmcore`, ev, why, null);
    return finding(this.id, this.title, 'info', `hung_task_panic=${v}: a hung task panics the server (with a vmcore if kdump works)`, ev, why, null);
  },
};

/* ====================================================================== panic behaviour */

const panicSettings: CheckDef = {
  id: 'panic.settings',
  title: 'what a panic, oops or lockup does',
  run(f) {
    const why = 'These settings decide whether an oops or soft lockup becomes a panic (and so a vmcore with kdump) and whether the server reboots afterwards or stays stopped with the panic on its console.';
    const keys = ['kernel.panic', 'kernel.panic_on_oops', 'kernel.softlockup_panic', 'kernel.watchdog_thresh', 'kernel.nmi_watchdog'];
    const vals = new Map<string, number | null>();
    const ev: Evidence[] = [];
    for (const k of keys) {
      const d = f.src.sysctl(k);
      vals.set(k, num(d));
      ev.push(f.src.evidence(k, d));
    }
    if ([...vals.values()].every((v) => v === null)) return finding(this.id, this.title, 'unknown', 'no panic sysctl collected', ev, why, null);
    const panic = vals.get('kernel.panic');
    const oops = vals.get('kernel.panic_on_oops');
    const parts: string[] = [];
    if (panic !== null && panic !== undefined) parts.push(panic === 0 ? 'a panic leaves the server stopped (kernel.panic=0)' : panic < 0 ? 'a panic reboots at once' : `a panic reboots after ${panic} s`);
    if (oops !== null && oops !== undefined) parts.push(oops ? 'an oops panics' : 'an oops kills only the task (panic_on_oops=0)');
    const soft = vals.get('kernel.softlockup_panic');
    if (soft !== null && soft !== undefined) parts.push(soft ? 'a soft lockup panics' : 'soft lockups are reported only');
    const thresh = vals.get('kernel.watchdog_thresh');
    if (thresh !== null && thresh !== undefined) parts.push(thresh === 0 ? 'lockup detector off (watchdog_thresh=0)' : `soft lockup after ${2 * thresh} s`);
    const cl = crashLoaded(f);
    ev.push(cl.ev);
    // panic_on_oops=0 with working kdump wastes the chance of a vmcore of the first oops.
    if (oops === 0 && cl.loaded === true)
      return finding(this.id, this.title, 'info', `${parts.join('; ')}; with kdump loaded, kernel.panic_on_oops=1 would capture a vmcore of the first oops`, ev, why, sysctlRemedy('kernel.panic_on_oops', '1', 'Panic (and so dump) on the first oops instead of running on with a damaged kernel.', false));
    return finding(this.id, this.title, 'info', parts.join('; '), ev, why, null);
  },
};

/* ====================================================================== vfs_cache_pressure */

const vfsCachePressure: CheckDef = {
  id: 'vfs.cache-pressure',
  title: 'vm.vfs_cache_pressure in 1–100',
  run(f) {
    const why = 'vfs_cache_pressure=0 never reclaims dentries and inodes (out-of-memory risk); above 100, kernels before 3.12 compute (nr_unused/100)×pressure in an int that overflows, breaking the slab shrinker.';
    const d = f.src.sysctl('vm.vfs_cache_pressure');
    const ev: Evidence[] = [f.src.evidence('vm.vfs_cache_pressure', d)];
    const remedy = sysctlRemedy('vm.vfs_cache_pressure', '100', 'Return vm.vfs_cache_pressure to the kernel default 100.');
    if (!d.ok) return finding(this.id, this.title, 'unknown', d.reason, ev, why, null);
    const p = Number(d.text.trim());
    if (!Number.isInteger(p) || p < 0) return finding(this.id, this.title, 'unknown', `unparseable value "${d.text.trim()}"`, ev, why, null);
    if (p === 0) return finding(this.id, this.title, 'fail', 'vfs_cache_pressure=0: dentries and inodes are never reclaimed', ev, why, remedy);
    if (p <= 100) return finding(this.id, this.title, 'ok', `vfs_cache_pressure=${p}: within 1–100, the old shrinker product cannot overflow`, ev, why, null);
    const k = f.kernel();
    ev.push(k.ev);
    const dentry = f.src.sysctl('fs.dentry-state');
    ev.push(f.src.evidence('fs.dentry-state', dentry));
    if (!k.k) return finding(this.id, this.title, 'warn', `vfs_cache_pressure=${p} > 100; kernel version unknown, so the overflow margin cannot be judged`, ev, why, remedy);
    const oldShrinker = versionBefore(k.k.version, [3, 12, 0]);
    if (!oldShrinker) return finding(this.id, this.title, 'warn', `vfs_cache_pressure=${p} > 100 reclaims dentries and inodes aggressively (kernel ${k.k.raw} has the 64-bit shrinker: no overflow)`, ev, why, remedy);
    const st = dentry.ok ? parseDentryState(dentry.text) : null;
    if (!st) return finding(this.id, this.title, 'warn', `vfs_cache_pressure=${p} on a pre-3.12 kernel; dentry-state unavailable, overflow margin unknown`, ev, why, remedy);
    const product = shrinkerProduct(st.nrUnused, p);
    const limitUnused = Math.ceil((INT_MAX + 1) / p) * 100;
    const margin = `floor(${st.nrUnused} unused / 100) × ${p} = ${product} vs INT_MAX ${INT_MAX}; overflows at ≈${limitUnused} unused dentries`;
    if (product > INT_MAX) return finding(this.id, this.title, 'fail', `the dcache shrinker count has overflowed: ${margin}`, ev, why, remedy);
    if (product > INT_MAX / 2) return finding(this.id, this.title, 'fail', `the dcache shrinker count is within 2× of overflow: ${margin}`, ev, why, remedy);
    return finding(this.id, this.title, 'warn', `vfs_cache_pressure=${p} > 100 on a pre-3.12 kernel: ${margin}`, ev, why, remedy);
  },
};

/* ====================================================================== sysstat, audit */

const sysstat: CheckDef = {
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

const audit: CheckDef = {
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
    const remedy: Remedy = { kind: 'package', text: 'Install auditd and enable it at boot.', commands: [pkgInstall(dist, 'audit', 'auditd'), serviceEnable(dist, 'auditd.service')], safe: true };
    const running = kernelOn ?? s.active;
    if (installed === false && running !== true) return finding(this.id, this.title, 'warn', 'auditd is not installed', ev, why, remedy);
    if (running === true) return finding(this.id, this.title, s.enabled === false ? 'warn' : 'ok', s.enabled === false ? 'auditd is running but not enabled at boot' : 'auditd is running', ev, why, s.enabled === false ? remedy : null);
    if (running === false) return finding(this.id, this.title, 'warn', 'auditd is installed but not running', ev, why, remedy);
    return finding(this.id, this.title, 'unknown', 'whether auditd runs was not collected', ev, why, remedy);
  },
};

/* ====================================================================== uptime bugs */

/** RHEL 6 kernels before this one have the 208.5-day sched_clock / cyc2ns problems (per the 2014 talk). */
export const RHEL6_UPTIME_FIX = '358.23.2.el6';
const DAY = 86400;
const SCHED_CLOCK_DAYS = 208.5;

function formatUptime(secs: number): string {
  if (secs >= DAY) return `${(secs / DAY).toFixed(1)} days`;
  if (secs >= 3600) return `${(secs / 3600).toFixed(1)} hours`;
  return `${Math.floor(secs / 60)} min`;
}

const uptimeBugs: CheckDef = {
  id: 'uptime.bugs',
  title: 'known uptime bugs (208.5 days)',
  run(f) {
    const why = 'x86 kernels with the sched_clock overflow (RHEL 6 before 2.6.32-358.23.2.el6, upstream 2.6.28–3.1.4) can panic or hang at 208.5 days of uptime, or after a warm reboot of hardware powered on that long.';
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
      const when = date.ok ? Date.parse(date.text.trim().split('\n')[0]!.replace(/\s+[A-Z]{3,4}\s+(\d{4})$/, ' $1')) : NaN;
      if (Number.isFinite(when)) boot = new Date(when - secs * 1000);
    }
    ev.push(f.src.evidence('uptime', up, secs !== null ? formatUptime(secs) : undefined));
    if (boot) ev.push({ what: 'boot time', value: boot.toISOString(), path: btime !== null && bt.ok ? bt.path : up.ok ? up.path : null });
    const upText = secs !== null ? `up ${formatUptime(secs)}${boot ? ` since ${boot.toISOString().replace(/\.\d+Z$/, 'Z')}` : ''}` : 'uptime unknown';
    if (!k.k) return finding(this.id, this.title, 'unknown', `kernel release unknown; ${upText}`, ev, why, null);
    const rel = k.k;
    let affected: string | null = null;
    if (rel.rhelMajor === 6 && rel.version.join('.') === '2.6.32') {
      const release = rel.release.replace(/\.(x86_64|i686)$/, '');
      if (rpmvercmp(release, RHEL6_UPTIME_FIX) < 0) affected = `RHEL 6 kernel ${rel.raw} is older than 2.6.32-${RHEL6_UPTIME_FIX} (fix per the talk)`;
    } else if (rel.rhelMajor === null && !versionBefore(rel.version, [2, 6, 28]) && versionBefore(rel.version, [3, 1, 5]) && !(rel.version[0] === 3 && rel.version[1] === 0 && rel.version[2] >= 13) && !(rel.version.join('.') === '2.6.32' && Number(/^(\d+)/.exec(rel.release)?.[1] ?? 0) >= 50)) {
      affected = `upstream kernel ${rel.raw} is in the affected range 2.6.28–3.1.4 (fixed in 3.1.5, 3.0.13, 2.6.32.50)`;
    }
    const remedy: Remedy = { kind: 'package', text: 'Update the kernel (RHEL 6: kernel-2.6.32-358.23.2.el6 or later) and reboot before 208 days of uptime.', commands: ['yum update -y kernel'], safe: false };
    if (!affected) return finding(this.id, this.title, 'ok', `kernel ${rel.raw} is not affected; ${upText}`, ev, why, null);
    if (secs !== null && secs >= (SCHED_CLOCK_DAYS - 30) * DAY) return finding(this.id, this.title, 'fail', `${affected}; ${upText}, close to or past ${SCHED_CLOCK_DAYS} days`, ev, why, remedy);
    const left = secs !== null ? `; ${(SCHED_CLOCK_DAYS - secs / DAY).toFixed(0)} days left` : '';
    return finding(this.id, this.title, 'warn', `${affected}; ${upText}${left}`, ev, why, remedy);
  },
};

/** Every check, in report order. Ids are stable (docs/check.md). */
export const CHECKS: CheckDef[] = [
  kdumpService,
  kdumpCrashkernel,
  kdumpReserved,
  kdumpTarget,
  sysrqMask,
  sysrqPersisted,
  bootQuiet,
  printkLogbuf,
  printkTime,
  consoleCapture,
  oomPanic,
  oomExempt,
  hungTimeout,
  hungWarnings,
  hungPanic,
  panicSettings,
  vfsCachePressure,
  sysstat,
  audit,
  uptimeBugs,
];

