/** SysRq-T / SysRq-W dumps: every task's state and stack, grouped by where D-state tasks wait. */
import { isTaskLine, taskLine } from './text.js';
import type { OpenReport, ReportType, SysrqTask } from './types.js';

const SYSRQ_RE = /(?:^|: )(?:SysRq ?: )?Show (Blocked )?State\s*$/;

function startTask(r: OpenReport, task: SysrqTask): void {
  endTask(r);
  const s = r.inc.sysrq!;
  s.tasks++;
  s.byState[task.state] = (s.byState[task.state] ?? 0) + 1;
  r.sysrq!.curTask = task;
}

function endTask(r: OpenReport): void {
  const cur = r.sysrq?.curTask;
  if (!cur) return;
  r.sysrq!.curTask = undefined;
  const s = r.inc.sysrq!;
  if (s.kept.length < r.sysrq!.maxTasks) s.kept.push(cur);
  if (cur.state === 'D') {
    const top = cur.frames.filter((f) => !/^(?:__)?schedule|^io_schedule|^__switch_to|^context_switch|^preempt_schedule/.test(f)).slice(0, 3);
    const key = top.join(' <- ');
    const groups = r.sysrq!.groups;
    let g = groups.get(key);
    if (!g && groups.size < 1000) {
      g = { count: 0, frames: top, examples: [] };
      groups.set(key, g);
    }
    if (g) {
      g.count++;
      if (g.examples.length < 5) g.examples.push(`${cur.comm}:${cur.pid ?? '?'}`);
    }
  }
}

export const SYSRQ: ReportType = {
  name: 'sysrq_show_state',
  kind: 'sysrq_show_state',
  docRow: '`sysrq_show_state`',
  example: 'sysrq: Show Blocked State',
  triggers: ['Show State', 'Show Blocked State'],
  body: ['Showing', 'workqueue ', 'pool \\d', 'Sched Debug', 'cpu#\\d', 'runnable tasks', 'cfs_rq', 'rt_rq', 'dl_rq'],
  // A SysRq-T dump of a big machine is legitimately huge (tens of thousands of tasks), from every printk context.
  dump: { maxLinesFactor: 50, nonBodyLimit: 12 },
  noAltFrames: true,
  header(text, ctx) {
    const m = SYSRQ_RE.exec(text);
    if (!m) return undefined;
    const inc = ctx.incident(m[1] ? 'SysRq-W: show blocked state' : 'SysRq-T: show state');
    inc.sysrq = { blockedOnly: Boolean(m[1]), tasks: 0, byState: {}, kept: [], blockedGroups: [] };
    return { inc, state: { sysrq: { groups: new Map(), maxTasks: ctx.maxSysrqTasks } } };
  },
  // Every task's stack has the words of other headers in it; only these end a dump.
  continues: (text) => !/Kernel panic|BUG:|INFO: |WARNING:|Linux version|invoked oom-killer/.test(text),
  isBody: (_r, text) => isTaskLine(text),
  detail(r, text) {
    const task = taskLine(text);
    if (!task) return false;
    startTask(r, { comm: task.comm, pid: task.pid, ppid: task.ppid, state: task.state, frames: [] });
    return true;
  },
  onFrame(r, frame) {
    const cur = r.sysrq!.curTask;
    if (cur && cur.frames.length < 24 && frame.reliable) cur.frames.push(frame.func);
  },
  title(r) {
    // Frames of a dump belong to its many tasks (kept per task), not to the incident.
    const inc = r.inc;
    inc.frames = [];
    delete inc.facts['module'];
    endTask(r);
    const groups = [...r.sysrq!.groups.values()].sort((a, b) => b.count - a.count);
    inc.sysrq!.blockedGroups = groups.slice(0, 20);
    inc.facts['dStateTasks'] = groups.reduce((n, g) => n + g.count, 0);
  },
};
