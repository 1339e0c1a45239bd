/**
 * The data model of `lantern analyze`: normalised log lines in, incidents out.
 * Pure types only; the JSON output schema (docs/analyze.md) is built from these.
 */

/** Where a line's wall-clock time came from and how to show it. */
export interface WallTime {
  /** Milliseconds since the epoch. Stamps without a zone are read as if UTC (see `zoned`). */
  ms: number;
  /** ISO 8601; with an offset when the log gave one, else local time of the logging host. */
  iso: string;
  /** False when the log gave no zone (classic syslog, dmesg -T): `iso` has no offset. */
  zoned: boolean;
}

/** One input line after its envelope (syslog, journal, netconsole, dmesg stamp) is taken apart. */
export interface NormLine {
  /** Input name as the user gave it (or `-` for stdin). */
  file: string;
  lineNo: number;
  /** The line as read (CR and ANSI sequences removed), for excerpts. */
  raw: string;
  /** The kernel message text without any prefix. */
  text: string;
  /** True for kernel messages; false for other programs' syslog/journal lines (kept out of reports). */
  kernel: boolean;
  host?: string;
  wall?: WallTime;
  /** Seconds since boot from `[ 123.456789]`. */
  kernelTime?: number;
  /** The stamp as printed (`123.456789`), for exact reporting. */
  kernelTimeText?: string;
  /** The raw wall-clock stamp as printed (`Feb 04 00:07:13`). */
  wallText?: string;
  /** printk level 0-7 when the line carried `<N>` or a journal PRIORITY. */
  level?: number;
  /** CONFIG_PRINTK_CALLER context (`T1054`, `C1`). */
  caller?: string;
  /** A journal `-- Boot … --` / `-- Reboot --` separator. */
  bootMarker?: boolean;
}

/**
 * Every incident kind, in the order `--kind` lists them. The one place they are written:
 * `IncidentKind` is derived from it, so a new kind added here is known to the type, the CLI's
 * `--kind` check and the tests that require a case file and a docs/analyze.md row for each kind.
 */
export const INCIDENT_KINDS = [
  'panic',
  'oops',
  'warning',
  'hung_task',
  'sysrq_show_state',
  'oom_kill',
  'soft_lockup',
  'hard_lockup',
  'rcu_stall',
  'shrink_slab',
  'mce',
  'hw_error',
  'io_error',
  'fs_error',
  'segfault',
  'boot',
] as const;

export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/** True when `s` names an incident kind (a `--kind` value, a kind read back from JSON). */
export function isIncidentKind(s: string): s is IncidentKind {
  return (INCIDENT_KINDS as readonly string[]).includes(s);
}

/** One parsed stack frame. */
export interface Frame {
  /** Function name with `.isra.N`/`.cold` suffixes removed. */
  func: string;
  /** False for `? func` frames (stale stack words the unwinder could not confirm). */
  reliable: boolean;
  module?: string;
}

/** A task named by the incident: the one that crashed, hung, was killed, or invoked something. */
export interface TaskRef {
  role: 'current' | 'blocked' | 'stuck' | 'victim' | 'invoker' | 'faulting';
  comm: string;
  pid?: number;
  ppid?: number;
  state?: string;
}

export interface OomDetails {
  invoker?: { comm: string; pid?: number };
  gfpMask?: string;
  order?: number;
  constraint?: string;
  cgroup?: string;
  victim?: {
    pid: number;
    comm: string;
    uid?: number;
    totalVmKb?: number;
    anonRssKb?: number;
    fileRssKb?: number;
    shmemRssKb?: number;
    oomScoreAdj?: number;
    score?: number;
  };
  memory?: { freePages?: number; freeSwapKb?: number; totalSwapKb?: number; ramPages?: number };
  /** Rows of the task table (counted, not kept). */
  taskTableRows?: number;
  largestRssTask?: { pid: number; comm: string; rssPages: number };
}

/** One group of D-state tasks in a SysRq-T / SysRq-W dump sharing the same top frames. */
export interface BlockedGroup {
  count: number;
  /** Top frames after scheduler frames, most specific first. */
  frames: string[];
  /** Up to 5 example tasks. */
  examples: string[];
}

export interface SysrqDetails {
  blockedOnly: boolean;
  tasks: number;
  byState: Record<string, number>;
  /** Tasks kept with their stacks (capped); `tasks` counts all. */
  kept: Array<{ comm: string; pid?: number; ppid?: number; state: string; frames: string[] }>;
  blockedGroups: BlockedGroup[];
}

export interface Incident {
  kind: IncidentKind;
  /** Finer class: general_protection_fault, null_pointer_dereference, fatal, corrected_logged, … */
  subkind?: string;
  /** Normalised, stable title (no addresses, pids, times): identical problems share it. */
  title: string;
  /** The kernel's own first line of the report. */
  headline: string;
  file: string;
  lineNo: number;
  host?: string;
  wall?: WallTime;
  wallText?: string;
  kernelTime?: number;
  kernelTimeText?: string;
  /** Index of the boot within its stream (0 = before/without a banner). */
  boot: number;
  tasks: TaskRef[];
  cpu?: number;
  guiltyFrame?: string;
  /** Other reasonable choices of guilty frame (RIP function, first reliable frame), like syzkaller's alt titles. */
  altFrames: string[];
  /** RIP / EIP / PC function. */
  rip?: string;
  /** Reliable frames of the main call trace (capped). */
  frames: Frame[];
  /** Kind-specific facts (panic reason, seconds blocked, version, device, …). */
  facts: Record<string, string | number | boolean>;
  oom?: OomDetails;
  sysrq?: SysrqDetails;
  /** The report is incomplete (truncated, interleaved, corrupted); `partialReasons` says why. */
  partial: boolean;
  partialReasons: string[];
  /** The report's lines as read (capped; `excerptOmitted` counts the rest). */
  excerpt: string[];
  excerptOmitted: number;
}

/** The task an incident is about, as `comm:pid`: the victim, the blocked or stuck task, the faulting one, else the current one. */
export function mainTask(inc: Incident): string | undefined {
  const order = ['victim', 'blocked', 'stuck', 'faulting', 'current', 'invoker'];
  const sorted = [...inc.tasks].sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role));
  const t = sorted[0];
  return t ? `${t.comm}${t.pid !== undefined ? ':' + t.pid : ''}` : undefined;
}
