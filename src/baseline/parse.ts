/**
 * Pure parsers for the state files only `lantern baseline` reads (modules, mounts, CPU counts).
 * Text in, values out; bad lines are counted, never thrown on. Formats `check` reads too are in
 * src/host/formats/, one parser each.
 */
import type { Parsed } from '../host/formats/parsed.js';
import type { Mount } from './model.js';

export type { Parsed };

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
