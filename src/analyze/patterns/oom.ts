/**
 * OOM kills: `comm invoked oom-killer: …`, the memory state and task table, the victim line
 * (also alone, when the header was lost).
 */
import type { OomDetails } from '../model.js';
import { markPartial } from './text.js';
import type { OpenReport, ReportType, TitleContext } from './types.js';

const OOM_HEADER_RE = /^(.+?) invoked oom-killer: gfp_mask=(0x[0-9a-f]+(?:\([^)]*\))?),? (?:nodemask=\S+?,? )?order=(-?\d+),? (?:oom_adj=-?\d+,? )?oom_score_adj=(-?\d+)/;
const OOM_CONSTRAINT_RE = /^oom-kill:constraint=(\w+),nodemask=[^,]*,cpuset=[^,]*,mems_allowed=[^,]*,(?:(global_oom)|oom_memcg=([^,]*)),task_memcg=([^,]*),task=(.+?),pid=(\d+),uid=(\d+)/;
const OOM_KILLED_RE =
  /(?:^|: )Killed process (\d+),? (?:UID (\d+), )?\((.+?)\),? total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(?:, UID:(\d+))?(?: pgtables:(\d+)kB)?(?: oom_score_adj:(-?\d+))?/;
const OOM_KILL_OLD_RE = /^(Out of memory|Memory cgroup out of memory): Kill process (\d+) \((.+?)\) score (\d+) or sacrifice child/;
const OOM_MEMCG_TASK_RE = /^Task in (\S+) killed as a result of limit of (\S+)/;
/** A row of the OOM task table: `[  pid]   uid  tgid total_vm      rss … name` (the columns between vary by era). */
export const OOM_TABLE_ROW_RE = /^\[\s*(\d+)\]\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s.*\s(\S+)\s*$/;

function isVictimLine(text: string): boolean {
  return OOM_CONSTRAINT_RE.test(text) || OOM_KILLED_RE.test(text) || OOM_KILL_OLD_RE.test(text) || OOM_MEMCG_TASK_RE.test(text);
}

/** Reads a line of an OOM report: constraint, victim, memory state, task table. */
function oomLine(r: OpenReport, text: string): void {
  const oom = (r.inc.oom ??= {});
  let m: RegExpExecArray | null;
  if ((m = OOM_CONSTRAINT_RE.exec(text))) {
    oom.constraint = m[1]!;
    if (m[3]) oom.cgroup = m[3];
    r.inc.facts['globalOom'] = Boolean(m[2]);
    r.inc.facts['taskMemcg'] = m[4]!;
    oom.victim ??= { pid: Number(m[6]), comm: m[5]!, uid: Number(m[7]) };
    return;
  }
  if ((m = OOM_KILL_OLD_RE.exec(text))) {
    if (m[1]!.startsWith('Memory cgroup')) oom.constraint ??= 'CONSTRAINT_MEMCG';
    oom.victim = { ...(oom.victim ?? {}), pid: Number(m[2]), comm: m[3]!, score: Number(m[4]) };
    return;
  }
  if ((m = OOM_MEMCG_TASK_RE.exec(text))) {
    oom.constraint ??= 'CONSTRAINT_MEMCG';
    oom.cgroup = m[2]!;
    return;
  }
  if ((m = OOM_KILLED_RE.exec(text))) {
    const v = { ...(oom.victim ?? {}), pid: Number(m[1]), comm: m[3]! } as NonNullable<OomDetails['victim']>;
    const uid = m[2] ?? m[8];
    if (uid !== undefined) v.uid = Number(uid);
    v.totalVmKb = Number(m[4]);
    v.anonRssKb = Number(m[5]);
    v.fileRssKb = Number(m[6]);
    if (m[7] !== undefined) v.shmemRssKb = Number(m[7]);
    if (m[10] !== undefined) v.oomScoreAdj = Number(m[10]);
    oom.victim = v;
    if (/Memory cgroup out of memory/.test(text)) oom.constraint ??= 'CONSTRAINT_MEMCG';
    r.complete = true;
    return;
  }
  if ((m = /Free swap\s*=\s*(\d+)kB/.exec(text))) (oom.memory ??= {}).freeSwapKb = Number(m[1]);
  else if ((m = /Total swap\s*=\s*(\d+)kB/.exec(text))) (oom.memory ??= {}).totalSwapKb = Number(m[1]);
  else if ((m = /^(\d+) pages RAM/.exec(text))) (oom.memory ??= {}).ramPages = Number(m[1]);
  else if ((m = /^\s*active_anon:\d+.* free:(\d+)/.exec(text)) || (m = /^\s*free:(\d+) free_pcp/.exec(text))) (oom.memory ??= {}).freePages = Number(m[1]);
  else if ((m = OOM_TABLE_ROW_RE.exec(text))) {
    oom.taskTableRows = (oom.taskTableRows ?? 0) + 1;
    const rss = Number(m[5]);
    if (!oom.largestRssTask || rss > oom.largestRssTask.rssPages) oom.largestRssTask = { pid: Number(m[1]), comm: m[6]!, rssPages: rss };
  }
}

const OOM = {
  kind: 'oom_kill',
  docRow: '`oom_kill`',
  body: [
    'Mem-Info',
    'Node \\d',
    'active_anon',
    'Free swap',
    'Total swap',
    '\\d+ pages',
    '\\d+ total pagecache',
    'Tasks state',
    '\\[\\s*pid\\s*\\]',
    '\\[\\s*\\d+\\]',
    'lowmem_reserve',
    'Swap cache',
    'Unreclaimable',
    'oom-kill:',
    'oom_reaper',
    'Memory cgroup',
  ],
  continues: (text: string, r: OpenReport) => !r.complete && isVictimLine(text),
  // An OOM report is many line shapes (Mem-Info, zones, task table): take all until the victim.
  takeAll(r: OpenReport, text: string, read: () => void) {
    read();
    oomLine(r, text);
    return true;
  },
  title(r: OpenReport, t: TitleContext) {
    const inc = r.inc;
    const oom = inc.oom ?? {};
    if (oom.victim) {
      inc.tasks.push({ role: 'victim', comm: oom.victim.comm, pid: oom.victim.pid });
      const memcg = oom.constraint === 'CONSTRAINT_MEMCG' ? ' (memcg)' : '';
      inc.title = `OOM kill${memcg}: ${oom.victim.comm}`;
    } else {
      inc.title = 'OOM: oom-killer invoked, no victim logged';
      markPartial(inc, t.truncatedBy ?? 'no "Killed process" line');
    }
    // The allocation path of an OOM report explains nothing: no guilty frame.
  },
} as const;

export const OOM_KILL: ReportType = {
  ...OOM,
  name: 'oom_kill',
  example: 'postgres invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0',
  triggers: ['invoked oom-killer'],
  header(text, ctx) {
    const m = OOM_HEADER_RE.exec(text);
    if (!m) return undefined;
    const oom: OomDetails = { invoker: { comm: m[1]!.trim() }, gfpMask: m[2]!, order: Number(m[3]) };
    const r = ctx.open;
    if (r && r.inc.kind !== 'oom_kill' && r.inTrace && (r.inc.kind === 'panic' || r.inc.kind === 'oops' || r.inc.kind === 'warning')) {
      // An OOM header printed by another CPU in the middle of a crash report (interleaved
      // output): record it on its own, keep the crash report open.
      const frag = ctx.incident('OOM: oom-killer invoked, no victim logged');
      frag.oom = oom;
      frag.tasks.push({ role: 'invoker', comm: oom.invoker!.comm });
      frag.facts['oomScoreAdj'] = Number(m[4]);
      markPartial(frag, 'oom-killer header interleaved inside another report; no victim line follows it');
      return { inc: frag, interleaved: true };
    }
    const inc = ctx.incident('OOM');
    inc.oom = oom;
    inc.facts['oomScoreAdj'] = Number(m[4]);
    inc.tasks.push({ role: 'invoker', comm: oom.invoker!.comm });
    return { inc };
  },
};

export const OOM_VICTIM: ReportType = {
  ...OOM,
  name: 'oom_kill.victim_only',
  example: 'Out of memory: Killed process 4242 (java) total-vm:8388608kB, anon-rss:6291456kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:12345kB oom_score_adj:0',
  triggers: ['oom-kill:', 'Out of memory', 'Kill(?:ed)? process'],
  header(text, ctx) {
    if (!(OOM_CONSTRAINT_RE.test(text) || OOM_KILL_OLD_RE.test(text) || OOM_KILLED_RE.test(text))) return undefined;
    // Victim lines without the oom-killer header (truncated log): still an OOM kill.
    const inc = ctx.incident('OOM');
    inc.oom = {};
    markPartial(inc, 'no "invoked oom-killer" header before the victim');
    return { inc, afterOpen: (r) => oomLine(r, text) };
  },
};
