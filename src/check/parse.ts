/**
 * Pure parsers for what only `lantern check` reads. No I/O: text in, values out.
 * Every parser is lenient: unparseable lines are skipped and counted, never thrown on.
 * File formats `baseline` reads too (sysctl, units, chkconfig, packages, meminfo, grub, kdump, …)
 * are in src/host/formats/, one parser each.
 */
import { parseSize } from '../common/size.js';

// Formats now (src/host/formats/); re-exported for check's own modules.
export { INT_MAX, parseDentryState, shrinkerProduct, type DentryState } from '../host/formats/dentry-state.js';
export { parseKernelRelease, versionBefore, type KernelRelease } from '../host/formats/kernel.js';

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
    if (start === 0 && end === 0)
      zeroed = true; // addresses hidden from non-root (4.15+)
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

/* ------------------------------------------------------------------ services, packages, processes */

/** `auditctl -s`: enabled and pid, RHEL 6 one-liner or RHEL 7+ key/value lines. */
export function parseAuditctlStatus(text: string): { enabled: number | null; pid: number | null } {
  const get = (k: string) => {
    const m = new RegExp(`\\b${k}[= ](\\d+)`).exec(text);
    return m ? Number(m[1]) : null;
  };
  return { enabled: get('enabled'), pid: get('pid') };
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
