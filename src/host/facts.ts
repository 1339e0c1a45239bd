/**
 * Facts several checks share (command line, kernel, RAM, distro, services, processes),
 * derived once per run from `Sources`. Each fact carries the evidence it came from.
 */
import { startsMultiUser, parseChkconfig } from './formats/chkconfig.js';
import { parseDpkgL, parseDpkgStatus } from './formats/dpkg.js';
import { expandGrubVars, grubDefaultArgs, grubLegacyDefault, parseBlsEntry, parseGrubenv } from './formats/grub.js';
import { parseKernelConfig, parseKernelRelease, type KernelRelease } from './formats/kernel.js';
import { memTotalBytes } from './formats/meminfo.js';
import { parseRpmList } from './formats/rpm.js';
import { parseOsRelease } from './formats/shell-vars.js';
import { parseSysctlConf, SYSCTL_DIRS, sysctlApplyOrder, sysctlKey } from './formats/sysctl.js';
import { parseListUnits, parseUnitFiles } from './formats/systemd-units.js';
import { newestVersion, compareVersions } from './formats/versions.js';
import { type Cmdline, parseCmdline } from './formats/cmdline.js';
import { parseLoadavgThreads } from './formats/proc.js';
import { parsePsCommands } from './formats/ps.js';
import { PROCESS_FILES, ProcTable } from './proctable.js';
import type { Datum, Evidence, Sources } from './sources.js';

export type Family = 'rhel' | 'debian' | 'other';

export interface Distro {
  family: Family;
  /** RHEL (or clone) major release, when known. */
  rhelMajor: number | null;
  name: string | null;
  /** What manages services (PID 1): remedies say systemctl only for systemd. null: unknown. */
  init: 'systemd' | 'sysv' | null;
  evidence: Evidence[];
}

export interface ExemptProcess {
  pid: number;
  comm: string;
  ppid: number | null;
  /** oom_score_adj (-1000), or the legacy oom_adj (-17) when only that exists. */
  value: number;
  legacy: boolean;
  path: string;
}

export interface ProcessScan {
  /** null when the root holds no per-process data at all */
  pids: number | null;
  scanned: number;
  /** Processes that exited between the listing and the read (live) or were unreadable. */
  unreadable: number;
  exempt: ExemptProcess[];
  /** Command names seen (for "is daemon X running"). */
  names: Set<string>;
  /** Where names came from when no per-process dirs were collected (sosreport ps listing). */
  namesFrom: string | null;
}

export interface ServiceState {
  installed: boolean | null;
  enabled: boolean | null;
  active: boolean | null;
  /** A unit is masked (linked to /dev/null): `systemctl enable` refuses it until unmasked. */
  masked: boolean;
  evidence: Evidence[];
}

export interface PersistedSysctl {
  value: string;
  file: string;
  line: number;
  realPath: string;
}

/** Kernel threads and daemons that legitimately (or unavoidably) run with OOM_SCORE_ADJ_MIN. */
export const OOM_EXEMPT_EXPECTED = new Set(['systemd', 'init', 'auditd', 'systemd-udevd', 'udevd', 'multipathd', 'iscsid', 'iscsiuio', 'dmeventd', 'lvmetad', 'corosync', 'sbd', 'watchdog', 'kdump']);

export class Facts {
  private memo = new Map<string, unknown>();

  constructor(readonly src: Sources) {}

  private once<T>(key: string, f: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, f());
    return this.memo.get(key) as T;
  }

  cmdline(): { c: Cmdline | null; d: Datum } {
    return this.once('cmdline', () => {
      const d = this.src.get('cmdline');
      return { c: d.ok ? parseCmdline(d.text) : null, d };
    });
  }

  kernel(): { k: KernelRelease | null; ev: Evidence } {
    return this.once('kernel', () => {
      const d = this.src.get('osrelease');
      if (d.ok) return { k: parseKernelRelease(d.text), ev: this.src.evidence('kernel release', d) };
      const u = this.src.get('uname');
      if (u.ok) {
        const rel = u.text.trim().split(/\s+/)[2] ?? '';
        return { k: parseKernelRelease(rel), ev: this.src.evidence('kernel release (uname -a)', u, rel) };
      }
      return { k: null, ev: this.src.evidence('kernel release', d) };
    });
  }

  ram(): { bytes: number | null; ev: Evidence } {
    return this.once('ram', () => {
      const d = this.src.get('meminfo');
      const bytes = d.ok ? memTotalBytes(d.text) : null;
      return { bytes, ev: this.src.evidence('MemTotal', d, d.ok ? (bytes === null ? 'unparseable' : `${Math.round(bytes / 2 ** 20)} MiB`) : undefined) };
    });
  }

  /** /boot/config-<release> of the running kernel; null when the release is unknown or not a safe file name. */
  private bootConfig(): { release: string; d: Datum } | null {
    const k = this.kernel().k;
    // The release becomes part of a path: accept only what a kernel release looks like.
    if (!k || !/^[\w.+~-]+$/.test(k.raw) || k.raw.includes('..')) return null;
    return { release: k.raw, d: this.src.file(`/boot/config-${k.raw}`) };
  }

  /** Whether kernelConfig() would run `zcat /proc/config.gz`: a live host without /boot/config-<release>. */
  needsProcConfigGz(): boolean {
    const b = this.bootConfig();
    return b !== null && !b.d.ok && this.src.kind === 'live';
  }

  kernelConfig(): { config: Map<string, string> | null; ev: Evidence | null } {
    return this.once('kconfig', () => {
      const b = this.bootConfig();
      if (!b) return { config: null, ev: null };
      const { release, d } = b;
      if (this.needsProcConfigGz()) {
        const z = this.src.get('procConfigGz');
        if (z.ok) return { config: parseKernelConfig(z.text), ev: { what: 'kernel config', value: '/proc/config.gz', path: z.path } };
      }
      if (!d.ok) return { config: null, ev: this.src.evidence('kernel config', d) };
      return { config: parseKernelConfig(d.text), ev: { what: 'kernel config', value: `/boot/config-${release}`, path: d.path } };
    });
  }

  distro(): Distro {
    return this.once('distro', () => {
      const evidence: Evidence[] = [];
      let family: Family = 'other';
      let rhelMajor: number | null = null;
      let name: string | null = null;
      const os = this.src.get('osRelease');
      if (os.ok) {
        const m = parseOsRelease(os.text);
        name = m.get('PRETTY_NAME') ?? m.get('NAME') ?? null;
        const ids = `${m.get('ID') ?? ''} ${m.get('ID_LIKE') ?? ''}`;
        if (/\b(rhel|fedora|centos|rocky|almalinux|ol)\b/.test(ids)) {
          family = 'rhel';
          const v = /^(\d+)/.exec(m.get('VERSION_ID') ?? '');
          if (v && /\b(rhel|centos|rocky|almalinux|ol)\b/.test(ids)) rhelMajor = Number(v[1]);
        } else if (/\b(debian|ubuntu)\b/.test(ids)) family = 'debian';
        evidence.push(this.src.evidence('os-release', os, name));
      }
      const rr = this.src.get('redhatRelease');
      if (rr.ok) {
        family = 'rhel';
        name ??= rr.text.trim();
        const v = /release (\d+)/.exec(rr.text);
        if (v) rhelMajor ??= Number(v[1]);
        evidence.push(this.src.evidence('redhat-release', rr));
      }
      if (family === 'other') {
        const dv = this.src.get('debianVersion');
        if (dv.ok) {
          family = 'debian';
          evidence.push(this.src.evidence('debian_version', dv));
        }
      }
      const k = this.kernel().k;
      if (k?.rhelMajor) {
        if (family === 'other') family = 'rhel';
        rhelMajor ??= k.rhelMajor;
      }
      const init = this.initSystem().init;
      return { family, rhelMajor, name, init, evidence };
    });
  }

  /**
   * The kernel arguments of the next boot, from the boot loader configuration: BLS entries
   * (RHEL 8+, `$kernelopts` from grubenv), legacy grub.conf (RHEL 6), or /etc/default/grub
   * with /etc/default/grub.d/*.cfg (Debian, RHEL 7). null when none was found.
   */
  nextBoot(): { c: Cmdline; ev: Evidence } | null {
    return this.once('nextBoot', () => {
      const running = this.kernel().k?.raw ?? null;
      const entries = (this.src.list('/boot/loader/entries') ?? []).filter((n) => /^[\w.+~-]+\.conf$/.test(n));
      if (entries.length) {
        const parsed = entries.map((n) => ({ n, d: this.src.file(`/boot/loader/entries/${n}`) })).filter((e) => e.d.ok);
        const pick =
          parsed.find((e) => e.d.ok && running !== null && (parseBlsEntry(e.d.text).version === running || (parseBlsEntry(e.d.text).linux ?? '').endsWith(`vmlinuz-${running}`))) ??
          parsed[parsed.length - 1];
        if (pick && pick.d.ok) {
          let opts = parseBlsEntry(pick.d.text).options ?? '';
          if (opts.includes('$')) {
            const env = this.src.file('/boot/grub2/grubenv');
            opts = expandGrubVars(opts, env.ok ? parseGrubenv(env.text) : new Map<string, string>());
          }
          return { c: parseCmdline(opts), ev: { what: 'next boot (BLS entry options)', value: opts.trim(), path: pick.d.path } };
        }
      }
      for (const p of ['/boot/grub/grub.conf', '/boot/grub/menu.lst']) {
        const d = this.src.file(p);
        if (!d.ok) continue;
        const e = grubLegacyDefault(d.text);
        if (e) return { c: parseCmdline(e.args), ev: { what: `next boot (grub.conf default: ${e.title})`, value: e.args, path: d.path } };
      }
      const dg = this.src.file('/etc/default/grub');
      if (dg.ok) {
        const texts = [dg.text];
        for (const n of this.src.list('/etc/default/grub.d') ?? []) {
          if (!/^[\w.-]+\.cfg$/.test(n)) continue;
          const s = this.src.file(`/etc/default/grub.d/${n}`);
          if (s.ok) texts.push(s.text);
        }
        const args = grubDefaultArgs(texts);
        if (args !== null) return { c: parseCmdline(args), ev: { what: 'next boot (/etc/default/grub)', value: args, path: dg.path } };
      }
      return null;
    });
  }

  /** The sysctl drop-ins in application order, with the last setting of each key. */
  persistedSysctls(): { settings: Map<string, PersistedSysctl>; files: string[]; collected: boolean } {
    return this.once('persisted', () => {
      const files: { dir: string; name: string }[] = [];
      let collected = false;
      for (const dir of SYSCTL_DIRS) {
        const names = this.src.list(dir);
        if (names) {
          collected = true;
          for (const n of names) files.push({ dir, name: n });
        }
      }
      const order = sysctlApplyOrder(files);
      order.push('/etc/sysctl.conf');
      const settings = new Map<string, PersistedSysctl>();
      const read: string[] = [];
      for (const f of order) {
        const d = this.src.file(f);
        if (!d.ok) continue;
        collected = true;
        read.push(f);
        const parsed = parseSysctlConf(d.text, f);
        if (parsed.bad) this.src.malformed.push(`${f}: ${parsed.bad} unparseable line(s)`);
        for (const s of parsed.settings) settings.set(s.key, { value: s.value, file: s.file, line: s.line, realPath: d.path });
      }
      return { settings, files: read, collected };
    });
  }

  persisted(key: string): PersistedSysctl | null {
    return this.persistedSysctls().settings.get(sysctlKey(key)) ?? null;
  }

  /** The process table of this run: /proc listed once, each /proc/<pid> file read at most once (proctable.ts). */
  procTable(): ProcTable {
    return this.once('proctable', () => new ProcTable(this.src));
  }

  /** processes()'s batch read while the event loop runs: `lantern check` starts its commands meanwhile. */
  prefetchProcesses(): Promise<void> {
    return this.procTable().prefetchAsync(PROCESS_FILES);
  }

  /**
   * Scan the process table: every /proc/<pid>/oom_score_adj (or oom_adj), and the command
   * name of each process from comm (stat, then status, where comm is missing); the parent only
   * of an exempt process (stat, then status). comm is the cheapest file that names a process: on
   * this kernel opening and reading 10,000 of them costs the kernel ~40 ms against ~70 ms for stat
   * (measured with a C loop), and a live scan is mostly that kernel work.
   */
  processes(): ProcessScan {
    return this.once('procs', () => {
      const names = new Set<string>();
      const exempt: ExemptProcess[] = [];
      const table = this.procTable();
      const pidDirs = table.pids();
      // Both files of every process in one batch where the Host can (the live host: both cores).
      table.prefetch(PROCESS_FILES);
      let scanned = 0;
      let unreadable = 0;
      for (const pid of pidDirs) {
        const base = `/proc/${pid}`;
        let value: number | null = null;
        let legacy = false;
        let path = `${base}/oom_score_adj`;
        const adj = table.value(pid, 'oom_score_adj');
        if (adj !== null) value = Number(adj);
        else {
          path = `${base}/oom_adj`;
          const old = table.value(pid, 'oom_adj');
          if (old !== null) {
            value = Number(old);
            legacy = true;
          }
        }
        const isExemptNow = value !== null && Number.isFinite(value) && isExempt(value, legacy);
        let comm = table.value(pid, 'comm');
        let ppid = NaN;
        if (comm === null || isExemptNow) {
          const stat = table.stat(pid);
          comm ??= stat ? stat.name : null;
          if (stat) ppid = stat.ppid;
          else {
            const status = table.status(pid);
            comm ??= status ? status.name : null;
            ppid = status ? status.ppid : NaN;
          }
        }
        if (value === null && comm === null) {
          unreadable++;
          continue;
        }
        scanned++;
        if (comm) names.add(comm);
        if (isExemptNow && value !== null) {
          exempt.push({ pid: Number(pid), comm: comm ?? '?', ppid: Number.isFinite(ppid) ? ppid : null, value, legacy, path: this.src.host.mapPath(path) });
        }
      }
      let namesFrom: string | null = null;
      if (this.src.kind === 'sosreport') {
        const ps = this.src.get('ps');
        if (ps.ok) {
          for (const n of parsePsCommands(ps.text)) names.add(n);
          namesFrom = ps.path;
        }
      }
      return { pids: pidDirs.length || scanned ? pidDirs.length : null, scanned, unreadable, exempt, names, namesFrom };
    });
  }

  /**
   * How many threads the host runs, from every source the root has: /proc/loadavg's 4th field
   * (runnable/total), the sum of the thread counts of /proc/<pid>/stat (`Threads:` of
   * /proc/<pid>/status where stat is missing; not on the live host when loadavg gives the count), and a sosreport's
   * `ps -elfL` (one line per thread). Each is a moment, taken at a different one: the largest
   * is kept, since a SysRq-T dump prints every thread there is.
   */
  threadCount(): { threads: number | null; sources: { how: string; threads: number }[]; evidence: Evidence[] } {
    return this.once('threads', () => {
      const sources: { how: string; threads: number }[] = [];
      const evidence: Evidence[] = [];
      const la = this.src.get('loadavg');
      const fromLoadavg = la.ok ? parseLoadavgThreads(la.text) : null;
      if (fromLoadavg !== null) {
        sources.push({ how: '/proc/loadavg', threads: fromLoadavg });
        evidence.push(this.src.evidence('threads (/proc/loadavg, 4th field)', la, String(fromLoadavg)));
      } else evidence.push(this.src.evidence('threads (/proc/loadavg)', la, la.ok ? 'unparseable' : undefined));
      let sum = 0;
      let fromStat = 0;
      let fromStatus = 0;
      const table = this.procTable();
      // On the live host loadavg's total is the kernel's own count of every thread (nr_threads):
      // summing 10,000 stat files would cost more kernel time than the rest of the run and tell
      // the same. Copied trees and sosreports hold moments taken apart: there every source counts.
      const pids = this.src.kind === 'live' && fromLoadavg !== null ? [] : table.pids();
      for (const pid of pids) {
        const stat = table.stat(pid);
        if (stat) {
          sum += Number(stat.threads);
          fromStat++;
          continue;
        }
        const n = table.status(pid)?.threads ?? null;
        if (n === null) continue;
        sum += Number(n);
        fromStatus++;
      }
      const read = fromStat + fromStatus;
      if (read) {
        // Named after the files the count came from: stat on a live host, status in a copied tree without stat.
        const field = fromStat && fromStatus ? 'num_threads or Threads:' : fromStat ? 'num_threads' : 'Threads:';
        const files = fromStat && fromStatus ? '/proc/<pid>/stat or status' : fromStat ? '/proc/<pid>/stat' : '/proc/<pid>/status';
        sources.push({ how: `${field} in ${files} (${read} processes)`, threads: sum });
        evidence.push({ what: `threads (sum of ${field} over ${read} of ${pids.length} ${files})`, value: String(sum), path: this.src.host.mapPath('/proc') });
      }
      const ps = this.src.get('psThreads');
      if (ps.ok) {
        const lines = ps.text.split('\n').filter((l) => l.trim() !== '');
        const n = Math.max(0, lines.length - (lines.length && /\bLWP\b/.test(lines[0]!) ? 1 : 0));
        sources.push({ how: 'ps -elfL', threads: n });
        evidence.push(this.src.evidence('threads (ps -elfL lines)', ps, String(n)));
      } else if (this.src.kind === 'sosreport') evidence.push(this.src.evidence('threads (ps -elfL)', ps));
      const threads = sources.length ? Math.max(...sources.map((x) => x.threads)) : null;
      return { threads, sources, evidence };
    });
  }

  /**
   * What runs as PID 1, so remedies say `systemctl` only where systemd manages services:
   * /run/systemd/system (systemd's own test, sd_booted), /proc/1/comm, a sosreport's ps listing
   * or its systemd plugin output. null when the root says nothing about it.
   */
  initSystem(): { init: 'systemd' | 'sysv' | null; ev: Evidence } {
    return this.once('init', () => {
      if (this.src.host.isDirectory('/run/systemd/system'))
        return { init: 'systemd' as const, ev: { what: 'init system', value: 'systemd (/run/systemd/system exists)', path: this.src.host.mapPath('/run/systemd/system') } };
      const comm = this.src.file('/proc/1/comm');
      if (comm.ok) {
        const c = comm.text.trim();
        return { init: c === 'systemd' ? ('systemd' as const) : ('sysv' as const), ev: this.src.evidence('PID 1', comm, c) };
      }
      if (this.src.kind === 'sosreport') {
        // sos runs its systemd plugin only where systemd is PID 1. ps shows argv, and a systemd
        // started as /sbin/init (Debian's symlink) reads "/sbin/init" there, so ps decides only
        // when it names systemd or when the systemd plugin left nothing.
        for (const id of ['unitFiles', 'listUnits'] as const) {
          const u = this.src.get(id);
          if (u.ok) return { init: 'systemd' as const, ev: this.src.evidence('init system', u, 'systemd (the sosreport has systemctl output)') };
        }
        const ps = this.src.get('ps');
        if (ps.ok) {
          const one = ps.text.split('\n').find((l) => /^\S+\s+1\s/.test(l));
          const cmd = one?.trim().split(/\s+/).slice(10).join(' ') ?? '';
          if (cmd) return { init: /systemd/.test(cmd) ? ('systemd' as const) : ('sysv' as const), ev: this.src.evidence('PID 1 (ps)', ps, cmd.slice(0, 80)) };
        }
      }
      if (this.src.kind === 'live') return { init: 'sysv' as const, ev: { what: 'init system', value: 'not systemd (no /run/systemd/system)', path: '/run/systemd/system' } };
      return { init: null, ev: { what: 'init system', value: null, path: null, reason: 'no /run/systemd/system, /proc/1/comm or ps listing collected' } };
    });
  }

  /** Whether a daemon runs: the process table (live or copied), or the sosreport's ps listing. */
  daemonRunning(names: string[]): { running: boolean | null; ev: Evidence } {
    const p = this.processes();
    const found = names.find((n) => p.names.has(n));
    const where = p.namesFrom ?? (this.src.kind === 'live' ? '/proc/*/comm' : this.src.host.mapPath('/proc'));
    if (found) return { running: true, ev: { what: `process ${found}`, value: 'running', path: where } };
    if (p.names.size === 0) return { running: null, ev: { what: `process ${names.join('/')}`, value: null, path: null, reason: 'no process list collected' } };
    return { running: false, ev: { what: `process ${names.join('/')}`, value: 'not running', path: where } };
  }

  /** Systemd "wants" links: unit name -> the .wants directories that hold it. */
  private wants(): Map<string, string[]> {
    return this.once('wants', () => {
      const m = new Map<string, string[]>();
      for (const base of ['/etc/systemd/system']) {
        for (const e of this.src.list(base) ?? []) {
          if (!e.endsWith('.wants')) continue;
          for (const u of this.src.list(`${base}/${e}`) ?? []) {
            const l = m.get(u) ?? [];
            l.push(`${base}/${e}/${u}`);
            m.set(u, l);
          }
        }
      }
      return m;
    });
  }

  /**
   * Enabled / active / installed state of a service, from whatever this root offers:
   * sosreport systemctl listings, systemd wants links, chkconfig, SysV rc links, live systemctl.
   */
  service(units: string[], sysv: string[], daemons: string[] = []): ServiceState {
    const evidence: Evidence[] = [];
    let installed: boolean | null = null;
    let enabled: boolean | null = null;
    let active: boolean | null = null;
    let masked = false;

    const uf = this.src.get('unitFiles');
    if (uf.ok) {
      const m = parseUnitFiles(uf.text);
      for (const u of units) {
        const st = m.get(u);
        if (st === undefined) continue;
        installed = true;
        enabled = st === 'enabled' || st === 'static' || st === 'alias' ? true : (enabled ?? false);
        if (st === 'masked' || st === 'masked-runtime') masked = true;
        evidence.push(this.src.evidence(`${u} unit file state`, uf, st));
      }
    }
    if (enabled === null) {
      // A mask (a link to /dev/null in /etc or /run) wins over any wants link: systemd will not start it.
      for (const u of units) {
        for (const dir of ['/etc/systemd/system', '/run/systemd/system']) {
          if (this.src.host.readLink(`${dir}/${u}`) !== '/dev/null') continue;
          installed = true;
          enabled = false;
          masked = true;
          evidence.push({ what: `${u} masked`, value: 'link to /dev/null', path: `${this.src.host.mapPath(dir)}/${u}` });
          break;
        }
      }
    }
    if (enabled === null) {
      const w = this.wants();
      for (const u of units) {
        const links = w.get(u);
        if (links) {
          installed = true;
          enabled = true;
          // The link itself is the evidence: map its directory, do not follow it to the unit file.
          const link = links[0]!;
          const slash = link.lastIndexOf('/');
          evidence.push({ what: `${u} enabled`, value: 'wants link', path: `${this.src.host.mapPath(link.slice(0, slash))}${link.slice(slash)}` });
        } else {
          for (const dir of ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system']) {
            if (this.src.exists(`${dir}/${u}`)) {
              installed = true;
              enabled ??= false;
              evidence.push({ what: `${u} unit file`, value: 'present, no wants link', path: this.src.host.mapPath(`${dir}/${u}`) });
              break;
            }
          }
        }
      }
    }
    if (enabled !== true) {
      const ck = this.src.get('chkconfig');
      if (ck.ok) {
        const m = parseChkconfig(ck.text).value;
        for (const s of sysv) {
          const runlevels = m.get(s);
          if (runlevels === undefined) continue;
          const on = startsMultiUser(runlevels);
          installed = true;
          enabled = on;
          evidence.push(this.src.evidence(`chkconfig ${s}`, ck, on ? 'on (runlevel 3/5)' : 'off'));
        }
      }
    }
    if (enabled === null) {
      for (const rc of ['/etc/rc.d/rc3.d', '/etc/rc3.d']) {
        const names = this.src.list(rc);
        if (!names) continue;
        for (const s of sysv) {
          const link = names.find((n) => new RegExp(`^[SK]\\d\\d${s.replace(/[-.]/g, '\\$&')}$`).test(n));
          if (link) {
            installed = true;
            enabled = link.startsWith('S');
            evidence.push({ what: `SysV ${s}`, value: link, path: `${this.src.host.mapPath(rc)}/${link}` });
          }
        }
        break;
      }
    }
    if (installed === null && uf.ok) {
      // list-unit-files lists every installed unit: absence there means not installed.
      installed = false;
      evidence.push(this.src.evidence(`${units.join('/')} unit file`, uf, 'not listed'));
    }
    if (installed === null) {
      for (const s of sysv) {
        if (this.src.exists(`/etc/init.d/${s}`) || this.src.exists(`/etc/rc.d/init.d/${s}`)) {
          installed = true;
          enabled ??= false;
          evidence.push({ what: `init script ${s}`, value: 'present', path: this.src.host.mapPath(`/etc/init.d/${s}`) });
        }
      }
    }

    if (installed === null && this.src.kind !== 'sosreport') {
      // A root whose unit directory and init.d we can list, holding neither: not installed.
      const unitDir = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => (this.src.list(d)?.length ?? 0) > 0);
      const initd = this.src.list('/etc/init.d') ?? this.src.list('/etc/rc.d/init.d');
      if (unitDir || initd) {
        installed = false;
        evidence.push({ what: `${units.join('/')} unit or init script`, value: 'none', path: this.src.host.mapPath(unitDir ?? '/etc/init.d') });
      }
    }
    const lu = this.src.get('listUnits');
    if (lu.ok) {
      const m = parseListUnits(lu.text);
      for (const u of units) {
        const st = m.get(u);
        if (!st) continue;
        installed = true;
        active = st.active === 'active';
        evidence.push(this.src.evidence(`${u} state`, lu, `${st.active} (${st.sub})`));
      }
    }
    if (active === null && daemons.length) {
      const d = this.daemonRunning(daemons);
      if (d.running !== null) {
        active = d.running;
        if (d.running) installed = true;
      }
      evidence.push(d.ev);
    }
    return { installed, enabled, active, masked, evidence };
  }

  /** Whether a package is installed (dpkg status, dpkg -l, rpm): version string (the newest installed), false, or null when unknown. */
  pkg(names: string[]): { version: string | false | null; ev: Evidence | null } {
    const lists: [string, Datum, (text: string) => { value: Map<string, string[]> }][] = [
      ['dpkgStatus', this.src.get('dpkgStatus'), parseDpkgStatus],
      ['dpkgList', this.src.get('dpkgList'), parseDpkgL],
      ['rpmList', this.src.get('rpmList'), parseRpmList],
    ];
    for (const [id, d, parse] of lists) {
      if (!d.ok) continue;
      // Parsed once per run: several checks ask (a dpkg status file is ~1 MB).
      const installed = this.once(`installed:${id}`, () => parse(d.text).value);
      for (const n of names) {
        const versions = [...(installed.get(n) ?? [])].sort(compareVersions);
        const newest = newestVersion(versions);
        if (newest !== null) return { version: newest, ev: this.src.evidence(`package ${n}`, d, versions.join(', ')) };
      }
    }
    const [ds, dl, rl] = lists.map(([, d]) => d) as [Datum, Datum, Datum];
    const anyList = ds.ok ? ds : dl.ok ? dl : rl.ok ? rl : null;
    if (anyList) return { version: false, ev: this.src.evidence(`package ${names.join('/')}`, anyList, 'not installed') };
    return { version: null, ev: null };
  }
}

export function isExempt(value: number, legacy: boolean): boolean {
  return legacy ? value <= -17 : value <= -1000;
}

/** The numeric value of a datum, or null. */
export function num(d: Datum): number | null {
  if (!d.ok) return null;
  const n = Number(d.text.trim().split(/\s+/)[0]);
  return Number.isFinite(n) ? n : null;
}
