/** kdump: service, crashkernel=, reservation, dump target. */
import { type CheckDef, MiB, crashLoaded, kdumpUnits } from './common.js';
import { type Facts, num } from '../../host/facts.js';
import type { Evidence, Remedy } from '../model.js';
import { cmdlineValue } from '../../host/formats/cmdline.js';
import { parseKdumpConf, parseKdumpEstimate } from '../../host/formats/kdump.js';
import { parseShellVars } from '../../host/formats/shell-vars.js';
import { autoCrashBytes, dmesgCrashLines, formatBytes, iomemCrashBytes, parseCrashkernel, recommendedCrashBytes } from '../parse.js';
import { cmdlineSet, pkgInstall, serviceEnable, serviceRestart } from '../remedies.js';

export const kdumpService: CheckDef = {
  id: 'kdump.service',
  title: 'kdump service enabled and active',
  commands: ['listUnits'],
  why: 'Without a running kdump service a panic leaves no vmcore: the only record of the crash is whatever reached a console.',
  minimal: true,
  run(r, f) {
    const { units, sysv } = kdumpUnits(f);
    const s = f.service(units, sysv);
    const cl = crashLoaded(f);
    const ev = [...s.evidence, cl.ev];
    const active = s.active ?? cl.loaded;
    const d = f.distro();
    const debian = d.family === 'debian';
    const unit = debian ? 'kdump-tools.service' : 'kdump.service';
    const install = pkgInstall(d, d.rhelMajor !== null && d.rhelMajor >= 10 ? 'kdump-utils' : 'kexec-tools', 'kdump-tools');
    const remedy: Remedy = { kind: 'service', text: `Install kdump and enable the ${unit} so a crash kernel is loaded at every boot.`, commands: [install, serviceEnable(d, unit)], safe: true };
    if (s.masked && active !== true) {
      return r.fail('kdump is masked: systemd will not start it', ev, {
        kind: 'service',
        text: `Unmask and enable the ${unit} (someone masked it on purpose: ask why first).`,
        commands: [serviceEnable(d, unit, true)],
        safe: true,
      });
    }
    if (s.installed === false || (s.installed === null && s.enabled === null && active === false)) {
      return r.fail('kdump is not installed', ev, remedy);
    }
    if (s.enabled === null && active === null) return r.unknown('cannot tell whether kdump is enabled or active: no service state collected', ev, remedy);
    if (s.enabled === true && active === true) return r.ok('kdump is enabled and a crash kernel is loaded', ev);
    if (active === true)
      return r.finding(s.enabled === false ? 'warn' : 'info', s.enabled === false ? 'kdump is active now but not enabled at boot' : 'kdump is active; enablement unknown', ev, remedy);
    if (s.enabled === true && active === false)
      return r.fail('kdump is enabled but not active (no crash kernel loaded)', ev, {
        ...remedy,
        text: 'Start kdump and read why it failed (kdumpctl status / journalctl -u kdump); usually no crashkernel memory is reserved.',
        commands: [serviceEnable(d, unit)],
      });
    if (active === null) return r.finding(s.enabled ? 'unknown' : 'fail', s.enabled ? 'kdump is enabled; whether it is active was not collected' : 'kdump is not enabled', ev, remedy);
    return r.fail('kdump is neither enabled nor active', ev, remedy);
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

export const kdumpCrashkernel: CheckDef = {
  id: 'kdump.crashkernel',
  title: 'crashkernel= on the kernel command line',
  why: 'The crash kernel can only be loaded into memory the running kernel reserved at boot with crashkernel=.',
  minimal: true,
  run(r, f) {
    const { c, d } = f.cmdline();
    const dist = f.distro();
    const ram = f.ram();
    const rec = ram.bytes !== null ? recommendedCrashBytes(ram.bytes) : 256 * MiB;
    const value = dist.family === 'rhel' && dist.rhelMajor !== null && dist.rhelMajor >= 9 ? null : `${Math.max(rec, 192 * MiB) / MiB}M`;
    const remedy: Remedy = {
      kind: 'cmdline',
      text: 'Reserve crash kernel memory on the kernel command line, then reboot (this takes the reserved memory away from applications).',
      commands: value === null ? ['kdumpctl reset-crashkernel --kernel=ALL'] : cmdlineSet(dist, 'crashkernel', value),
      safe: false,
    };
    if (!c || !d.ok) return r.unknown((d as { reason: string }).reason, [f.src.evidence('/proc/cmdline', d)], remedy);
    const v = cmdlineValue(c, 'crashkernel');
    const next = f.nextBoot();
    const nextV = next ? cmdlineValue(next.c, 'crashkernel') : undefined;
    if (v === undefined) {
      const ev0 = [f.src.evidence('crashkernel=', d, '(absent)')];
      if (next) ev0.push(next.ev);
      if (nextV !== undefined)
        return r.fail(`no crashkernel= on the running kernel command line; the next boot has crashkernel=${nextV} (reboot pending)`, ev0, {
          kind: 'manual',
          text: 'Reboot into the configured command line to reserve the crash kernel memory.',
          commands: [],
          safe: false,
        });
      return r.fail('no crashkernel= on the running kernel command line', ev0, remedy);
    }
    const parsed = parseCrashkernel(v, ram.bytes);
    const ev = [f.src.evidence('crashkernel=', d, v), ram.ev];
    if (next) ev.push(next.ev);
    if (next && nextV === undefined) return r.warn(`crashkernel=${v} is on the running command line but missing from the next-boot configuration`, ev, remedy);
    if (parsed.kind === 'invalid') return r.warn(`crashkernel=${v} is malformed: ${parsed.reason}`, ev, remedy);
    if (parsed.kind === 'ranges' && parsed.bytes === null) return r.fail(`crashkernel=${v} has no range matching this host's RAM: nothing is reserved`, ev, remedy);
    const size = parsed.kind === 'auto' ? 'auto' : formatBytes(parsed.kind === 'ranges' ? parsed.bytes! : parsed.bytes);
    // Whether the next boot keeps it is half of this check: not found, it cannot be ok.
    if (!next) return r.info(`crashkernel=${v} (${size}) on the running command line; the next boot's configuration was not found (BLS entries, grub.conf, /etc/default/grub)`, ev);
    return r.ok(`crashkernel=${v} (${size})`, ev);
  },
};

export const kdumpReserved: CheckDef = {
  id: 'kdump.reserved',
  title: 'crash kernel memory reserved, loaded, and large enough',
  commands: ['dmesg'],
  why: 'crashkernel= on the command line does not guarantee a reservation; too small a reservation makes the crash kernel run out of memory and no vmcore is written.',
  minimal: true,
  run(r, f) {
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
      commands: remedyCmd ?? cmdlineSet(dist, 'crashkernel', recText),
      safe: false,
    };
    if (noKexec) {
      return r.fail('this kernel has no kexec/crash dump support (/sys/kernel/kexec_crash_size is absent)', ev, {
        kind: 'manual',
        text: 'Boot a kernel built with CONFIG_KEXEC and CONFIG_CRASH_DUMP (every distribution kernel is).',
        commands: [],
        safe: false,
      });
    }
    if (reserved === null) {
      const s = size as { reason?: string };
      return r.unknown(`reservation not collected: ${s.reason ?? 'no kexec_crash_size, /proc/iomem or boot message'}`, ev);
    }
    if (reserved === 0) return r.fail('no memory is reserved for the crash kernel', ev, remedy);
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
      return r.warn(`${formatBytes(reserved)} reserved, below the ${formatBytes(rec.bytes)} recommended (${rec.how}).${autoNote}`, ev, remedy);
    }
    if (cl.loaded === false)
      return r.fail(`${formatBytes(reserved)} reserved but no crash kernel is loaded`, ev, {
        kind: 'service',
        text: 'Start the kdump service so it loads the crash kernel.',
        commands: [serviceEnable(dist, dist.family === 'debian' ? 'kdump-tools.service' : 'kdump.service')],
        safe: true,
      });
    const loadedText = cl.loaded === true ? ', crash kernel loaded' : ' (whether a crash kernel is loaded was not collected)';
    return r.finding(cl.loaded === true ? 'ok' : 'info', `${formatBytes(reserved)} reserved${rec.bytes !== null ? ` (recommended ${formatBytes(rec.bytes)})` : ''}${loadedText}`, ev);
  },
};

export const kdumpTarget: CheckDef = {
  id: 'kdump.target',
  title: 'dump target configured',
  why: 'kdump writes the vmcore to the target in its configuration; a missing or unusable target means the crash is captured and then lost.',
  minimal: true,
  run(r, f) {
    const dist = f.distro();
    const conf = f.src.get('kdumpConf');
    if (conf.ok) {
      const k = parseKdumpConf(conf.text);
      const path = k.path ?? '/var/crash';
      const collector = k.options.get('core_collector') ?? 'makedumpfile -l --message-level 7 -d 31 (default)';
      const ev = [
        f.src.evidence('kdump.conf target', conf, k.target ? `${k.target.type} ${k.target.value}` : '(none: local root file system)'),
        f.src.evidence('kdump.conf path', conf, path),
        f.src.evidence('core_collector', conf, collector),
      ];
      const fa = k.options.get('failure_action') ?? k.options.get('default');
      if (fa) ev.push(f.src.evidence('failure_action', conf, fa));
      if (/^(cp|scp)\b/.test(k.options.get('core_collector') ?? '')) {
        return r.warn(`core_collector ${k.options.get('core_collector')} copies all of memory: the target needs free space of at least RAM size`, ev, {
          kind: 'file',
          text: 'Use makedumpfile in /etc/kdump.conf to write a filtered, compressed dump.',
          commands: [`sed -i -E 's/^core_collector[[:space:]].*/core_collector makedumpfile -l --message-level 7 -d 31/' /etc/kdump.conf`, serviceEnable(dist, 'kdump.service')],
          safe: true,
        });
      }
      const where = k.target ? `${k.target.type} ${k.target.value}, path ${path}` : `local root file system, path ${path}`;
      return r.ok(`vmcore goes to ${where}`, ev);
    }
    const deb = f.src.get('kdumpToolsDefault');
    if (deb.ok) {
      const v = parseShellVars(deb.text);
      const use = v.get('USE_KDUMP');
      const dir = v.get('KDUMP_COREDIR') ?? '/var/crash';
      const remote = v.get('SSH') ? `ssh ${v.get('SSH')}` : v.get('NFS') ? `nfs ${v.get('NFS')}` : null;
      const ev = [f.src.evidence('USE_KDUMP', deb, use ?? '(unset)'), f.src.evidence('dump target', deb, remote ?? `local ${dir}`)];
      if (use !== '1')
        return r.fail('kdump-tools is installed but disabled (USE_KDUMP is not 1)', ev, {
          kind: 'file',
          text: 'Set USE_KDUMP=1 in /etc/default/kdump-tools and restart kdump-tools.',
          commands: [`sed -i -E 's/^#?[[:space:]]*USE_KDUMP=.*/USE_KDUMP=1/' /etc/default/kdump-tools`, serviceRestart(dist, 'kdump-tools.service')],
          safe: true,
        });
      return r.ok(`vmcore goes to ${remote ?? `local ${dir}`}`, ev);
    }
    const ev = [f.src.evidence('/etc/kdump.conf', conf), f.src.evidence('/etc/default/kdump-tools', deb)];
    {
      const svc = f.service(kdumpUnits(f).units, kdumpUnits(f).sysv);
      if (f.src.kind === 'live' || svc.installed === false) {
        ev.push(...svc.evidence);
        return r.fail('no kdump configuration (/etc/kdump.conf or /etc/default/kdump-tools)', ev, {
          kind: 'package',
          text: 'Install kdump; its package ships the configuration with a local /var/crash target.',
          commands: [pkgInstall(dist, 'kexec-tools', 'kdump-tools')],
          safe: true,
        });
      }
    }
    return r.unknown('kdump configuration not collected', ev);
  },
};
