/**
 * The thin edge of `lantern baseline`: collects a `Snapshot` through a `Host` (live host,
 * copied root tree or sosreport), reusing `lantern check`'s catalog, facts and run.
 * Every section is read or marked unknown with the reason and the paths tried.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { CHECKS } from '../check/checks/index.js';
import { Facts } from '../host/facts.js';
import { parseUnitFiles } from '../host/formats/systemd-units.js';
import { runChecks } from '../check/run.js';
import { type Datum, Sources } from '../host/sources.js';
import type { Host } from '../host/host.js';
import { existsSync } from 'node:fs';
import { DEFAULT_STORE, Store } from '../record/store/store.js';
import { hasAccessTables, readAccess } from '../record/store/access.js';
import { domainNames } from '../record/query.js';
import { type AccessDomains, type MaskState, type Mount, ok, type Section, type Sections, type Snapshot, SNAPSHOT_SCHEMA_VERSION, type Units, unknown } from './model.js';
import { parseChkconfigList, sysvStartService } from '../host/formats/chkconfig.js';
import { parseDpkgL, parseDpkgStatus } from '../host/formats/dpkg.js';
import { meminfoKiB } from '../host/formats/meminfo.js';
import { parseRpmList, parseRpmQf } from '../host/formats/rpm.js';
import { parseSysctlAll } from '../host/formats/sysctl.js';
import { enabledFromUnitFiles, maskedFromUnitFiles, UNIT_NAME } from '../host/formats/systemd-units.js';
import { cpuinfoCount, cpuListCount, lscpuCount, parseModules, parseMountL, parseMounts, procStatCpuCount } from './parse.js';

export interface CollectOptions {
  /** Run fixed commands (rpm -qa, and check's own) on a live host. Default true. */
  commands?: boolean;
  version?: string;
  now?: Date;
  /** The rpm binary for a copied tree's RPM database (tests point it elsewhere). Default "rpm". */
  rpmCommand?: string;
  /** The record store whose access lists go into the snapshot (live hosts; default the recorder's). */
  accessStore?: string;
}

/** Fixed argv for the live RHEL package list: never built from data. */
export const RPM_QA = ['rpm', '-qa', '--qf', '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n'];

/** Sysctls that hold secret keys (mode 0600): never written into a snapshot. */
export const SECRET_SYSCTLS = new Set(['net.ipv4.tcp_fastopen_key']);

/**
 * Keys procps `sysctl -a` leaves out, left out here too so a live snapshot and a sosreport's
 * `sysctl -a` hold the same keys: the deprecated neighbour-table aliases of *_ms keys, and
 * vm.stat_refresh (a trigger, not a setting).
 */
export function skippedLikeSysctlA(key: string): boolean {
  return key === 'vm.stat_refresh' || /\.neigh\.[^.]+\.(base_reachable_time|retrans_time)$/.test(key);
}

/** Cap on /proc/sys recursion: the tree is 4-6 levels deep; a loop in a copied tree must end. */
const MAX_SYSCTL_DEPTH = 12;

export function collectSnapshot(host: Host, opts: CollectOptions = {}): Snapshot {
  const src = new Sources(host, { commands: opts.commands });
  const facts = new Facts(src);
  const problems: string[] = [];
  const section = <T>(name: string, f: () => Section<T>): Section<T> => {
    try {
      return f();
    } catch (e) {
      // A bug while reading one section must not lose the others.
      return unknown(`internal error while reading ${name}: ${(e as Error)?.message ?? String(e)}`);
    }
  };
  const sections: Sections = {
    kernel: section('kernel', () => {
      const k = facts.kernel();
      return k.k ? ok({ release: k.k.raw }, [k.ev.path ?? '?']) : unknown(k.ev.reason ?? 'kernel release not readable', k.ev.path ? [k.ev.path] : []);
    }),
    cmdline: section('cmdline', () => {
      const { c, d } = facts.cmdline();
      if (!d.ok || !c) return fromFailed(d);
      return ok({ raw: d.text.trim(), params: c.tokens }, [d.path]);
    }),
    sysctls: section('sysctls', () => collectSysctls(host, src, problems)),
    modules: section('modules', () => {
      const d = src.get('modules');
      if (!d.ok) return fromFailed(d);
      const p = parseModules(d.text);
      if (p.bad) problems.push(`${d.path}: ${p.bad} unparseable line(s)`);
      return ok({ names: p.value }, [d.path]);
    }),
    mounts: section('mounts', () => collectMounts(host, problems)),
    packages: section('packages', () => collectPackages(host, src, problems, opts)),
    units: section('units', () => collectUnits(host, src, problems)),
    memory: section('memory', () => {
      const d = src.get('meminfo');
      if (!d.ok) return fromFailed(d);
      const total = meminfoKiB(d.text, 'MemTotal');
      if (total === null) problems.push(`${d.path}: no MemTotal line`);
      return ok({ memTotalKiB: total, swapTotalKiB: meminfoKiB(d.text, 'SwapTotal') }, [d.path]);
    }),
    cpus: section('cpus', () => collectCpus(host)),
    oomExempt: section('oomExempt', () => {
      const scan = facts.processes();
      if (scan.pids === null) return unknown(`no per-process oom_score_adj in this ${host.kind === 'live' ? 'host' : host.kind}`, [host.mapPath('/proc')]);
      if (scan.scanned === 0) return unknown(`no process's oom_score_adj could be read (${scan.unreadable} unreadable)`, [host.mapPath('/proc') + '/<pid>/oom_score_adj']);
      const processes = scan.exempt.map((e) => ({ comm: e.comm, pid: e.pid, value: e.value })).sort((a, b) => a.comm.localeCompare(b.comm) || a.pid - b.pid);
      const notes = scan.unreadable ? [`${scan.unreadable} process(es) exited or were unreadable during the scan`] : undefined;
      return ok({ processes }, [host.mapPath('/proc') + '/<pid>/oom_score_adj'], notes);
    }),
    check: section('check', () => {
      const report = runChecks(host, CHECKS, { commands: opts.commands, version: opts.version, now: opts.now });
      return ok(report, [`lantern check (${report.findings.length} checks)`]);
    }),
  };
  problems.push(...host.notes, ...src.malformed, ...host.cuts, ...host.refused);
  const hn = src.get('hostname');
  const name = hn.ok ? (hn.text.trim().split('\n')[0] ?? '').trim() || null : null;
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    kind: 'lantern-snapshot',
    generator: { name: 'lantern', command: 'baseline', version: opts.version ?? 'unknown' },
    takenAt: (opts.now ?? new Date()).toISOString(),
    host: { name, source: { kind: host.kind, root: host.root } },
    sections,
    ...(host.kind === 'live' ? accessSection(opts.accessStore ?? DEFAULT_STORE) : {}),
    inputProblems: [...new Set(problems)],
  };
}

/**
 * The domains and access lists of a live host's record store, when there is one with access lists
 * (absent otherwise: a host that never recorded accesses has no such section, not an empty one).
 */
function accessSection(path: string): { access?: Section<AccessDomains> } {
  if (!existsSync(path)) return {};
  let store: Store | null = null;
  try {
    store = Store.openReadonly(path);
    if (!hasAccessTables(store.db)) return {};
    const names = domainNames(store);
    const domains: Record<string, string[]> = {};
    for (const r of readAccess(store.db)) {
      if (r.errno) continue;
      const name = names.get(r.domain_id) ?? store.name(r.domain_id);
      (domains[name] ??= []).push(r.line);
    }
    for (const k of Object.keys(domains)) domains[k]!.sort();
    return { access: ok({ store: path, domains: sortRecord(domains) }, [path]) };
  } catch (e) {
    return { access: unknown(`record store ${path} not readable: ${(e as Error).message.split('\n')[0]}`, [path]) };
  } finally {
    store?.close();
  }
}

function fromFailed<T>(d: Datum): Section<T> {
  if (d.ok) throw new Error('fromFailed on a datum that was read');
  return unknown(d.reason, d.tried);
}

/** Every readable file under /proc/sys, then (sosreport) `sysctl -a` for keys not collected as files. */
function collectSysctls(host: Host, src: Sources, problems: string[]): Sections['sysctls'] {
  const values: Record<string, string> = {};
  const skipped: string[] = [];
  const sources: string[] = [];
  let fromFiles = 0;
  let secrets = 0;
  let aliases = 0;
  const walk = (dir: string, depth: number) => {
    if (depth > MAX_SYSCTL_DEPTH) {
      problems.push(`${dir}: deeper than ${MAX_SYSCTL_DEPTH} levels, not followed`);
      return;
    }
    const l = host.list(dir);
    if (!l.ok) return;
    for (const name of l.entries) {
      const p = `${dir}/${name}`;
      if (host.isDirectory(p)) {
        walk(p, depth + 1);
        continue;
      }
      const key = p.slice('/proc/sys/'.length).replace(/\//g, '.');
      if (SECRET_SYSCTLS.has(key)) {
        secrets++;
        continue;
      }
      if (skippedLikeSysctlA(key)) {
        aliases++;
        continue;
      }
      const r = host.readValue(p);
      if (r.ok) {
        // Multi-line values (e.g. dev.cdrom.info) keep their lines; tabs as sysctl prints them.
        values[key] = r.text;
        fromFiles++;
      } else skipped.push(`${key} (${r.code})`);
    }
  };
  if (host.isDirectory('/proc/sys')) walk('/proc/sys', 0);
  if (fromFiles) sources.push(host.mapPath('/proc/sys'));
  let fromSysctlA = 0;
  if (host.kind === 'sosreport') {
    const all = src.get('sysctlA');
    if (all.ok) {
      for (const [k, v] of parseSysctlAll(all.text)) {
        if (SECRET_SYSCTLS.has(k)) continue;
        if (values[k] === undefined) {
          values[k] = v;
          fromSysctlA++;
        }
      }
      if (fromSysctlA) sources.push(all.path);
    }
  }
  if (!fromFiles && !fromSysctlA) {
    return unknown(host.kind === 'sosreport' ? 'neither /proc/sys nor sos_commands/kernel/sysctl_-a collected in this sosreport' : `no readable sysctl under ${host.mapPath('/proc/sys')}`, [
      host.mapPath('/proc/sys'),
    ]);
  }
  const notes: string[] = [];
  if (skipped.length) notes.push(`${skipped.length} write-only or unreadable sysctl(s) skipped`);
  if (aliases) notes.push(`${aliases} deprecated alias(es) left out, as sysctl -a does (neigh.*.base_reachable_time, retrans_time, vm.stat_refresh)`);
  if (secrets) notes.push(`${secrets} secret key(s) not recorded (${[...SECRET_SYSCTLS].join(', ')})`);
  if (fromFiles && fromSysctlA) notes.push(`${fromFiles} from /proc/sys files, ${fromSysctlA} from sysctl -a`);
  return ok({ values: sortRecord(values), skipped: skipped.length, skippedExamples: skipped.slice(0, 10) }, sources, notes);
}

function collectMounts(host: Host, problems: string[]): Sections['mounts'] {
  const tried: string[] = [];
  const m = host.readText('/proc/mounts');
  tried.push(m.path ?? '/proc/mounts');
  let entries: Mount[] | null = null;
  let from = '';
  if (m.ok) {
    const p = parseMounts(m.text);
    if (p.bad) problems.push(`${m.path}: ${p.bad} unparseable line(s)`);
    entries = p.value;
    from = m.path;
  } else if (host.kind === 'sosreport') {
    const l = host.readText('/sos_commands/filesys/mount_-l');
    tried.push(l.path ?? '/sos_commands/filesys/mount_-l');
    if (l.ok) {
      const p = parseMountL(l.text);
      if (p.bad) problems.push(`${l.path}: ${p.bad} unparseable line(s)`);
      entries = p.value;
      from = l.path;
    }
  }
  if (!entries) return unknown(host.kind === 'sosreport' ? 'not collected: /proc/mounts, sos_commands/filesys/mount_-l' : m.ok ? 'no mount table' : m.reason, tried);
  return ok({ entries }, [from]);
}

function collectPackages(host: Host, src: Sources, problems: string[], opts: CollectOptions): Sections['packages'] {
  const tried: string[] = [];
  const record = (m: Map<string, string[]>) => sortRecord(Object.fromEntries(m));
  const dpkg = src.get('dpkgStatus');
  if (dpkg.ok) {
    const p = parseDpkgStatus(dpkg.text);
    if (p.bad) problems.push(`${dpkg.path}: ${p.bad} unparseable stanza(s)`);
    return ok({ format: 'dpkg', installed: record(p.value) }, [dpkg.path]);
  }
  tried.push(...dpkg.tried);
  if (host.kind === 'sosreport') {
    const rpms = host.readText('/installed-rpms');
    tried.push(rpms.path ?? '/installed-rpms');
    if (rpms.ok) {
      const p = parseRpmList(rpms.text);
      if (p.bad) problems.push(`${rpms.path}: ${p.bad} unparseable line(s)`);
      return ok({ format: 'rpm', installed: record(p.value) }, [rpms.path]);
    }
    const dl = src.get('dpkgList');
    if (dl.ok) {
      const p = parseDpkgL(dl.text);
      if (p.bad) problems.push(`${dl.path}: ${p.bad} unparseable line(s)`);
      return ok({ format: 'dpkg', installed: record(p.value) }, [dl.path]);
    }
    tried.push(...dl.tried);
    return unknown('no package list in this sosreport (installed-rpms, sos_commands/dpkg/dpkg_-l)', tried);
  }
  const rpmDb = host.isDirectory('/var/lib/rpm') || host.isDirectory('/usr/lib/sysimage/rpm');
  if (host.kind === 'live' && rpmDb) {
    if (opts.commands === false) return unknown('RPM host: `rpm -qa` not run (--no-commands)', tried);
    return rpmQaSection(problems, tried);
  }
  if (rpmDb) {
    if (opts.commands === false) return unknown('RPM database in a copied tree: rpm not run (--no-commands)', tried);
    return rpmTreeSection(host, problems, tried, opts.rpmCommand);
  }
  return unknown(`no package database (${dpkg.ok ? '' : dpkg.reason})`, tried);
}

/** Where RPM keeps its database: /var/lib/rpm (RHEL <= 8; a link to the next on RHEL 9), /usr/lib/sysimage/rpm. */
export const RPM_DB_DIRS = ['/var/lib/rpm', '/usr/lib/sysimage/rpm'];

/**
 * The files of an RPM database that `rpm -qa` reads: sqlite (RHEL 9), Berkeley DB (RHEL 5-8: Packages
 * and its indexes), ndb. A fixed list, so no name from the tree ever becomes a path here.
 */
export const RPM_DB_FILES = [
  'rpmdb.sqlite',
  'rpmdb.sqlite-wal',
  'Packages',
  'Name',
  'Basenames',
  'Group',
  'Requirename',
  'Providename',
  'Conflictname',
  'Obsoletename',
  'Triggername',
  'Dirnames',
  'Installtid',
  'Sigmd5',
  'Sha1header',
  'Filetriggername',
  'Transfiletriggername',
  'Recommendname',
  'Suggestname',
  'Supplementname',
  'Enhancename',
  'Packages.db',
  'Index.db',
];
const RPM_DB_MAIN = ['rpmdb.sqlite', 'Packages', 'Packages.db'];

/** Fixed argv of the package query on a copied tree's RPM database (the directory is our private copy). */
export function rpmDbQuery(dbpath: string): string[] {
  return ['--dbpath', dbpath, ...RPM_QA.slice(1)];
}

/**
 * The package list of a copied RHEL tree. rpm writes into the database directory it opens (lock
 * file, sqlite -shm/-wal, even a new empty database), so the database files are copied to a
 * private temporary directory and `rpm --dbpath <copy> -qa --qf ...` runs there (execFile, no
 * shell): the tree, which may be evidence, is never written.
 */
export function rpmTreeSection(host: Host, problems: string[], tried: string[] = [], rpm = 'rpm'): Sections['packages'] {
  let dbDir: string | null = null;
  let files: string[] = [];
  for (const d of RPM_DB_DIRS) {
    const l = host.list(d);
    tried.push(l.path ?? d);
    if (!l.ok) continue;
    const present = RPM_DB_FILES.filter((f) => l.entries.includes(f));
    if (present.some((f) => RPM_DB_MAIN.includes(f))) {
      dbDir = d;
      files = present;
      break;
    }
  }
  if (dbDir === null) return unknown(`RPM database directory without a database file (${RPM_DB_MAIN.join(', ')})`, tried);
  const realDir = host.mapPath(dbDir);
  const label = `${realDir} (private copy read by: rpm --dbpath <copy> -qa --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n')`;
  tried.push(label);
  const copy = mkdtempSync(join(tmpdir(), 'lantern-rpmdb-'));
  try {
    for (const f of files) {
      const from = host.mapPath(`${dbDir}/${f}`);
      // Regular files only: a symlink or device in a copied tree is not followed out of it.
      if (!lstatSync(from).isFile()) continue;
      copyFileSync(from, join(copy, f));
    }
    const out = execFileSync(rpm, rpmDbQuery(copy), { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const p = parseRpmQf(out);
    if (p.bad) problems.push(`rpm --dbpath ${realDir}: ${p.bad} unparseable line(s)`);
    return ok({ format: 'rpm', installed: sortRecord(Object.fromEntries(p.value)) }, [label]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; stderr?: string | Buffer };
    const stderr = String(err.stderr ?? '')
      .split('\n')
      .find((l) => /^error:/.test(l));
    const why =
      err.code === 'ENOENT' && err.syscall?.startsWith('spawn')
        ? `${rpm} not installed`
        : err.code === 'ETIMEDOUT'
          ? 'timed out'
          : err.status != null
            ? `exit status ${err.status}${stderr ? `: ${stderr}` : ''}`
            : (err.message ?? String(e));
    return unknown(`rpm could not read the RPM database in ${realDir}: ${why}`, tried);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** The live RHEL package list from the fixed `rpm -qa --qf` query (execFile, no shell). */
export function rpmQaSection(problems: string[], tried: string[] = []): Sections['packages'] {
  const label = 'command: ' + RPM_QA.join(' ');
  tried.push(label);
  try {
    const out = execFileSync(RPM_QA[0]!, RPM_QA.slice(1), { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const p = parseRpmQf(out);
    if (p.bad) problems.push(`rpm -qa: ${p.bad} unparseable line(s)`);
    return ok({ format: 'rpm', installed: sortRecord(Object.fromEntries(p.value)) }, [label]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null };
    return unknown(`rpm -qa: ${err.code === 'ENOENT' ? 'rpm not installed' : err.code === 'ETIMEDOUT' ? 'timed out' : `exit status ${err.status ?? '?'}`}`, tried);
  }
}

/**
 * Unit directories in systemd's precedence order: the first one holding a unit's file decides
 * whether it is masked (a symlink to /dev/null). /lib is /usr/lib on merged-/usr systems.
 */
export const UNIT_DIRS: [string, MaskState][] = [
  ['/etc/systemd/system', 'masked'],
  ['/run/systemd/system', 'masked-runtime'],
  ['/usr/local/lib/systemd/system', 'masked'],
  ['/usr/lib/systemd/system', 'masked'],
  ['/lib/systemd/system', 'masked'],
];

/** SysV runlevel directories: Debian /etc/rcN.d, RHEL /etc/rc.d/rcN.d (with /etc/rcN.d links to them). */
export const RUNLEVELS = ['0', '1', '2', '3', '4', '5', '6', 'S'];

function collectUnits(host: Host, src: Sources, problems: string[]): Sections['units'] {
  const tried: string[] = [];
  const sources: string[] = [];
  const notes: string[] = [];
  let enabled: Record<string, string[]> | null = null;
  let masked: Record<string, MaskState> | undefined;
  if (host.kind === 'sosreport') {
    const uf = src.get('unitFiles');
    // Without a running systemd (containers) sos stores systemctl's error message: no unit lines.
    if (uf.ok && parseUnitFiles(uf.text).size === 0) tried.push(`${uf.path} (no unit listed)`);
    else if (uf.ok) {
      enabled = {};
      for (const u of enabledFromUnitFiles(uf.text)) enabled[u] = [];
      masked = Object.fromEntries(maskedFromUnitFiles(uf.text));
      sources.push(uf.path);
    } else tried.push(...uf.tried);
  }
  if (enabled === null) {
    const base = '/etc/systemd/system';
    const top = host.list(base);
    tried.push(top.path ?? base);
    if (top.ok) {
      enabled = enabledFromWants(host, base, top.entries);
      sources.push(host.mapPath(base) + '/*.wants');
      // `systemctl enable --runtime` links live in /run until reboot (list-unit-files: enabled-runtime).
      const run = host.list('/run/systemd/system');
      if (run.ok) {
        const rt = enabledFromWants(host, '/run/systemd/system', run.entries);
        for (const [u, by] of Object.entries(rt)) enabled[u] = [...(enabled[u] ?? []), ...by.map((b) => `${b} (runtime)`)].sort();
        if (Object.keys(rt).length) sources.push(host.mapPath('/run/systemd/system') + '/*.wants');
      }
      const m = maskedFromDirs(host);
      masked = m.masked;
      sources.push(...m.sources);
    }
  }
  const sysv = collectSysv(host, src, problems);
  tried.push(...sysv.tried);
  sources.push(...sysv.sources);
  if (sysv.reason) notes.push(sysv.reason);
  if (enabled === null && !sysv.sources.length) {
    return unknown(
      `no /etc/systemd/system and no SysV runlevel directories${host.kind === 'sosreport' ? ', no systemctl list-unit-files or chkconfig --list either' : ''} (not a systemd or SysV host?)`,
      tried,
    );
  }
  if (enabled === null) notes.push('no /etc/systemd/system: not a systemd host, SysV start links only');
  const data: Units = { enabled: sortRecord(enabled ?? {}) };
  if (masked) data.masked = sortRecord(masked);
  if (sysv.value) data.sysv = sortRecord(sysv.value);
  return ok(data, sources, notes);
}

/** Symlinks in /etc/systemd/system/*.wants and *.requires: unit -> what wants it. */
function enabledFromWants(host: Host, base: string, entries: string[]): Record<string, string[]> {
  const enabled: Record<string, string[]> = {};
  for (const dir of entries) {
    if (!/\.(wants|requires)$/.test(dir)) continue;
    const l = host.list(`${base}/${dir}`);
    if (!l.ok) continue;
    const by = dir.replace(/\.(wants|requires)$/, '');
    for (const unit of l.entries) {
      // systemctl list-unit-files (sosreports) names the template "getty@.service", not the
      // instance "getty@tty1.service": key by template, keep the instance beside what wants it.
      const inst = /^([^@]+)@([^.]+)(\.[a-z]+)$/.exec(unit);
      if (inst) (enabled[`${inst[1]}@${inst[3]}`] ??= []).push(`${by} (${unit})`);
      else (enabled[unit] ??= []).push(by);
    }
  }
  for (const k of Object.keys(enabled)) enabled[k]!.sort();
  return enabled;
}

/** Units whose highest-precedence file is a symlink to /dev/null (what `systemctl mask` makes). */
function maskedFromDirs(host: Host): { masked: Record<string, MaskState>; sources: string[] } {
  const masked: Record<string, MaskState> = {};
  const decided = new Set<string>();
  const sources: string[] = [];
  const seenDirs = new Set<string>();
  for (const [dir, state] of UNIT_DIRS) {
    const l = host.list(dir);
    // /lib/systemd/system is /usr/lib/systemd/system on merged-/usr hosts: read it once.
    const key = l.ok ? realKey(l.path) : '';
    if (!l.ok || seenDirs.has(key)) continue;
    seenDirs.add(key);
    sources.push(`${l.path}/* (symlinks to /dev/null)`);
    for (const name of l.entries) {
      if (!UNIT_NAME.test(name) || decided.has(name)) continue;
      decided.add(name);
      const target = host.readLink(`${dir}/${name}`);
      if (target !== null && posix.resolve(dir, target) === '/dev/null') {
        masked[name] = state;
      }
    }
  }
  return { masked, sources };
}

/** A directory's real path, only to notice one directory reached twice (/lib -> usr/lib); never read from. */
function realKey(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * SysV services with start links: from `chkconfig --list` in a sosreport, else the runlevel
 * directories. A sosreport with neither did not record them (value null, with the reason); a
 * live host or tree without runlevel directories has none ({}).
 */
function collectSysv(host: Host, src: Sources, problems: string[]): { value: Record<string, string[]> | null; sources: string[]; tried: string[]; reason?: string } {
  const tried: string[] = [];
  if (host.kind === 'sosreport') {
    const ck = src.get('chkconfig');
    if (ck.ok) {
      const p = parseChkconfigList(ck.text);
      if (p.bad) problems.push(`${ck.path}: ${p.bad} unparseable line(s)`);
      if (p.value.size || !p.bad) return { value: Object.fromEntries(p.value), sources: [ck.path], tried };
    } else tried.push(...ck.tried);
  }
  const value: Record<string, string[]> = {};
  const dirs: string[] = [];
  for (const rl of RUNLEVELS) {
    for (const d of [`/etc/rc${rl}.d`, `/etc/rc.d/rc${rl}.d`]) {
      const l = host.list(d);
      if (!l.ok) continue;
      dirs.push(l.path);
      let odd = 0;
      for (const e of l.entries) {
        const svc = sysvStartService(e);
        if (svc) (value[svc] ??= []).push(rl);
        else if (/^S\d/.test(e)) odd++;
      }
      if (odd) problems.push(`${l.path}: ${odd} start link(s) with a name no init script has, skipped`);
      break;
    }
  }
  if (dirs.length) {
    for (const k of Object.keys(value)) value[k] = [...new Set(value[k])];
    return { value, sources: [dirs.length === 1 ? `${dirs[0]} (S links)` : `${dirs[0]} … ${dirs[dirs.length - 1]} (S links, ${dirs.length} runlevel directories)`], tried };
  }
  tried.push(host.mapPath('/etc') + '/rc?.d', host.mapPath('/etc') + '/rc.d/rc?.d');
  if (host.kind === 'sosreport') return { value: null, sources: [], tried, reason: 'SysV start links not recorded: no chkconfig --list and no etc/rc?.d in this sosreport' };
  return { value, sources: [], tried, reason: 'no SysV runlevel directories (/etc/rc?.d, /etc/rc.d/rc?.d): no SysV start links' };
}

function collectCpus(host: Host): Sections['cpus'] {
  const tried: string[] = [];
  const attempts: [string, (t: string) => number | null][] = [
    ['/proc/cpuinfo', cpuinfoCount],
    ['/proc/stat', procStatCpuCount],
    ['/sys/devices/system/cpu/online', cpuListCount],
  ];
  if (host.kind === 'sosreport') attempts.push(['/sos_commands/processor/lscpu', lscpuCount]);
  for (const [p, f] of attempts) {
    const r = host.readText(p);
    tried.push(r.path ?? p);
    if (!r.ok) continue;
    const n = f(r.text);
    if (n !== null) return ok({ count: n }, [r.path]);
  }
  return unknown(`no CPU count: ${attempts.map(([p]) => p).join(', ')} missing or unparseable`, tried);
}

function sortRecord<V>(r: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}
