/** Small text rules the report types and the detector share: names, titles, comms. */
import type { Incident } from '../model.js';

export function cleanName(s: string): string {
  const dot = s.indexOf('.');
  return dot > 0 ? s.slice(0, dot) : s;
}

/**
 * A function named by a header; a raw address (`in 0xffffffffc0123456` or `in ffff888012345678`,
 * no symbols) names none.
 */
export function symbol(s: string): { func?: string } {
  return /^[A-Za-z_]/.test(s) && !/^(?:0x)?[0-9a-f]{8,}$/i.test(s) ? { func: cleanName(s) } : {};
}

/** Takes run-specific details out of a title so identical problems group (after syzkaller's rules). */
export function sanitizeTitle(s: string): string {
  return s
    .replace(/([A-Za-z_][\w]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/g, '$1')
    .replace(/\b(\w+\.[chS]):\d+/g, '$1:LINE')
    .replace(/CPU#?\s?\d+/g, 'CPU')
    .replace(/\b(?:0x)?[0-9a-f]{6,}\b/gi, 'ADDR')
    .replace(/0x[0-9a-f]+/gi, 'ADDR')
    .replace(/\[\S+:\d+\]/g, '')
    .replace(/\b\d+\b/g, 'NUM')
    .replace(/[\x00-\x1f]/g, '')
    .trim()
    .slice(0, 120);
}

export function markPartial(inc: Incident, why: string): void {
  inc.partial = true;
  if (!inc.partialReasons.includes(why)) inc.partialReasons.push(why);
}

/** What follows the comm on a `CPU: … Comm: C` / `Pid: N, comm: C` line (lib/dump_stack.c: taint, RHEL's kdump state). */
const AFTER_COMM_RE = / +(?:Kdump: |Not tainted|Tainted: )/;

/**
 * The comm of a `… Comm: C Not tainted …` tail: everything before the taint marker, as a comm may
 * hold spaces and `#`; without a marker (a line cut by the capture) the first word, as before.
 */
export function commOf(rest: string): string {
  const at = rest.search(AFTER_COMM_RE);
  if (at > 0) return rest.slice(0, at).slice(0, 20);
  return rest.trim().split(/\s+/)[0]!;
}

// The comm (up to 15 characters: `StreamT~ns #577`, `Web Content`) may hold spaces: see commOf.
export const CPU_PID_RE = /CPU: (\d+) (?:UID: \d+ )?PID: (\d+)(?: Comm: (.+))?/;

/** `Oops: general protection fault, …` (6.10+) read as the 4.x trap line it prefixes. */
const OOPS_TRAP_RE = /^Oops: (?:general protection fault|divide error|invalid opcode|stack segment|double fault)\b/;
export function trapText(text: string): string {
  return text.startsWith('Oops: ') && OOPS_TRAP_RE.test(text) ? text.slice(6) : text;
}

const NEW_TASK_RE = /^task:(.+?)\s+state:(\S)(?:\s+running task)?\s+stack:\s*(\d+)\s+pid:\s*(\d+)\s+(?:tgid:\s*(\d+)\s+)?ppid:\s*(\d+)/;
const OLD_TASK_RE = /^(\S.{0,14}?)\s+([RSDTtXZPIKWN])(?: +running task +| *(?:[0-9a-f]{8,16} +)?)(\d+) +(\d+) +(\d+)(?: +\d+)*(?: +0x[0-9a-f]+| +\([\w-]+\))? *$/;

/** A task line of sched_show_task: `task:comm state:D stack:0 pid:1 ppid:2 …` (5.x+) or the older column form. */
export function isTaskLine(text: string): boolean {
  return OLD_TASK_RE.test(text) || NEW_TASK_RE.test(text);
}

export function taskLine(text: string): { comm: string; state: string; pid: number; ppid: number } | undefined {
  const m = NEW_TASK_RE.exec(text) ?? OLD_TASK_RE.exec(text);
  if (!m) return undefined;
  const isNew = text.startsWith('task:');
  return { comm: m[1]!.trim(), state: m[2]!, pid: Number(m[4]), ppid: Number(isNew ? m[6] : m[5]) };
}
