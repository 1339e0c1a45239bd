/**
 * How much of each datum the Host reads: one table, first match wins. The caps are far above
 * what a real system has (so real evidence is never cut) and far below what would make a
 * planted 50 MB `proc/cmdline` cost seconds and gigabytes in `check`, `baseline save` and `diff`.
 * A file longer than its cap is cut there, and the cut is reported (Host.cuts), never silent.
 */
import { formatBytes } from '../common/evidence.js';

export interface ReadCap {
  /** Live path the cap applies to. */
  match: RegExp;
  maxBytes: number;
  /** Why this size: what the real datum's upper bound is. */
  why: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const READ_CAPS: readonly ReadCap[] = [
  { match: /^\/proc\/cmdline$/, maxBytes: 64 * KiB, why: 'COMMAND_LINE_SIZE is 2-4 KiB on every architecture (2 KiB x86 before 5.x, 4 KiB s390/arm64)' },
  { match: /^\/proc\/\d+\/cmdline$/, maxBytes: 256 * KiB, why: 'argv of one process; ARG_MAX-sized command lines exist but their head identifies the program' },
  { match: /^\/proc\/\d+\//, maxBytes: 1 * MiB, why: 'per-process status/stat/limits files are a few KiB' },
  { match: /^\/proc\/sys\//, maxBytes: 1 * MiB, why: 'one sysctl value; the longest real ones (e.g. tainted module lists) are a few KiB' },
  { match: /^\/sys\//, maxBytes: 1 * MiB, why: 'sysfs attributes are at most one page (4 KiB) by design' },
  { match: /^\/proc\/(slabinfo|iomem|modules|mounts|kallsyms|net\/.*)$/, maxBytes: 16 * MiB, why: 'tables that grow with the machine (10,000 mounts or routes are ~1 MiB)' },
  { match: /^\/proc\//, maxBytes: 4 * MiB, why: 'other /proc files (meminfo, stat, consoles) are a few KiB to a few hundred KiB' },
  { match: /^\/etc\/os-release$|^\/usr\/lib\/os-release$|^\/etc\/[a-z]+[-_](release|version)$/, maxBytes: 64 * KiB, why: 'release files are a few lines' },
  { match: /^\/var\/lib\/dpkg\/status$/, maxBytes: 256 * MiB, why: 'dpkg status of a large desktop is ~10 MiB' },
  { match: /^\/etc\//, maxBytes: 8 * MiB, why: 'configuration files; the largest common ones (e.g. a hosts file of a cluster) are a few MiB' },
  {
    match: /^\/sos_commands\/|^\/installed-rpms$|^\/var\/log\//,
    maxBytes: 256 * MiB,
    why: 'command output and logs in a sosreport: sos itself cuts logs at 25 MiB by default; ps/rpm lists of large hosts are tens of MiB',
  },
];

/** Anything not matched above. */
export const DEFAULT_READ_CAP: ReadCap = { match: /./, maxBytes: 64 * MiB, why: 'default' };

export function readCapFor(livePath: string): ReadCap {
  return READ_CAPS.find((c) => c.match.test(livePath)) ?? DEFAULT_READ_CAP;
}

/** The note shown wherever a cut datum is used. */
export function cutNote(livePath: string, size: number, cap: number): string {
  return `${livePath}: ${size.toLocaleString('en-US')} bytes, only the first ${formatBytes(cap)} read (the cap for this datum)`;
}
