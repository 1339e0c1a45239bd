/**
 * Pure parsers for the files `lantern check` reads. No I/O: text in, values out.
 * Every parser is lenient: unparseable lines are skipped and counted, never thrown on.
 */
import { parseSize } from '../common/size.js';

export const INT_MAX = 2147483647;

/* ------------------------------------------------------------------ kernel command line */

export interface Cmdline {
  /** Kernel parameters in order, as written (`--` and what follows go to init, not the kernel). */
  tokens: string[];
  /** key -> every value given (a bare flag has the value ""). */
  params: Map<string, string[]>;
}

/** Split a kernel command line the way the kernel does: whitespace, double quotes group. */
export function parseCmdline(text: string): Cmdline {
  const tokens: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (const ch of text.replace(/\0/g, ' ')) {
    if (ch === '"') {
      inQuote = !inQuote;
      has = true;
      continue;
    }
    if (!inQuote && /\s/.test(ch)) {
      if (has) tokens.push(cur);
      cur = '';
      has = false;
      continue;
    }
    cur += ch;
    has = true;
  }
  if (has) tokens.push(cur);
  const end = tokens.indexOf('--');
  const kernelTokens = end >= 0 ? tokens.slice(0, end) : tokens;
  const params = new Map<string, string[]>();
  for (const t of kernelTokens) {
    const eq = t.indexOf('=');
    const key = eq >= 0 ? t.slice(0, eq) : t;
    const value = eq >= 0 ? t.slice(eq + 1) : '';
    const list = params.get(key) ?? [];
    list.push(value);
    params.set(key, list);
  }
  return { tokens: kernelTokens, params };
}

/** Last value of a kernel parameter (the kernel generally honours the last one), or undefined. */
export function cmdlineValue(c: Cmdline, key: string): string | undefined {
  const v = c.params.get(key);
  return v && v.length ? v[v.length - 1] : undefined;
}

/* ------------------------------------------------------------------ sizes */

/** Parse a kernel memory size ("256M", "1G", "131072") to bytes; null when malformed. */
export { parseSize };

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/* ------------------------------------------------------------------ crashkernel= */

export type Crashkernel =
  | { kind: 'auto' }
  | { kind: 'fixed'; bytes: number; offset?: string; high: boolean }
  | { kind: 'ranges'; ranges: { start: number; end: number | null; bytes: number }[]; bytes: number | null }
  | { kind: 'invalid'; reason: string };

/**
 * Parse a crashkernel= value (Documentation/admin-guide/kernel-parameters.txt):
 * `size[@offset]`, `size,high|low`, `range1:size1[,range2:size2...][@offset]`, or RHEL's `auto`.
 * For ranges, `bytes` is the size chosen for `ramBytes` (null when no range matches).
 */
export function parseCrashkernel(value: string, ramBytes: number | null): Crashkernel {
  const v = value.trim();
  if (v === 'auto') return { kind: 'auto' };
  const [body, offset] = v.split('@', 2) as [string, string | undefined];
  if (body.includes(':')) {
    const ranges: { start: number; end: number | null; bytes: number }[] = [];
    for (const part of body.split(',')) {
      const m = /^(\w+)-(\w*):(\w+)$/.exec(part.trim());
      if (!m) return { kind: 'invalid', reason: `cannot parse range "${part}"` };
      const start = parseSize(m[1]!);
      const end = m[2] ? parseSize(m[2]) : null;
      const bytes = parseSize(m[3]!);
      if (start === null || bytes === null || (m[2] && end === null)) return { kind: 'invalid', reason: `cannot parse range "${part}"` };
      ranges.push({ start, end, bytes });
    }
    let chosen: number | null = null;
    if (ramBytes !== null) {
      for (const r of ranges) if (ramBytes >= r.start && (r.end === null || ramBytes < r.end)) chosen = r.bytes;
    }
    return { kind: 'ranges', ranges, bytes: chosen };
  }
  const parts = body.split(',');
  const bytes = parseSize(parts[0]!);
  if (bytes === null) return { kind: 'invalid', reason: `cannot parse size "${parts[0]}"` };
  return { kind: 'fixed', bytes, offset, high: parts[1] === 'high' };
}

/**
 * What the distro tooling recommends reserving for this much RAM (x86_64), in bytes.
 * Source: kdump-utils kdump-lib.sh kdump_get_arch_recommend_crashkernel (RHEL 9 table
 * `1G-4G:192M,4G-64G:256M,64G-:512M`; RHEL 10 drops the 1G-4G band: no reservation below 2 GB).
 */
export function recommendedCrashBytes(ramBytes: number): number {
  const G = 2 ** 30;
  const M = 2 ** 20;
  if (ramBytes < 1 * G) return 0;
  if (ramBytes < 4 * G) return 192 * M;
  if (ramBytes < 64 * G) return 256 * M;
  return 512 * M;
}

/**
 * What `crashkernel=auto` reserves on RHEL 6/7/8 x86_64 (readiness.md §2.1); null if unknown.
 * RHEL 6/7: nothing below 2 GB RAM, else 161 MB + 64 MB per TB (RHEL 6 formula unverified, same used).
 * RHEL 8: 1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M.
 */
export function autoCrashBytes(rhelMajor: number | null, ramBytes: number): number | null {
  const G = 2 ** 30;
  const M = 2 ** 20;
  const T = 2 ** 40;
  if (rhelMajor === 6 || rhelMajor === 7) {
    if (ramBytes < 2 * G) return 0;
    return 161 * M + Math.ceil(ramBytes / T) * 64 * M;
  }
  if (rhelMajor === 8) {
    if (ramBytes < 1 * G) return 0;
    if (ramBytes < 4 * G) return 160 * M;
    if (ramBytes < 64 * G) return 192 * M;
    if (ramBytes < T) return 256 * M;
    return 512 * M;
  }
  return null; // RHEL 9+ and others: no kernel-side auto
}

/** Sum of the "Crash kernel" regions in /proc/iomem, in bytes; null when there is no such line. */
export function iomemCrashBytes(text: string): { bytes: number; zeroed: boolean } | null {
  let total = 0;
  let found = false;
  let zeroed = false;
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)\s*:\s*Crash kernel\s*$/.exec(line);
    if (!m) continue;
    found = true;
    const start = parseInt(m[1]!, 16);
    const end = parseInt(m[2]!, 16);
    if (start === 0 && end === 0) zeroed = true; // addresses hidden from non-root (4.15+)
    else total += end - start + 1;
  }
  return found ? { bytes: total, zeroed } : null;
}

/** Boot messages about the crash kernel reservation (success or failure). */
export function dmesgCrashLines(text: string): { reserved: string[]; failed: string[]; bytes: number | null } {
  const reserved: string[] = [];
  const failed: string[] = [];
  let bytes: number | null = null;
  for (const line of text.split('\n')) {
    if (/crashkernel=auto resulted in zero bytes|crashkernel reservation failed|memory is in use|No suitable area found.*crash/i.test(line)) failed.push(line.trim());
    else if (/Reserving \d+MB of memory at \d+MB for crashkernel|crashkernel reserved:|Reserving \d+MB of low memory.*crashkernel/i.test(line)) {
      reserved.push(line.trim());
      // "Reserving 129MB of memory at 48MB for crashkernel" / "crashkernel reserved: 0x… - 0x… (256 MB)"
      const mb = /Reserving (\d+)MB of memory at/.exec(line) ?? /crashkernel reserved:.*\((\d+) MB\)/.exec(line);
      if (mb) bytes = (bytes ?? 0) + Number(mb[1]) * 2 ** 20;
    }
  }
  return { reserved, failed, bytes };
}

/* ------------------------------------------------------------------ sysctl */

export interface SysctlSetting {
  key: string;
  value: string;
  /** file (live form) and 1-based line */
  file: string;
  line: number;
}

/** Whether two sysctl values are the same setting ("0x01b6" and "438" are; whitespace is not significant). */
export function sysctlValuesEqual(a: string, b: string): boolean {
  const x = a.trim().split(/\s+/);
  const y = b.trim().split(/\s+/);
  if (x.length !== y.length) return false;
  return x.every((v, i) => v === y[i] || (v !== '' && Number.isFinite(Number(v)) && Number(v) === Number(y[i])));
}

/** Normalise a sysctl key: "kernel/sysrq" and "kernel.sysrq" are the same. */
export function sysctlKey(k: string): string {
  return k.trim().replace(/\//g, '.');
}

/** Parse a sysctl.conf / sysctl.d file: `key = value`, comments with # or ;, optional leading '-'. */
export function parseSysctlConf(text: string, file: string): { settings: SysctlSetting[]; bad: number } {
  const settings: SysctlSetting[] = [];
  let bad = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const eq = line.indexOf('=');
    // "-key" alone is valid systemd syntax (exclude key from a glob assignment): not malformed.
    if (eq < 0 && /^-[\w.*/-]+$/.test(line)) return;
    if (eq <= 0) {
      bad++;
      return;
    }
    let key = line.slice(0, eq).trim();
    if (key.startsWith('-')) key = key.slice(1);
    settings.push({ key: sysctlKey(key), value: line.slice(eq + 1).trim(), file, line: i + 1 });
  });
  return { settings, bad };
}

/** Directories systemd-sysctl reads, highest priority first (sysctl.d(5)); /etc/sysctl.conf comes last of all. */
export const SYSCTL_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d'];

/**
 * Order the drop-in files the way systemd-sysctl applies them: by file name across all
 * directories, a name in a higher-priority directory masking the same name elsewhere.
 * Input: [dir, name] pairs; output: live paths in application order.
 */
export function sysctlApplyOrder(files: { dir: string; name: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const dir of SYSCTL_DIRS) {
    for (const f of files.filter((x) => x.dir === dir && x.name.endsWith('.conf'))) {
      if (!byName.has(f.name)) byName.set(f.name, `${dir}/${f.name}`);
    }
  }
  return [...byName.keys()].sort().map((n) => byName.get(n)!);
}

/** Parse `sysctl -a` output ("kernel.sysrq = 16"). */
export function parseSysctlA(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf(' = ');
    if (eq > 0) m.set(sysctlKey(line.slice(0, eq)), line.slice(eq + 3).trim());
  }
  return m;
}

/* ------------------------------------------------------------------ kdump */

export interface KdumpConf {
  /** option -> last value */
  options: Map<string, string>;
  /** The dump target line (raw, nfs, ssh, ext4 ...), if any. */
  target: { type: string; value: string } | null;
  path: string | null;
}

const KDUMP_TARGET_TYPES = new Set(['raw', 'nfs', 'nfs4', 'ssh', 'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'minix', 'virtiofs']);

/** Parse /etc/kdump.conf (kdump.conf(5)): `option value`, # comments. */
export function parseKdumpConf(text: string): KdumpConf {
  const options = new Map<string, string>();
  let target: KdumpConf['target'] = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const key = m[1]!;
    const value = m[2]!.trim();
    options.set(key, value);
    if (KDUMP_TARGET_TYPES.has(key)) target = { type: key, value };
  }
  return { options, target, path: options.get('path') ?? null };
}

/** Parse a shell-style KEY=value file (/etc/default/kdump-tools, /etc/sysconfig/*): unquotes values. */
export function parseShellVars(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const r = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!r) continue;
    let v = r[2]!.trim();
    const q = /^"([^"]*)"|^'([^']*)'/.exec(v);
    if (q) v = q[1] ?? q[2] ?? '';
    else v = v.replace(/\s+#.*$/, '');
    m.set(r[1]!, v);
  }
  return m;
}

/** `kdumpctl estimate`: Reserved and Recommended crashkernel in bytes. */
export function parseKdumpEstimate(text: string): { reserved: number | null; recommended: number | null } {
  const get = (label: string) => {
    const m = new RegExp(`${label} crashkernel:\\s*(\\S+)`, 'i').exec(text);
    return m ? parseSize(m[1]!) : null;
  };
  return { reserved: get('Reserved'), recommended: get('Recommended') };
}

/* ------------------------------------------------------------------ /proc */

export interface DentryState {
  nrDentry: number;
  nrUnused: number;
  ageLimit: number;
  wantPages: number;
  nrNegative: number | null;
}

/** /proc/sys/fs/dentry-state: nr_dentry nr_unused age_limit want_pages nr_negative dummy (fs.rst). */
export function parseDentryState(text: string): DentryState | null {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 4 || f.slice(0, 4).some((n) => !Number.isFinite(n))) return null;
  return { nrDentry: f[0]!, nrUnused: f[1]!, ageLimit: f[2]!, wantPages: f[3]!, nrNegative: f.length >= 5 && Number.isFinite(f[4]) ? f[4]! : null };
}

/** The old shrinker's return value: floor(nr_unused / 100) * pressure, as the int it was computed in. */
export function shrinkerProduct(nrUnused: number, pressure: number): number {
  return Math.floor(nrUnused / 100) * pressure;
}

/** MemTotal from /proc/meminfo, in bytes. */
export function parseMemTotal(text: string): number | null {
  const m = /^MemTotal:\s*(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** /proc/uptime first field, in seconds. */
export function parseProcUptime(text: string): number | null {
  const n = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** `uptime` command output (" 10:00:00 up 210 days,  3:04,  2 users, ..."), in seconds. */
export function parseUptimeCommand(text: string): number | null {
  const m = /\bup\s+(.*?),\s+\d+\s+users?|\bup\s+(.*?),\s+load average/.exec(text);
  const span = (m?.[1] ?? m?.[2])?.trim();
  if (!span) return null;
  let s = 0;
  let matched = false;
  const days = /(\d+)\s+days?/.exec(span);
  if (days) {
    s += Number(days[1]) * 86400;
    matched = true;
  }
  const hm = /(\d+):(\d+)/.exec(span);
  if (hm) {
    s += Number(hm[1]) * 3600 + Number(hm[2]) * 60;
    matched = true;
  }
  const min = /(\d+)\s+min/.exec(span);
  if (min) {
    s += Number(min[1]) * 60;
    matched = true;
  }
  return matched ? s : null;
}

/** Total number of threads from /proc/loadavg ("0.1 0.2 0.3 5/200 1234": 200). */
export function parseLoadavgThreads(text: string): number | null {
  const m = /\s\d+\/(\d+)\s/.exec(text);
  return m ? Number(m[1]) : null;
}

/** /proc/stat btime (boot time, seconds since the epoch). */
export function parseBtime(text: string): number | null {
  const m = /^btime\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/* ------------------------------------------------------------------ kernel version */

export interface KernelRelease {
  raw: string;
  version: [number, number, number];
  /** The part after the first '-', e.g. "358.23.2.el6.x86_64". */
  release: string;
  /** RHEL major from the elN tag, if any. */
  rhelMajor: number | null;
}

export function parseKernelRelease(raw: string): KernelRelease | null {
  const t = raw.trim();
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:-(.*))?$/.exec(t.split(/\s+/)[0] ?? '');
  if (!m) return null;
  const release = m[4] ?? '';
  const el = /\.el(\d+)/.exec(release);
  return { raw: t, version: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)], release, rhelMajor: el ? Number(el[1]) : null };
}

/** True when version a < b, comparing [major, minor, patch]. */
export function versionBefore(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * rpmvercmp: compare two version or release strings the way RPM does (alternating
 * numeric / alphabetic segments, numeric beats alpha, longer wins). Returns -1, 0, 1.
 */
export function rpmvercmp(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const segs = (s: string) => s.match(/\d+|[a-zA-Z]+|~/g) ?? [];
  const sa = segs(a);
  const sb = segs(b);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const x = sa[i];
    const y = sb[i];
    if (x === undefined) return y === '~' ? 1 : -1;
    if (y === undefined) return x === '~' ? -1 : 1;
    if (x === '~' || y === '~') {
      if (x !== y) return x === '~' ? -1 : 1;
      continue;
    }
    const xn = /^\d/.test(x);
    const yn = /^\d/.test(y);
    if (xn && !yn) return 1;
    if (!xn && yn) return -1;
    if (xn) {
      const xi = BigInt(x);
      const yi = BigInt(y);
      if (xi !== yi) return xi < yi ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ services, packages, processes */

/** `chkconfig --list`: "kdump  0:off 1:off 2:off 3:on 4:on 5:on 6:off" -> enabled in runlevel 3 or 5. */
export function parseChkconfig(text: string): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    const r = /^(\S+)\s+0:(?:on|off)/.exec(line);
    if (r) m.set(r[1]!, /\b[35]:on\b/.test(line));
  }
  return m;
}

/** `systemctl list-unit-files`: unit -> state (enabled, disabled, static, masked ...). */
export function parseUnitFiles(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^(\S+\.(?:service|timer|socket|target))\s+(\S+)/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

/** `systemctl list-units`: unit -> "active running" etc. Leading "●" markers are dropped. */
export function parseListUnits(text: string): Map<string, { active: string; sub: string }> {
  const m = new Map<string, { active: string; sub: string }>();
  for (const line of text.split('\n')) {
    const r = /^[\s●*]*(\S+\.(?:service|timer|socket))\s+(\S+)\s+(\S+)\s+(\S+)/.exec(line);
    if (r) m.set(r[1]!, { active: r[3]!, sub: r[4]! });
  }
  return m;
}

/** Command names (basename of argv[0], brackets stripped) from `ps aux`-style output. */
export function parsePsCommands(text: string): string[] {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => /\bPID\b/.test(l) && /\bCOMMAND\b|\bCMD\b/.test(l));
  if (header < 0) return [];
  const cols = lines[header]!.trim().split(/\s+/);
  const idx = Math.max(cols.indexOf('COMMAND'), cols.indexOf('CMD'));
  const out: string[] = [];
  for (const line of lines.slice(header + 1)) {
    const f = line.trim().split(/\s+/);
    if (f.length <= idx || f[idx] === '-') continue; // ps m thread lines have "-" fields
    const cmd = f[idx]!.replace(/^\[|\]$/g, '');
    out.push(cmd.split('/').pop()!.replace(/:$/, ''));
  }
  return out;
}

/** Whether a Debian package is installed, from /var/lib/dpkg/status. */
export function dpkgStatusInstalled(text: string, pkg: string): string | null {
  for (const stanza of text.split(/\n\s*\n/)) {
    if (!new RegExp(`^Package: ${escapeRe(pkg)}$`, 'm').test(stanza)) continue;
    if (!/^Status: .* installed$/m.test(stanza)) continue;
    return /^Version: (.*)$/m.exec(stanza)?.[1] ?? '';
  }
  return null;
}

/** Whether a package appears installed in `dpkg -l` output ("ii  sysstat  12.6.1-1 ..."). */
export function dpkgListInstalled(text: string, pkg: string): string | null {
  const m = new RegExp(`^ii\\s+${escapeRe(pkg)}(?::\\S+)?\\s+(\\S+)`, 'm').exec(text);
  return m ? m[1]! : null;
}

/** Installed RPM NVRAs from `installed-rpms` / `package-data` (first field of each line). */
export function rpmInstalled(text: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`^${escapeRe(name)}-(\\d[^-\\s]*-[^\\s]+?)(?:\\.(?:x86_64|noarch|i686|aarch64|ppc64le|s390x))?(?:\\s|$)`);
  for (const line of text.split('\n')) {
    const m = re.exec(line.trim());
    if (m) out.push(m[1]!);
  }
  return out;
}

/** `auditctl -s`: enabled and pid, RHEL 6 one-liner or RHEL 7+ key/value lines. */
export function parseAuditctlStatus(text: string): { enabled: number | null; pid: number | null } {
  const get = (k: string) => {
    const m = new RegExp(`\\b${k}[= ](\\d+)`).exec(text);
    return m ? Number(m[1]) : null;
  };
  return { enabled: get('enabled'), pid: get('pid') };
}

/** Kernel config (/boot/config-*): CONFIG_X -> value ("y", "17", ...); "is not set" -> "n". */
export function parseKernelConfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const a = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (a) m.set(a[1]!, a[2]!.replace(/^"|"$/g, ''));
    const b = /^# (CONFIG_\w+) is not set/.exec(line);
    if (b) m.set(b[1]!, 'n');
  }
  return m;
}

/** os-release KEY=value. */
export function parseOsRelease(text: string): Map<string, string> {
  return parseShellVars(text);
}

/**
 * The printk buffer size from boot messages: "log_buf_len: N bytes" (set on the command line
 * or grown for CPUs) or 6.x "printk: log buffer data + meta data: A + B = C bytes" (A is the text size).
 */
export function dmesgLogBufBytes(text: string): { bytes: number; line: string } | null {
  let found: { bytes: number; line: string } | null = null;
  for (const line of text.split('\n')) {
    const a = /log buffer data \+ meta data:\s*(\d+)\s*\+/.exec(line);
    if (a) found = { bytes: Number(a[1]), line: line.trim() };
    const b = /\blog_buf_len:\s*(\d+)\s*bytes/.exec(line);
    if (b) found = { bytes: Number(b[1]), line: line.trim() };
  }
  return found;
}

/** corosync.conf totem token timeout in ms (default 1000 when a totem section exists without one). */
export function corosyncTokenMs(text: string): number | null {
  const m = /^\s*token\s*:\s*(\d+)/m.exec(text);
  if (m) return Number(m[1]);
  return /^\s*totem\s*\{/m.test(text) ? 1000 : null;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/* ------------------------------------------------------------------ next-boot kernel command line */

/** A BLS entry (/boot/loader/entries/*.conf): its kernel path, version and options line. */
export function parseBlsEntry(text: string): { version: string | null; linux: string | null; options: string | null } {
  const get = (k: string) => new RegExp(`^\\s*${k}\\s+(.*?)\\s*$`, 'm').exec(text)?.[1] ?? null;
  return { version: get('version'), linux: get('linux'), options: get('options') };
}

/** Expand `$kernelopts`-style references in a BLS options line from grubenv variables. */
export function expandGrubVars(options: string, vars: Map<string, string>): string {
  return options.replace(/\$\{?(\w+)\}?/g, (_, name: string) => vars.get(name) ?? '');
}

/** /boot/grub2/grubenv: `name=value` lines (padding '#' lines ignored). */
export function parseGrubenv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^([A-Za-z_]\w*)=(.*)$/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

/**
 * The kernel arguments /etc/default/grub (and its grub.d/*.cfg snippets, applied in order) give:
 * GRUB_CMDLINE_LINUX followed by GRUB_CMDLINE_LINUX_DEFAULT, with `$VAR` references expanded.
 */
export function grubDefaultArgs(texts: string[]): string | null {
  const vars = new Map<string, string>();
  let seen = false;
  for (const text of texts) {
    for (const raw of text.split('\n')) {
      const r = /^\s*(?:export\s+)?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=(?:"([^"]*)"|'([^']*)'|(\S*))/.exec(raw);
      if (!r) continue;
      seen = true;
      const value = r[2] ?? r[3] ?? r[4] ?? '';
      vars.set(r[1]!, value.replace(/\$\{?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)\}?/g, (_, n: string) => vars.get(n) ?? ''));
    }
  }
  if (!seen) return null;
  return `${vars.get('GRUB_CMDLINE_LINUX') ?? ''} ${vars.get('GRUB_CMDLINE_LINUX_DEFAULT') ?? ''}`.trim().replace(/\s+/g, ' ');
}

/** Legacy GRUB (RHEL 6 /boot/grub/grub.conf): the `kernel` line arguments of the default entry. */
export function grubLegacyDefault(text: string): { title: string; args: string } | null {
  const def = Number(/^\s*default\s*=?\s*(\d+)/m.exec(text)?.[1] ?? 0);
  const entries: { title: string; args: string }[] = [];
  let cur: { title: string; args: string } | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const t = /^title\s+(.*)$/.exec(line);
    if (t) {
      cur = { title: t[1]!, args: '' };
      entries.push(cur);
      continue;
    }
    const k = /^kernel\s+\S+\s*(.*)$/.exec(line);
    if (k && cur) cur.args = k[1]!;
  }
  return entries[def] ?? entries[0] ?? null;
}
