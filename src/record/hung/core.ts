/**
 * The hung-task detector's pure core: /dev/kmsg record parsing, the hung-task report matcher,
 * the once-per-incident rate limiter, the old-record rule across restarts, the D-state test of
 * /proc/<pid>/stat, and the dmesg text rendering of captured records (what `lantern analyze` reads).
 * No I/O here.
 */
import { durationMs } from '../../common/duration.js';

/** One /dev/kmsg record (Documentation/ABI/testing/dev-kmsg). */
export interface KmsgRecord {
  seq: number;
  /** Kernel timestamp, µs since boot (local_clock: the clock of dmesg's `[sec.usec]`). */
  tsUs: number;
  level: number;
  /** 0 = the kernel; a record written into /dev/kmsg from user space has a facility of at least 1. */
  facility: number;
  /** True for a continuation fragment (`c` flag, older kernels). */
  cont: boolean;
  text: string;
}

/** Parse one record as one read() of /dev/kmsg returns it: `prio,seq,ts,flags[,…];text\n[ KEY=value\n…]`. Null when it is not one. */
export function parseKmsgRecord(raw: string): KmsgRecord | null {
  const semi = raw.indexOf(';');
  if (semi < 0) return null;
  const head = raw.slice(0, semi).split(',');
  if (head.length < 4) return null;
  const [prio, seq, ts, flags] = head.map((h) => h.trim()) as [string, string, string, string];
  if (!/^\d+$/.test(prio) || !/^\d+$/.test(seq) || !/^\d+$/.test(ts)) return null;
  const nl = raw.indexOf('\n', semi + 1);
  const body = raw.slice(semi + 1, nl < 0 ? undefined : nl);
  const p = Number(prio);
  return { seq: Number(seq), tsUs: Number(ts), level: p & 7, facility: p >> 3, cont: flags.startsWith('c'), text: unescapeKmsg(body) };
}

/** The kernel escapes non-printable bytes (and backslash) as `\xNN`. */
export function unescapeKmsg(text: string): string {
  if (!text.includes('\\x')) return text;
  return text.replace(/\\x([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const c = parseInt(hex, 16);
    // Control characters stay escaped: they would break the one-record-per-line text format.
    return c < 0x20 || c === 0x7f ? `\\x${hex}` : String.fromCharCode(c);
  });
}

export interface HungReport {
  comm: string;
  /** The blocked task's id (a thread id: the detector reports tasks). */
  tid: number;
  /** "blocked for more than N seconds", when the source says it (the tracepoint does not). */
  blockedSecs: number | null;
  source: 'tracepoint' | 'kmsg';
  /** The kmsg record's sequence number (kmsg source only). */
  seq: number | null;
}

/** khungtaskd's line: `INFO: task <comm>:<pid> blocked for more than <n> seconds.` (comm may hold ':'). */
const HUNG_LINE = /^INFO: task (.{1,64}):(\d{1,10}) blocked for more than (\d{1,10}) seconds\.?$/;

export function matchHungLine(text: string): { comm: string; tid: number; blockedSecs: number } | null {
  const m = HUNG_LINE.exec(text.trim());
  return m ? { comm: m[1]!, tid: Number(m[2]), blockedSecs: Number(m[3]) } : null;
}

/**
 * What to do with a kmsg hung report, so that no report is acted on twice, across restarts too.
 * Records the recorder finds already in the buffer when it starts (`backlog`) are acted on only
 * when it remembers a sequence number of this boot, the record is newer than that, and it is
 * still young (it happened while the recorder was being restarted); otherwise it is old.
 */
export function kmsgVerdict(
  rec: { seq: number; tsUs: number },
  remembered: { bootId: string; lastSeq: number } | null,
  bootId: string,
  ctx: { backlog: boolean; nowBootUs: number; backlogWindowUs: number },
): 'new' | 'old' {
  const sameBoot = remembered !== null && remembered.bootId === bootId;
  if (sameBoot && rec.seq <= remembered.lastSeq) return 'old';
  if (!ctx.backlog) return 'new';
  if (!sameBoot) return 'old';
  return ctx.nowBootUs - rec.tsUs <= ctx.backlogWindowUs ? 'new' : 'old';
}

/**
 * Once per incident: the first report acts; any report within minIntervalMs of the last action
 * is part of the same incident (counted, stored, no new SysRq or snapshot).
 */
export class IncidentLimiter {
  private lastActionMs: number | null = null;
  private incidentId: number | null = null;
  constructor(private readonly minIntervalMs: number) {}

  decide(nowMs: number, newIncidentId: () => number): { act: true; incident: number } | { act: false; incident: number } {
    if (this.lastActionMs !== null && this.incidentId !== null && nowMs - this.lastActionMs < this.minIntervalMs) return { act: false, incident: this.incidentId };
    this.lastActionMs = nowMs;
    this.incidentId = newIncidentId();
    return { act: true, incident: this.incidentId };
  }
}

/** State letter of /proc/<pid>/stat (after the last ')', comm may hold anything). */
export function statState(stat: string): string | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const m = /^\s+(\S)/.exec(stat.slice(close + 1));
  return m ? m[1]! : null;
}

/** `[ 4904.412345] text`: dmesg's format, which `lantern analyze` reads. One line per record. */
export function dmesgLine(rec: { tsUs: number; text: string }): string {
  const sec = Math.floor(rec.tsUs / 1e6);
  const usec = Math.floor(rec.tsUs % 1e6);
  return `[${String(sec).padStart(5)}.${String(usec).padStart(6, '0')}] ${rec.text.replace(/[\r\n]+/g, ' ')}`;
}

/**
 * `"5m"`, `"30s"`, `"1h"`, `"500ms"` or a number of seconds, to ms; null when it is none of these.
 * The recorder's intervals (`[hung] min_interval`, `[slab] dentry_interval`, rules' `min_interval`):
 * common/duration's grammar, a bare number being seconds.
 */
export const parseInterval: (v: unknown) => number | null = durationMs;

/** SysRq letters Lantern may send for a hung task: dumps only, never a reboot, sync, kill or crash. */
export const HUNG_SYSRQ_LETTERS = ['t', 'w', 'm', 'l', 'd', 'p', 'q'];
/** Default: `w` first (the blocked tasks only: small, lands first), then `t` (every task, large). */
export const DEFAULT_HUNG_SYSRQ = ['w', 't'];

export function parseSysrqLetters(v: unknown): string[] | string {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : null;
  if (!list) return 'a list of letters';
  const out: string[] = [];
  for (const x of list) {
    const l = typeof x === 'string' ? x.trim() : '';
    if (!HUNG_SYSRQ_LETTERS.includes(l)) return `one of ${HUNG_SYSRQ_LETTERS.join(', ')} (got ${JSON.stringify(x)})`;
    if (!out.includes(l)) out.push(l);
  }
  return out;
}
