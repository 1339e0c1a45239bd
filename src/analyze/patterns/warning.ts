/**
 * WARNINGs: `WARNING:` in its four eras, lockdep's reports and UBSAN's. A WARNING in a checker's
 * file is that checker's report (./refinements.ts); a 3.x hard lockup is a WARNING the next line
 * renames.
 */
import { firstMeaningful, isGenericFrame, normalizeSyscall } from '../frames.js';
import { HARD_LOCKUP, HARD_RE } from './lockups.js';
import { trapContinues } from './oops.js';
import { warningRefinement } from './refinements.js';
import { cleanName, markPartial, sanitizeTitle } from './text.js';
import type { OpenReport, ReportType, TitleContext } from './types.js';

const WARN_OLD_RE = /^WARNING: at (\S+) ([\w.]+)\+0x/;
const WARN_CPU_RE = /^WARNING: CPU: (\d+) PID: (\d+) at (\S+) ([\w.]+)\+0x/;
const WARN_NEW_RE = /^WARNING: (\S+:\d+) at ([\w.]+)\+0x\S+, CPU#(\d+): (.+)\/(\d+)/;
const WARN_ANY_RE = /^WARNING: (.+)$/;
// Lockdep: `WARNING: possible circular locking dependency detected` (4.14+), `[ INFO: possible … ]` (≤4.13).
const LOCKDEP_RE = /^(?:WARNING: |\[ ?INFO: |INFO: )possible (circular locking dependency|recursive locking) detected/;
// `comm/pid is trying to acquire lock:`; the next line names the lock and the acquiring function.
const LOCKDEP_TASK_RE = /^(.+)\/(\d+) is trying to acquire lock:/;
const LOCKDEP_AT_RE = /, at: (?:\[<[0-9a-f]+>\] )?(?:[0-9a-f]{8,16}\s+)?([\w.]+)\+0x/;
// UBSAN (lib/ubsan.c): `UBSAN: shift-out-of-bounds in net/x.c:12:3` (5.x+), `UBSAN: Undefined behaviour in x.c:12:3` (4.x).
const UBSAN_RE = /^UBSAN: (.+?) in (\S+)/;
// WARNINGs about reference counts fire in the put helper; the caller is the interesting frame.
const WARN_SKIP = /^(?:fast_)?dput$|^refcount_|^kobject_|^__warn|^warn_/;

/** Lines of a WARNING: traps; and 3.x's `Watchdog detected hard LOCKUP` after a WARNING in watchdog_overflow_callback, which makes it a hard lockup. */
function warningContinues(text: string, r: OpenReport): boolean | 'absorbed' {
  if (trapContinues(text)) return true;
  const m = HARD_RE.exec(text);
  if (!m) return false;
  r.type = HARD_LOCKUP;
  r.inc.kind = 'hard_lockup';
  r.inc.headline = text;
  r.inc.cpu = Number(m[1]);
  r.inc.facts['warningLine'] = r.inc.excerpt[0] ?? '';
  return 'absorbed';
}

/** The guilty frame of a WARNING: the function it names unless generic, else the first meaningful frame past the put helpers. */
function warnGuilty(r: OpenReport, t: TitleContext): string | undefined {
  const wf = r.warnFunc && !isGenericFrame(r.warnFunc) && !WARN_SKIP.test(r.warnFunc) ? normalizeSyscall(r.warnFunc) : undefined;
  return wf ?? firstMeaningful(t.frames, WARN_SKIP) ?? (r.warnFunc ? normalizeSyscall(r.warnFunc) : undefined);
}

function warningTitle(r: OpenReport, t: TitleContext): void {
  const inc = r.inc;
  inc.guiltyFrame = warnGuilty(r, t);
  if (r.warnFunc) {
    inc.facts['warnFunction'] = r.warnFunc;
    t.alt.add(r.warnFunc);
  }
  const refined = warningRefinement(String(inc.facts['sourceLocation'] ?? ''), r.warnFunc);
  if (refined) {
    const w = refined.warning!;
    inc.subkind = refined.subkind;
    if (w.skip) inc.guiltyFrame = firstMeaningful(t.frames, w.skip);
    inc.title = inc.guiltyFrame ? `${w.title} in ${inc.guiltyFrame}` : w.title;
    return;
  }
  if (inc.title === 'WARNING') inc.title = inc.guiltyFrame ? `WARNING in ${inc.guiltyFrame}` : 'WARNING';
}

const WARNING = { kind: 'warning', docRow: '`warning`', triggers: ['WARNING'], anywhere: ['WARNING: '], continues: warningContinues, title: warningTitle, needsTrace: true } as const;

export const LOCKDEP: ReportType = {
  ...WARNING,
  name: 'warning.lockdep',
  docRow: '`warning` (lockdep)',
  example: 'WARNING: possible circular locking dependency detected',
  triggers: ['WARNING', 'INFO: '],
  // Lock lists (also printed by hung tasks and might_sleep).
  body: ['irq event stamp', 'hardirqs', 'softirqs', 'INFO: lockdep'],
  messages: ['no locks held by', '\\d+ locks? held by', 'INFO: lockdep'],
  header(text, ctx) {
    const m = LOCKDEP_RE.exec(text);
    if (!m) return undefined;
    // syzkaller: `possible deadlock in F`, F the function acquiring the lock (LOCKDEP type).
    const inc = ctx.incident('possible deadlock');
    inc.subkind = m[1] === 'recursive locking' ? 'lockdep_recursive' : 'lockdep_circular';
    return { inc, state: { lockdep: { backtrace: false, expectAt: false } } };
  },
  continues(text, r) {
    // Lockdep's own lines (`INFO: lockdep is turned off.`) inside its report.
    return /^INFO: lockdep/.test(text) || warningContinues(text, r);
  },
  takeAll(r, text) {
    const ld = r.lockdep!;
    // The task's backtrace starts (also when a console lost the `stack backtrace:` line).
    if (!ld.backtrace && /^(?:CPU: \d+ (?:UID: \d+ )?PID: |\s*Call Trace:)/.test(text)) ld.backtrace = true;
    if (ld.backtrace) return false;
    // The dependency chains are many line shapes (lock names, `-> #1`, chain frames, the
    // unsafe-locking scenario): take all until the backtrace of the task.
    let m: RegExpExecArray | null;
    if (/^\s*stack backtrace:/.test(text)) ld.backtrace = true;
    else if ((m = LOCKDEP_TASK_RE.exec(text)) && ld.acquireFunc === undefined) {
      if (!r.inc.tasks.some((t) => t.role === 'current')) r.inc.tasks.push({ role: 'current', comm: m[1]!, pid: Number(m[2]) });
      ld.expectAt = true;
    } else if (ld.expectAt && (m = LOCKDEP_AT_RE.exec(text))) {
      ld.acquireFunc = cleanName(m[1]!);
      ld.expectAt = false;
      const lock = /\((.+?)\)\{/.exec(text);
      if (lock) r.inc.facts['lock'] = lock[1]!;
    }
    return true;
  },
  title(r, t) {
    const inc = r.inc;
    inc.guiltyFrame = r.lockdep!.acquireFunc ?? firstMeaningful(t.frames);
    inc.title = inc.guiltyFrame ? `possible deadlock in ${inc.guiltyFrame}` : 'possible deadlock';
    if (!r.lockdep!.backtrace) markPartial(inc, t.truncatedBy ?? 'no stack backtrace in the lockdep report');
  },
};

export const UBSAN: ReportType = {
  ...WARNING,
  name: 'warning.ubsan',
  docRow: '`warning` (UBSAN)',
  example: 'UBSAN: shift-out-of-bounds in net/ipv4/tcp_input.c:3795:3',
  triggers: ['UBSAN: '],
  anywhere: ['UBSAN: '],
  header(text, ctx) {
    const m = UBSAN_RE.exec(text);
    if (!m) return undefined;
    // `UBSAN: shift-out-of-bounds in net/x.c:12:3`: a source location, not a function; the title takes the stack's.
    const type = /^Undefined behaviou?r$/i.test(m[1]!) ? 'undefined-behaviour' : m[1]!;
    const inc = ctx.incident(`UBSAN: ${sanitizeTitle(type)}`);
    inc.subkind = 'ubsan';
    inc.facts['bugType'] = type;
    inc.facts['sourceLocation'] = m[2]!;
    return { inc };
  },
  extraLine(r, text) {
    if (r.inTrace || r.lines >= 4 || text.trim() === '' || /^=+\s*$/.test(text)) return false;
    // UBSAN's detail right after its header (`shift exponent 64 is too large for 64-bit type …`).
    const prev = r.inc.facts['detail'];
    r.inc.facts['detail'] = (prev === undefined ? text.trim() : `${prev} ${text.trim()}`).slice(0, 200);
    return true;
  },
  // UBSAN reports end with a rule of `=` signs.
  end: /^={20,}\s*$/,
  title(r, t) {
    // syzkaller: `UBSAN: T in F`, F the first frame that is not UBSAN's own (skips ubsan, overflow).
    const inc = r.inc;
    inc.guiltyFrame = firstMeaningful(t.frames, /ubsan|overflow/);
    inc.title = `UBSAN: ${sanitizeTitle(String(inc.facts['bugType']))}${inc.guiltyFrame ? ` in ${inc.guiltyFrame}` : ''}`;
  },
};

export const WARN_NEW: ReportType = {
  ...WARNING,
  name: 'warning.file_line_cpu',
  example: 'WARNING: net/core/dev.c:5213 at netif_rx_internal+0x2e/0x1b0, CPU#1: swapper/1/0',
  header(text, ctx) {
    const m = WARN_NEW_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('WARNING');
    inc.facts['sourceLocation'] = m[1]!;
    inc.cpu = Number(m[3]);
    inc.tasks.push({ role: 'current', comm: m[4]!, pid: Number(m[5]) });
    return { inc, state: { warnFunc: cleanName(m[2]!) } };
  },
};

export const WARN_CPU: ReportType = {
  ...WARNING,
  name: 'warning.cpu_pid',
  example: 'WARNING: CPU: 3 PID: 1234 at fs/dcache.c:338 dentry_free+0x9a/0xb0',
  header(text, ctx) {
    const m = WARN_CPU_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('WARNING');
    inc.cpu = Number(m[1]);
    inc.facts['sourceLocation'] = m[3]!;
    return { inc, state: { warnFunc: cleanName(m[4]!) } };
  },
};

export const WARN_OLD: ReportType = {
  ...WARNING,
  name: 'warning.at',
  example: 'WARNING: at lib/list_debug.c:59 __list_del_entry+0xa1/0xd0()',
  header(text, ctx) {
    const m = WARN_OLD_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('WARNING');
    inc.facts['sourceLocation'] = m[1]!;
    return { inc, state: { warnFunc: cleanName(m[2]!) } };
  },
};

export const WARN_ANY: ReportType = {
  ...WARNING,
  name: 'warning.other',
  example: 'WARNING: kernel stack regs has bad value',
  header(text, ctx) {
    const m = WARN_ANY_RE.exec(text);
    if (!m || /^WARNING: (?:\/etc|CPU: \d+ PID)/.test(text)) return undefined;
    return { inc: ctx.incident(`WARNING: ${sanitizeTitle(m[1]!)}`) };
  },
};
