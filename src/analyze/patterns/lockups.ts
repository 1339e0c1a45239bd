/** Tasks and CPUs that stopped making progress: hung tasks, soft and hard lockups, RCU stalls. */
import { firstMeaningful, hangGuilty, lockupGuilty, stallGuilty } from '../frames.js';
import { isTaskLine, markPartial, taskLine } from './text.js';
import type { ReportType } from './types.js';

const HUNG_RE = /INFO: task (.+):(\d+) (blocked|can't die) (in I\/O wait )?for more than (\d+) seconds/;
const BLOCKER_RE = /^INFO: task .+:\d+ is blocked on an? ([\w-]+) likely owned by task (.+):(\d+)/;
const TAINTED_RE = /^\s*(?:Not tainted|Tainted: ([A-Z ]+?))\s+\d+\.\d+/;
const SOFT_RE = /BUG: soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.+):(\d+)\]/;
export const HARD_RE = /Watchdog detected hard LOCKUP on cpu (\d+)/;
const RCU_RE = /INFO: (rcu_\w+|rcu) (self-)?detected (expedited )?stalls?/;
const RCU_T_RE = /t=(\d+) jiffies/;
const RCU_DETECTED_BY_RE = /detected by (\d+)/;
const RCU_SELF_CPU_RE = /^\s*(\d+)-\.\.\.|^\s*(\d+)-\S+: \(\d+ ticks/;

export const HUNG_TASK: ReportType = {
  name: 'hung_task',
  kind: 'hung_task',
  docRow: '`hung_task`',
  example: 'INFO: task jbd2/sda1-8:412 blocked for more than 120 seconds.',
  triggers: ['INFO: '],
  anywhere: ['INFO: task '],
  needsTrace: true,
  // 6.x names the likely owner of the lock the task waits for.
  body: ['INFO: task .+ is blocked on '],
  header(text, ctx) {
    const m = HUNG_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('INFO: task hung');
    if (m[3] === "can't die") inc.subkind = 'cant_die';
    else if (m[4]) inc.subkind = 'io_wait';
    inc.tasks.push({ role: 'blocked', comm: m[1]!, pid: Number(m[2]) });
    inc.facts['blockedSeconds'] = Number(m[5]);
    return { inc };
  },
  isBody: (_r, text) => isTaskLine(text),
  detail(r, text) {
    const inc = r.inc;
    let m: RegExpExecArray | null;
    if ((m = TAINTED_RE.exec(text))) {
      if (m[1]) inc.facts['tainted'] = m[1];
      return true;
    }
    const task = taskLine(text);
    if (task) {
      const t = inc.tasks.find((x) => x.role === 'blocked');
      if (t && (t.pid === task.pid || t.comm.startsWith(task.comm) || task.comm.startsWith(t.comm.slice(0, 15)))) {
        t.state = task.state;
        t.ppid = task.ppid;
      }
      return true;
    }
    if ((m = BLOCKER_RE.exec(text))) {
      inc.facts['blockedOn'] = m[1]!;
      inc.facts['blockerTask'] = `${m[2]}:${m[3]}`;
      return true;
    }
    return false;
  },
  title(r, t) {
    const inc = r.inc;
    inc.guiltyFrame = hangGuilty(t.frames);
    inc.title = inc.guiltyFrame ? `INFO: task hung in ${inc.guiltyFrame}` : 'INFO: task hung';
    if (inc.subkind === 'cant_die') inc.title = inc.title.replace('task hung', "task can't die");
    // A cut report with a RIP but no frames is still missing its stack.
    if (t.truncatedBy && t.frames.length === 0 && inc.rip) markPartial(inc, t.truncatedBy);
  },
};

export const SOFT_LOCKUP: ReportType = {
  name: 'soft_lockup',
  kind: 'soft_lockup',
  docRow: '`soft_lockup`',
  example: 'watchdog: BUG: soft lockup - CPU#2 stuck for 23s! [kworker/2:1:95]',
  triggers: ['BUG'],
  anywhere: ['watchdog: BUG: soft lockup'],
  needsTrace: true,
  header(text, ctx) {
    const m = SOFT_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('BUG: soft lockup');
    inc.cpu = Number(m[1]);
    inc.facts['stuckSeconds'] = Number(m[2]);
    inc.tasks.push({ role: 'stuck', comm: m[3]!, pid: Number(m[4]) });
    return { inc };
  },
  title(r, t) {
    // syzkaller's lockup rule, which reads the RIP frame first (see lockupGuilty).
    r.inc.guiltyFrame = lockupGuilty(r.inc.rip, t.frames) ?? t.ripFunc ?? t.first;
    r.inc.title = r.inc.guiltyFrame ? `BUG: soft lockup in ${r.inc.guiltyFrame}` : 'BUG: soft lockup';
  },
};

export const HARD_LOCKUP: ReportType = {
  name: 'hard_lockup',
  kind: 'hard_lockup',
  docRow: '`hard_lockup`',
  example: 'Watchdog detected hard LOCKUP on cpu 5',
  triggers: ['LOCKUP'],
  anywhere: ['Watchdog detected hard LOCKUP'],
  needsTrace: true,
  header(text, ctx) {
    const m = HARD_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('hard LOCKUP');
    inc.cpu = Number(m[1]);
    return { inc };
  },
  title(r, t) {
    // After an NMI stack (3.x: the watchdog's own frames come first) the interrupted code is what spun.
    const inc = r.inc;
    const after = r.sawNmiEnd && r.afterEoe.length ? firstMeaningful(r.afterEoe) : undefined;
    inc.guiltyFrame = after ?? t.ripFunc ?? t.first;
    inc.title = inc.guiltyFrame ? `hard LOCKUP in ${inc.guiltyFrame}` : 'hard LOCKUP';
    if (r.afterEoe.length)
      inc.facts['framesAfterNmi'] = r.afterEoe
        .filter((f) => f.reliable)
        .map((f) => f.func)
        .join(' ');
  },
};

export const RCU_STALL: ReportType = {
  name: 'rcu_stall',
  kind: 'rcu_stall',
  docRow: '`rcu_stall`',
  example: 'INFO: rcu_sched self-detected stall on CPU',
  triggers: ['INFO: '],
  anywhere: ['INFO: rcu'],
  needsTrace: true,
  body: ['rcu: ', '\\(detected by', 'All QSes', 'rcu_\\w+ kthread', 'Tasks blocked', '\\(t=', '\\d+-\\.\\.\\.'],
  header(text, ctx) {
    const m = RCU_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident('INFO: rcu detected stall');
    inc.subkind = m[2] ? 'self_detected' : 'detected_stalls_on_cpus_tasks';
    inc.facts['flavor'] = m[1]!;
    if (m[3]) inc.facts['expedited'] = true;
    return { inc };
  },
  isBody: (_r, text) => isTaskLine(text),
  detail(r, text) {
    const inc = r.inc;
    const task = taskLine(text);
    if (task) {
      inc.tasks.push({ role: 'current', comm: task.comm, pid: task.pid, ppid: task.ppid, state: task.state });
      return true;
    }
    let m: RegExpExecArray | null;
    if ((m = RCU_T_RE.exec(text)) && inc.facts['stallJiffies'] === undefined) inc.facts['stallJiffies'] = Number(m[1]);
    if ((m = RCU_DETECTED_BY_RE.exec(text)) && inc.facts['detectedByCpu'] === undefined) inc.facts['detectedByCpu'] = Number(m[1]);
    if ((m = RCU_SELF_CPU_RE.exec(text)) && inc.cpu === undefined) inc.cpu = Number(m[1] ?? m[2]);
    return false;
  },
  title(r, t) {
    r.inc.guiltyFrame = stallGuilty(t.frames) ?? t.ripFunc ?? t.first;
    r.inc.title = r.inc.guiltyFrame ? `INFO: rcu detected stall in ${r.inc.guiltyFrame}` : 'INFO: rcu detected stall';
  },
};
