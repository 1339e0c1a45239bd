/**
 * The datum catalog (in the style of insights-core "specs"): each datum `lantern check` and `baseline` need,
 * with its live path or fixed command, and its ordered sosreport paths and manifest tags.
 * `Sources` is the thin edge that reads them through a `Host`: it records the path actually
 * read, and a datum a snapshot did not collect comes back as not collected, never as a value.
 */
import { execFileSync, spawn } from 'node:child_process';
import { basename, delimiter, join } from 'node:path';
import { accessSync, constants as fsc } from 'node:fs';
import type { Host } from './host.js';

import { parseSysctlAll, sysctlKey } from './formats/sysctl.js';

/** Where a value came from: what it is, as read, and the path or command read. */
export interface Evidence {
  /** What the value is, e.g. "kernel.sysrq (runtime)". */
  what: string;
  /** The value as read (trimmed, possibly shortened), or null when it could not be read. */
  value: string | null;
  /** The path actually read (on the machine running Lantern), or "command: <argv>"; null if nothing was read. */
  path: string | null;
  /** Why the value is missing, when it is. */
  reason?: string;
}

export interface DatumSpec {
  /** Live path; also tried first in copied trees and sosreports (sos keeps absolute paths). */
  file?: string;
  /** Live-host only: a fixed argv run with execFile (never a shell), short timeout. */
  cmd?: string[];
  /** Paths tried in a copied tree after `file` (e.g. /var/log/dmesg). */
  tree?: string[];
  /** Paths inside a sosreport root, in order (current sos first, historic alternates after). */
  sos?: string[];
  /** sos_reports/manifest.json tag_summary tags (sos >= 4.5), tried after the paths. */
  tags?: string[];
}

export const CATALOG = {
  cmdline: { file: '/proc/cmdline' },
  osrelease: { file: '/proc/sys/kernel/osrelease' },
  uname: { cmd: ['uname', '-a'], sos: ['/sos_commands/kernel/uname_-a', '/uname'], tags: ['uname'] },
  hostname: { file: '/proc/sys/kernel/hostname', sos: ['/hostname', '/sos_commands/general/hostname', '/sos_commands/host/hostname'], tags: ['hostname'] },
  meminfo: { file: '/proc/meminfo', tags: ['meminfo'] },
  iomem: { file: '/proc/iomem', tags: ['iomem'] },
  loadavg: { file: '/proc/loadavg' },
  procStat: { file: '/proc/stat' },
  uptime: { file: '/proc/uptime', sos: ['/uptime', '/sos_commands/host/uptime', '/sos_commands/general/uptime'], tags: ['uptime'] },
  date: { sos: ['/sos_commands/date/date', '/sos_commands/general/date', '/date'], tags: ['date'] },
  kexecCrashSize: { file: '/sys/kernel/kexec_crash_size', tags: ['kexec_crash_size'] },
  kexecCrashLoaded: { file: '/sys/kernel/kexec_crash_loaded', tags: ['kexec_crash_loaded'] },
  kdumpConf: { file: '/etc/kdump.conf', tags: ['kdump_conf'] },
  kdumpToolsDefault: { file: '/etc/default/kdump-tools' },
  sysconfigKdump: { file: '/etc/sysconfig/kdump', tags: ['sysconfig_kdump'] },
  kdumpctlEstimate: { sos: ['/sos_commands/kdump/kdumpctl_estimate'] },
  kdumpctlStatus: { sos: ['/sos_commands/kdump/kdumpctl_status'] },
  kdumpConfigShow: { sos: ['/sos_commands/kdump/kdump-config_show'] },
  dmesg: {
    cmd: ['dmesg'],
    tree: ['/var/log/dmesg'],
    sos: ['/sos_commands/kernel/dmesg', '/sos_commands/kernel/dmesg_-T', '/var/log/dmesg', '/sos_commands/general/dmesg'],
    tags: ['dmesg'],
  },
  sysctlA: { sos: ['/sos_commands/kernel/sysctl_-a'], tags: ['sysctl'] },
  unitFiles: { sos: ['/sos_commands/systemd/systemctl_list-unit-files'], tags: ['systemctl_list_unit_files'] },
  listUnits: {
    cmd: ['systemctl', 'list-units', '--all', '--no-legend', '--no-pager', '--plain'],
    sos: ['/sos_commands/systemd/systemctl_list-units', '/sos_commands/systemd/systemctl_list-units_--all'],
    tags: ['systemctl_list_units'],
  },
  chkconfig: { cmd: ['chkconfig', '--list'], sos: ['/chkconfig', '/sos_commands/services/chkconfig_--list', '/sos_commands/startup/chkconfig_--list'], tags: ['chkconfig'] },
  ps: { sos: ['/ps', '/sos_commands/process/ps_auxwwwm', '/sos_commands/process/ps_auxfwww', '/sos_commands/process/ps_aux'], tags: ['ps_auxww', 'ps_auxwww'] },
  psThreads: { sos: ['/sos_commands/process/ps_-elfL'], tags: ['ps_elfL'] },
  consoles: { file: '/proc/consoles' },
  modules: { file: '/proc/modules', sos: ['/lsmod', '/sos_commands/kernel/lsmod'], tags: ['lsmod'] },
  printkTime: { file: '/sys/module/printk/parameters/time' },
  netconsoleSysconfig: { file: '/etc/sysconfig/netconsole' },
  auditctlStatus: { cmd: ['auditctl', '-s'], sos: ['/sos_commands/auditd/auditctl_-s'], tags: ['auditctl_status'] },
  auditdConf: { file: '/etc/audit/auditd.conf' },
  dpkgStatus: { file: '/var/lib/dpkg/status' },
  dpkgList: { sos: ['/sos_commands/dpkg/dpkg_-l'], tags: ['dpkg.l'] },
  rpmList: {
    cmd: ['rpm', '-q', 'sysstat', 'audit', 'kexec-tools', 'kdump-utils'],
    sos: ['/installed-rpms', '/sos_commands/rpm/package-data'],
    tags: ['installed_rpms'],
  },
  osRelease: { file: '/etc/os-release', tree: ['/usr/lib/os-release'] },
  redhatRelease: { file: '/etc/redhat-release' },
  debianVersion: { file: '/etc/debian_version' },
  corosyncConf: { file: '/etc/corosync/corosync.conf' },
  sbdSysconfig: { file: '/etc/sysconfig/sbd', tree: ['/etc/default/sbd'] },
  watchdogConf: { file: '/etc/watchdog.conf' },
  systemdSystemConf: { file: '/etc/systemd/system.conf' },
  /** Live only: the running kernel's config when /boot has none (gzip, so read by a fixed command). */
  procConfigGz: { cmd: ['zcat', '/proc/config.gz'] },
  cronSysstat: { file: '/etc/cron.d/sysstat' },
  defaultSysstat: { file: '/etc/default/sysstat' },
  sosVersion: { sos: ['/version.txt'] },
} satisfies Record<string, DatumSpec>;

export type DatumId = keyof typeof CATALOG;

export type Datum = { ok: true; text: string; path: string } | { ok: false; reason: string; tried: string[]; notCollected: boolean };

export interface SourcesOptions {
  /** Run the catalog's live commands (dmesg, systemctl ...) on a live host. Default true. */
  commands?: boolean;
  commandTimeoutMs?: number;
}

export class Sources {
  private readonly cache = new Map<string, Datum>();
  private manifestTags: Map<string, string[]> | null | undefined;
  /** Live commands started ahead (startCommands), by argv: run() takes their outcome instead of running them again. */
  private readonly ahead = new Map<string, Promise<CommandOutcome>>();
  private readonly outcomes = new Map<string, CommandOutcome>();
  /** Inputs that were present but malformed, counted so the report can say so. */
  readonly malformed: string[] = [];

  constructor(
    readonly host: Host,
    private readonly opts: SourcesOptions = {},
  ) {}

  get kind() {
    return this.host.kind;
  }

  /** Read a catalog datum (cached). */
  get(id: DatumId): Datum {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const d = this.resolve(CATALOG[id] as DatumSpec);
    this.cache.set(id, d);
    return d;
  }

  /**
   * Start the live commands of these data now, all at once, without waiting (spawn, never a
   * shell; output capped, killed at the timeout): they run while the caller reads the process
   * table, instead of one after the other when the checks ask. Only on a live host with commands
   * allowed, as resolve() would run them. The promise settles when all have ended; run() then
   * takes their outcome (and runs one itself that was not started here).
   */
  startCommands(ids: DatumId[]): Promise<void> {
    if (this.kind !== 'live' || this.opts.commands === false) return Promise.resolve();
    for (const id of new Set(ids)) {
      const argv = (CATALOG[id] as DatumSpec).cmd;
      if (!argv || this.ahead.has(commandKey(argv))) continue;
      const key = commandKey(argv);
      this.ahead.set(
        key,
        runCommand(argv, this.timeoutMs).then((o) => {
          this.outcomes.set(key, o);
          return o;
        }),
      );
    }
    return Promise.all(this.ahead.values()).then(() => undefined);
  }

  /** Read one file by its live path (for paths built at run time: drop-ins, /proc/<pid>/...). */
  file(livePath: string): Datum {
    const hit = this.cache.get('file:' + livePath);
    if (hit) return hit;
    const r = this.host.readText(livePath);
    const d: Datum = r.ok ? { ok: true, text: r.text, path: r.path } : { ok: false, reason: r.reason, tried: [r.path ?? livePath], notCollected: r.code === 'NOTCOLLECTED' };
    this.cache.set('file:' + livePath, d);
    return d;
  }

  /** value() of /proc/<pid>/<file> for each pid and file at once, or null where the Host cannot batch them (host.ts readPidValues). */
  pidValues(pids: readonly string[], files: readonly string[]): Map<string, (string | null)[]> | null {
    return this.host.readPidValues(pids, files);
  }

  /** The live process table listed and read in one call (Host.readProcTableAsync). */
  procTableAsync(files: readonly string[]): ReturnType<Host['readProcTableAsync']> {
    return this.host.readProcTableAsync(files);
  }

  /** pidValues while the event loop runs (the check's commands start meanwhile). */
  pidValuesAsync(pids: readonly string[], files: readonly string[]): Promise<Map<string, (string | null)[]> | null> {
    return this.host.readPidValuesAsync(pids, files);
  }

  /** Uncached small read for the per-process scan (thousands of files). */
  value(livePath: string): string | null {
    return this.host.readSmallValue(livePath);
  }

  list(livePath: string): string[] | null {
    const r = this.host.list(livePath);
    return r.ok ? r.entries : null;
  }

  exists(livePath: string): boolean {
    return this.host.exists(livePath);
  }

  /**
   * A running sysctl value: /proc/sys/<key> (live, trees, and the sos `system` plugin's copy),
   * then `sysctl -a` from a sosreport.
   */
  sysctl(key: string): Datum {
    const k = sysctlKey(key);
    const cacheKey = 'sysctl:' + k;
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;
    const live = '/proc/sys/' + k.replace(/\./g, '/');
    const f = this.file(live);
    let d: Datum = f.ok ? { ok: true, text: f.text.trim(), path: f.path } : f;
    if (!f.ok && this.kind === 'sosreport') {
      const all = this.get('sysctlA');
      if (all.ok) {
        const v = parseSysctlAll(all.text).get(k);
        d = v !== undefined ? { ok: true, text: v, path: all.path } : { ok: false, reason: `${k} not in ${all.path} nor ${live}`, tried: [...f.tried, all.path], notCollected: true };
      } else {
        d = { ok: false, reason: `${k} not collected (${live}, sysctl -a)`, tried: [...f.tried, ...all.tried], notCollected: true };
      }
    }
    this.cache.set(cacheKey, d);
    return d;
  }

  /** Evidence record for a datum. `value` overrides the text shown (e.g. one line of a file). */
  evidence(what: string, d: Datum, value?: string | null): Evidence {
    if (d.ok) return { what, value: value === undefined ? shorten(d.text.trim()) : value, path: d.path };
    return { what, value: null, path: null, reason: d.reason };
  }

  private resolve(spec: DatumSpec): Datum {
    const tried: string[] = [];
    // Set inside tryFile: declared so that the compiler does not narrow it to null at its uses.
    let firstReason = null as string | null;
    let allMissing = true;
    const tryFile = (p: string): Datum | null => {
      const r = this.host.readText(p);
      tried.push(r.path ?? p);
      if (r.ok) return { ok: true, text: r.text, path: r.path };
      if (r.code !== 'ENOENT' && r.code !== 'NOTCOLLECTED') allMissing = false;
      // Keep the most telling reason: a permission error beats "does not exist".
      if (firstReason === null || (r.code !== 'ENOENT' && r.code !== 'NOTCOLLECTED')) firstReason = r.reason;
      return null;
    };
    const paths: string[] = [];
    if (spec.file) paths.push(spec.file);
    if (this.kind === 'tree' || this.kind === 'sosreport') paths.push(...(spec.tree ?? []));
    if (this.kind === 'sosreport') paths.push(...(spec.sos ?? []));
    if (this.kind === 'live' && spec.cmd && this.opts.commands !== false) {
      // Live: the file first, then the command, then any on-disk fallback.
      for (const p of spec.file ? [spec.file] : []) {
        const d = tryFile(p);
        if (d) return d;
      }
      const c = this.run(spec.cmd);
      tried.push('command: ' + spec.cmd.join(' '));
      if (c.ok) return c;
      allMissing = false;
      firstReason = c.reason;
      for (const p of spec.tree ?? []) {
        const d = tryFile(p);
        if (d) return d;
      }
      return { ok: false, reason: firstReason ?? 'not available', tried, notCollected: false };
    }
    for (const p of paths) {
      const d = tryFile(p);
      if (d) return d;
    }
    if (this.kind === 'sosreport') {
      for (const tag of spec.tags ?? []) {
        for (const rel of this.tagFiles(tag)) {
          const d = tryFile('/' + rel.replace(/^\/+/, ''));
          if (d) return d;
        }
      }
    }
    if (this.kind === 'live' && spec.cmd && this.opts.commands === false) {
      return { ok: false, reason: `${firstReason ? `${firstReason}; ` : ''}\`${spec.cmd.join(' ')}\` not run (--no-commands)`, tried, notCollected: false };
    }
    if (paths.length === 0) {
      const where = spec.cmd ? `a live command (${spec.cmd.join(' ')}) or sosreports` : 'sosreports';
      return { ok: false, reason: `only available from ${where}${spec.sos ? ` (${spec.sos.join(', ')})` : ''}`, tried, notCollected: true };
    }
    const notCollected = this.kind !== 'live' && allMissing;
    const reason = notCollected ? `not collected: tried ${tried.map((t) => this.rel(t)).join(', ')}` : (firstReason ?? 'not available');
    return { ok: false, reason, tried, notCollected };
  }

  /** Path relative to the root, for short messages. */
  rel(p: string): string {
    if (this.host.root === '/' || !p.startsWith(this.host.root)) return p;
    return p.slice(this.host.root.length) || '/';
  }

  private tagFiles(tag: string): string[] {
    if (this.manifestTags === undefined) {
      this.manifestTags = null;
      const r = this.host.readText('/sos_reports/manifest.json');
      if (r.ok) {
        try {
          const doc = JSON.parse(r.text) as { tag_summary?: Record<string, unknown> };
          const m = new Map<string, string[]>();
          for (const [k, v] of Object.entries(doc.tag_summary ?? {})) {
            const list = Array.isArray(v) ? v : [v];
            m.set(
              k,
              list.filter((x): x is string => typeof x === 'string' && !x.split('/').includes('..')),
            );
          }
          this.manifestTags = m;
        } catch {
          this.malformed.push('/sos_reports/manifest.json: not valid JSON');
        }
      }
    }
    return this.manifestTags?.get(tag) ?? [];
  }

  private get timeoutMs(): number {
    return this.opts.commandTimeoutMs ?? 3000;
  }

  private run(argv: string[]): Datum {
    const ahead = this.outcomes.get(commandKey(argv));
    if (ahead) return commandDatum(argv, ahead);
    if (!onPath(argv[0]!)) return commandDatum(argv, { stdout: '', status: null, errorCode: 'ENOENT' });
    try {
      const out = execFileSync(argv[0]!, argv.slice(1), {
        encoding: 'utf8',
        timeout: this.timeoutMs,
        maxBuffer: COMMAND_MAX_BUFFER,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: commandEnv(),
      });
      return commandDatum(argv, { stdout: out, status: 0, errorCode: null });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stdout?: string; status?: number | null };
      return commandDatum(argv, { stdout: typeof err.stdout === 'string' ? err.stdout : '', status: err.status ?? null, errorCode: typeof err.code === 'string' ? err.code : null });
    }
  }
}

/** How a live command ended, as execFileSync tells it (errorCode: ENOENT, ETIMEDOUT, ENOBUFS ..., null when it ran to its exit). */
export interface CommandOutcome {
  stdout: string;
  status: number | null;
  errorCode: string | null;
}

/** Most output a live command may give (more: it is stopped and counts as failed). */
const COMMAND_MAX_BUFFER = 32 * 1024 * 1024;

const commandKey = (argv: string[]) => argv.join('\0');

/** The environment of a live command: the caller's, with C messages and no colours. */
function commandEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', SYSTEMD_COLORS: '0' };
}

/**
 * Whether a program name is found as exec would find it (a name with a slash as it is, else in
 * each PATH directory, /usr/bin:/bin without PATH) and may be executed: a program that is not
 * installed (chkconfig on Debian) is told without forking this process to find out.
 */
function onPath(program: string): boolean {
  const dirs = program.includes('/') ? [''] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).map((d) => d || '.');
  return dirs.some((d) => {
    try {
      accessSync(d ? join(d, program) : program, fsc.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A live command's datum from how it ended, whether it ran when asked (execFileSync) or ahead (runCommand). */
export function commandDatum(argv: string[], o: CommandOutcome): Datum {
  const label = 'command: ' + argv.join(' ');
  if (o.errorCode === null && o.status === 0) return { ok: true, text: o.stdout, path: label };
  // rpm -q exits non-zero when one of the packages is absent but still prints the rest.
  if (argv[0] === 'rpm' && o.stdout.trim()) return { ok: true, text: o.stdout, path: label };
  const why = o.errorCode === 'ENOENT' ? `${argv[0]} not installed` : o.errorCode === 'ETIMEDOUT' ? 'timed out' : `exit status ${o.status ?? '?'}`;
  return { ok: false, reason: `${argv.join(' ')}: ${why}`, tried: [label], notCollected: false };
}

/**
 * Run a fixed argv without waiting (spawn, never a shell), as execFileSync would: stdin closed,
 * stdout kept up to COMMAND_MAX_BUFFER (past it the command is stopped: ENOBUFS), stderr read
 * and dropped, SIGTERM at the timeout (ETIMEDOUT). Never rejects.
 */
export function runCommand(argv: string[], timeoutMs: number): Promise<CommandOutcome> {
  if (!onPath(argv[0]!)) return Promise.resolve({ stdout: '', status: null, errorCode: 'ENOENT' });
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let size = 0;
    let errorCode: string | null = null;
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: commandEnv() });
    } catch (e) {
      resolve({ stdout: '', status: null, errorCode: (e as NodeJS.ErrnoException).code ?? 'EIO' });
      return;
    }
    const stop = (code: string) => {
      errorCode ??= code;
      child.kill('SIGTERM');
    };
    const timer = setTimeout(() => stop('ETIMEDOUT'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > COMMAND_MAX_BUFFER) stop('ENOBUFS');
      else out.push(b);
    });
    child.stderr.resume();
    child.on('error', (e: NodeJS.ErrnoException) => {
      errorCode ??= e.code ?? 'EIO';
    });
    child.on('close', (status: number | null) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), status: errorCode === null ? status : null, errorCode });
    });
  });
}

export function shorten(s: string, max = 300): string {
  const one = s.replace(/\s*\n\s*/g, ' | ');
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

/**
 * How paths under an unpacked sosreport tarball are shown. The Host reads from a private
 * temporary directory that is removed when Lantern exits, so a path inside it would name nothing
 * by the time anyone reads the report: they are named relative to the sosreport instead
 * (`sosreport-db01-2026-11-20/proc/cmdline`), after the archive's top directory, or after the
 * tarball's own name when the archive has no top directory.
 */
export interface DisplayRoot {
  /** The real directory the Host reads (inside the temporary directory). */
  root: string;
  /** What stands for it in the output. */
  label: string;
  /** What the user named (the tarball), shown as the report's root. */
  source: string;
}

export function unpackedDisplay(hostRoot: string, archive: string): DisplayRoot {
  const top = basename(hostRoot);
  const label = top.startsWith('lantern-sos-') ? basename(archive).replace(/\.(tar(\.(xz|gz|bz2|zst))?|tgz|txz)$/, '') : top;
  return { root: hostRoot, label, source: archive };
}

/** Replace the temporary root by the label wherever a path to it appears in a text. */
export function displayText(s: string, d: DisplayRoot): string {
  if (!s.includes(d.root)) return s;
  return s
    .split(d.root + '/')
    .join(d.label + '/')
    .split(d.root)
    .join(d.label);
}
