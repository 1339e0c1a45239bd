/** `Kernel panic - not syncing: R`: the reason, what it followed, and the task table of a panic_on_oom. */
import { stallGuilty } from '../frames.js';
import { sanitizeTitle } from './text.js';
import { trapContinues } from './oops.js';
import type { ReportType } from './types.js';

const PANIC_RE = /Kernel panic - not syncing: ?(.*?)\s*$/;

export const PANIC: ReportType = {
  name: 'panic',
  kind: 'panic',
  docRow: '`panic`',
  example: 'Kernel panic - not syncing: Fatal exception',
  triggers: ['Kernel panic'],
  anywhere: ['Kernel panic - not syncing'],
  // `Kernel panic - not syncing: Fatal exception` right after an oops is that oops' consequence.
  follows: 20,
  continues: trapContinues,
  header(text, ctx) {
    const m = PANIC_RE.exec(text);
    if (!m) return undefined;
    const panicReason = m[1]!;
    const inc = ctx.incident('kernel panic');
    inc.facts['reason'] = panicReason;
    if (/Machine check|machine check/.test(panicReason)) inc.subkind = 'machine_check';
    else if (/^Out of memory/.test(panicReason)) {
      inc.subkind = 'panic_on_oom';
      // The task table printed just before the panic: from the OOM report it ended, or rows
      // seen with no report open (the log starts mid table).
      const r = ctx.open;
      const prev = r?.inc.kind === 'oom_kill' ? r.inc.oom : undefined;
      const rows = prev?.taskTableRows ?? ctx.orphanTable?.rows;
      const largest = prev?.largestRssTask ?? ctx.orphanTable?.largest;
      if (rows !== undefined) inc.oom = { taskTableRows: rows, ...(largest ? { largestRssTask: largest } : {}) };
    } else if (/^hung_task/.test(panicReason)) inc.subkind = 'hung_task_panic';
    else if (/^softlockup/.test(panicReason)) inc.subkind = 'softlockup_panic';
    else if (/^Fatal exception/.test(panicReason)) inc.subkind = 'fatal_exception';
    else if (/^sysrq triggered crash/.test(panicReason)) inc.subkind = 'sysrq';
    return { inc, state: { panicReason } };
  },
  title(r, t) {
    const inc = r.inc;
    const reason = r.panicReason ?? '';
    inc.guiltyFrame = stallGuilty(t.frames) ?? t.first;
    if (/^corrupted stack end/.test(reason)) inc.title = `kernel panic: corrupted stack end${inc.guiltyFrame ? ` in ${inc.guiltyFrame}` : ''}`;
    else inc.title = `kernel panic: ${sanitizeTitle(reason.replace(/ exitcode=0x[0-9a-f]+/, '').replace(/ - (?:switching to|see) .*$/, '')) || 'unknown reason'}`;
  },
};
