/**
 * Pure parsers for the state files `lantern baseline` reads that `lantern check` does not
 * parse whole. Text in, values out; bad lines are counted, never thrown on.
 */
import type { MaskState, Mount } from './model.js';

export interface Parsed<T> {
  value: T;
  /** Lines (or stanzas) that could not be understood. */
  bad: number;
}

/** /proc/modules ("xfs 2015232 2 - Live 0x...") or `lsmod` output (header "Module Size Used by"). */
export function parseModules(text: string): Parsed<string[]> {
  const names = new Set<string>();
  let bad = 0;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || /^Module\s+Size\s+Used/.test(t)) continue;
    const m = /^([A-Za-z0-9_-]+)\s+\d+\s+/.exec(t);
    if (m) names.add(m[1]!);
    else bad++;
  }
  return { value: [...names].sort(), bad };
}

/** Undo the octal escapes the kernel uses in /proc/mounts (\040 for a space and so on). */
export function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** /proc/mounts (fstab format: device mountpoint fstype options dump pass). */
export function parseMounts(text: string): Parsed<Mount[]> {
  const out: Mount[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !f[1]!.startsWith('/')) {
      bad++;
      continue;
    }
    out.push({ device: unescapeMount(f[0]!), mountpoint: unescapeMount(f[1]!), fstype: f[2]!, options: f[3]! });
  }
  return { value: out, bad };
}

/** `mount -l` output from a sosreport ("dev on /mnt type xfs (rw,relatime) [label]"). */
export function parseMountL(text: string): Parsed<Mount[]> {
  const out: Mount[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^(.*?) on (\/.*?) type (\S+) \(([^)]*)\)/.exec(line);
    if (!m) {
      bad++;
      continue;
    }
    out.push({ device: m[1]!, mountpoint: m[2]!, fstype: m[3]!, options: m[4]! });
  }
  return { value: out, bad };
}

/** Add a version to a name -> versions map, keeping the list sorted and unique. */
function addVersion(map: Map<string, string[]>, name: string, version: string): void {
  const list = map.get(name) ?? [];
  if (!list.includes(version)) list.push(version);
  list.sort();
  map.set(name, list);
}

/** Installed packages from /var/lib/dpkg/status: stanzas whose Status ends in "installed". */
export function parseDpkgStatus(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const stanza of text.split(/\n\s*\n/)) {
    if (!stanza.trim()) continue;
    const name = /^Package:\s*(\S+)\s*$/m.exec(stanza)?.[1];
    const status = /^Status:\s*(.*?)\s*$/m.exec(stanza)?.[1];
    if (!name || status === undefined) {
      bad++;
      continue;
    }
    // "install ok installed" and "hold ok installed" are installed; config-files, half-installed are not.
    if (!/\binstalled$/.test(status) || /half-installed$/.test(status)) continue;
    addVersion(map, name, /^Version:\s*(\S+)\s*$/m.exec(stanza)?.[1] ?? '');
  }
  return { value: map, bad };
}

/** `dpkg -l` output from a sosreport: "ii  name[:arch]  version  arch  description". */
export function parseDpkgL(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!/^[a-z][a-zA-Z]\S?\s/.test(line)) continue; // header and separator lines
    const f = line.trim().split(/\s+/);
    if (f.length < 3) {
      bad++;
      continue;
    }
    if (f[0] !== 'ii' && f[0] !== 'hi') continue;
    addVersion(map, f[1]!.replace(/:[\w-]+$/, ''), f[2]!);
  }
  return { value: map, bad };
}

const RPM_ARCHES = /\.(x86_64|noarch|i[3-6]86|aarch64|ppc64le|ppc64|s390x|armv7hl|src)$/;

/**
 * Split an RPM NVRA ("kernel-4.18.0-513.5.1.el8_9.x86_64") into name and version-release.
 * Returns null when the string has no name-version-release shape.
 */
export function splitNvra(nvra: string): { name: string; version: string } | null {
  const nvr = nvra.replace(RPM_ARCHES, '');
  const r = nvr.lastIndexOf('-');
  if (r <= 0) return null;
  const v = nvr.lastIndexOf('-', r - 1);
  if (v <= 0) return null;
  return { name: nvr.slice(0, v), version: nvr.slice(v + 1) };
}

/** sosreport `installed-rpms` (NVRA then the install date) or plain `rpm -qa` output. */
export function parseRpmList(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const line of text.split('\n')) {
    const first = line.trim().split(/\s+/)[0];
    if (!first) continue;
    const s = splitNvra(first);
    if (!s) {
      bad++;
      continue;
    }
    addVersion(map, s.name, s.version);
  }
  return { value: map, bad };
}

/** Output of the fixed `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n'` query. */
export function parseRpmQf(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [name, evr] = line.split('\t');
    if (!name || !evr) {
      bad++;
      continue;
    }
    addVersion(map, name.trim(), evr.trim().replace(/^0:/, ''));
  }
  return { value: map, bad };
}

/** The unit types `systemctl list-unit-files` lists and unit directories hold. */
export const UNIT_NAME = /^[^/\s]+\.(?:service|socket|timer|target|path|mount|automount|swap|slice|scope|device)$/;

/** Enabled units from `systemctl list-unit-files` ("enabled" and "enabled-runtime"). */
export function enabledFromUnitFiles(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+\.(?:service|socket|timer|target|path|mount|automount|swap|slice|scope))\s+(enabled|enabled-runtime)\b/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out.sort();
}

/** Masked units from `systemctl list-unit-files`: "masked" (in /etc or /usr/lib) or "masked-runtime" (/run, until reboot). */
export function maskedFromUnitFiles(text: string): Map<string, MaskState> {
  const out = new Map<string, MaskState>();
  for (const line of text.split('\n')) {
    const m = /^(\S+\.(?:service|socket|timer|target|path|mount|automount|swap|slice|scope))\s+(masked-runtime|masked)\b/.exec(line);
    if (m) out.set(m[1]!, m[2] as MaskState);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * `chkconfig --list` (RHEL 5/6, and RHEL 7+ for the SysV services left): "name  0:off 1:off 2:on ...".
 * Returns each service with the runlevels it starts in (services off everywhere are left out, as
 * a service with only K links is when the rc directories are read). The xinetd block and the
 * RHEL 7+ "Note:" paragraph are not services; other lines that start like one but do not parse are bad.
 */
export function parseChkconfigList(text: string): Parsed<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  let bad = 0;
  let xinetd = false;
  for (const line of text.split('\n')) {
    if (/^xinetd based services:/.test(line)) xinetd = true;
    if (xinetd || !line.trim() || /^\s/.test(line) || /^Note:/.test(line)) continue;
    const m = /^(\S+)\s+((?:[0-6]:(?:on|off)\s*){7})$/.exec(line.trimEnd());
    if (!m) {
      bad++;
      continue;
    }
    const on = [...m[2]!.matchAll(/([0-6]):on/g)].map((x) => x[1]!);
    if (on.length) map.set(m[1]!, on);
  }
  return { value: map, bad };
}

/** The service a SysV start link names ("S26kdump" -> "kdump", Debian "S01dbus" -> "dbus"); null for K links and other files. */
export function sysvStartService(entry: string): string | null {
  const m = /^S\d{1,3}([A-Za-z0-9_.@+-]+)$/.exec(entry);
  return m ? m[1]! : null;
}

/** Number of "processor" lines in /proc/cpuinfo; null when there are none. */
export function cpuinfoCount(text: string): number | null {
  const n = text.split('\n').filter((l) => /^processor\s*:/.test(l)).length;
  return n > 0 ? n : null;
}

/** Number of "cpuN" lines in /proc/stat. */
export function procStatCpuCount(text: string): number | null {
  const n = text.split('\n').filter((l) => /^cpu\d+\s/.test(l)).length;
  return n > 0 ? n : null;
}

/** A CPU list such as /sys/devices/system/cpu/online ("0-3,8,10-11") -> count. */
export function cpuListCount(text: string): number | null {
  let n = 0;
  const t = text.trim();
  if (!t) return null;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    n += m[2] !== undefined ? Number(m[2]) - Number(m[1]) + 1 : 1;
  }
  return n > 0 ? n : null;
}

/** `lscpu` "CPU(s): 4". */
export function lscpuCount(text: string): number | null {
  const m = /^CPU\(s\):\s*(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** A "Name:   1234 kB" field of /proc/meminfo, in KiB. */
export function meminfoKiB(text: string, field: string): number | null {
  const m = new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/** Compare two package versions (optional "epoch:" prefix, then RPM-style segments). */
export function compareVersions(a: string, b: string, cmp: (x: string, y: string) => -1 | 0 | 1): -1 | 0 | 1 {
  const ea = /^(\d+):/.exec(a);
  const eb = /^(\d+):/.exec(b);
  const na = ea ? Number(ea[1]) : 0;
  const nb = eb ? Number(eb[1]) : 0;
  if (na !== nb) return na < nb ? -1 : 1;
  return cmp(a.replace(/^\d+:/, ''), b.replace(/^\d+:/, ''));
}

/**
 * `sysctl -a` output, keeping multi-line values: procps prints one "key = line" per line of a
 * value (dev.cdrom.info), so repeated keys are joined with newlines, as the /proc/sys file reads.
 */
export function parseSysctlAll(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf(' = ');
    const bare = eq < 0 && / =$/.test(line) ? line.length - 2 : -1;
    const at = eq >= 0 ? eq : bare;
    if (at <= 0) continue;
    const key = line.slice(0, at).trim().replace(/\//g, '.');
    const value = eq >= 0 ? line.slice(eq + 3).trim() : '';
    const prev = m.get(key);
    m.set(key, prev === undefined ? value : `${prev}\n${value}`);
  }
  return m;
}
