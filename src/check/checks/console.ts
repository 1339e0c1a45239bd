/** Console capture: serial console or netconsole. */
import type { CheckDef } from './common.js';
import type { Evidence, Remedy } from '../model.js';
import { parseShellVars } from '../../host/formats/shell-vars.js';
import { cmdlineAdd } from '../remedies.js';

export const consoleCapture: CheckDef = {
  id: 'console.capture',
  title: 'serial console or netconsole captures kernel messages',
  why: 'When the machine dies, messages still in memory are lost; a serial console or netconsole sends every kernel message off the box as it is printed (netconsole cannot capture early boot or kdump-time messages; serial can).',
  minimal: true,
  run(r, f) {
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
    if (dests.length) return r.ok(`kernel messages go to ${[...new Set(dests)].join('; ')}${notes.length ? ` (${notes.join('; ')})` : ''}`, ev);
    if (!c && !cons.ok) return r.unknown('neither /proc/cmdline nor /proc/consoles collected', [f.src.evidence('/proc/cmdline', cd), f.src.evidence('/proc/consoles', cons)], remedy);
    if (!ev.length) ev.push(f.src.evidence('kernel command line', cd, 'no console=ttyS… or netconsole='));
    const snapNote = f.src.kind === 'sosreport' ? ' (sosreports do not collect netconsole configfs targets)' : '';
    return r.warn(`no serial console or netconsole found${notes.length ? `; ${notes.join('; ')}` : ''}${snapNote}`, ev, remedy);
  },
};
