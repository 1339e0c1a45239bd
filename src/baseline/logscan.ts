/**
 * A small, pure scan of kernel log text for the lines that announce trouble, so `lantern report`
 * can list them until `lantern analyze` can be plugged in as the report's incidents section.
 */

export type TroubleKind = 'panic' | 'oops' | 'bug' | 'hung_task' | 'soft_lockup' | 'hard_lockup' | 'rcu_stall' | 'oom_kill' | 'mce' | 'warning';

/** First pattern that matches a line wins; each is anchored on kernel wording, not on the prefix. */
export const TROUBLE_PATTERNS: [TroubleKind, RegExp][] = [
  ['panic', /Kernel panic - not syncing/],
  ['soft_lockup', /BUG: soft lockup/],
  ['hard_lockup', /hard LOCKUP|NMI watchdog: Watchdog detected hard LOCKUP/i],
  ['oops', /\bOops\b|general protection fault|unable to handle (kernel )?(NULL pointer dereference|paging request|page fault)/i],
  ['bug', /\bBUG: |kernel BUG at/],
  ['hung_task', /INFO: task \S+ blocked for more than \d+ seconds/],
  ['rcu_stall', /rcu_?\w*( detected)? stall|self-detected stall on CPU/i],
  ['oom_kill', /invoked oom-killer|Out of memory: Kill|Killed process \d+|oom-kill:/],
  ['mce', /Machine Check Exception|\[Hardware Error\]|mce: \[/i],
  ['warning', /WARNING: CPU: \d+ PID: \d+|------------\[ cut here \]------------/],
];

export interface TroubleLine {
  kind: TroubleKind;
  line: number;
  text: string;
}

export interface LogScan {
  file: string;
  lines: number;
  hits: TroubleLine[];
  counts: Partial<Record<TroubleKind, number>>;
  /** Hits beyond the cap are counted, not listed. */
  truncated: number;
}

export function scanLogText(text: string, file: string, maxHits = 50): LogScan {
  const lines = text.split('\n');
  const hits: TroubleLine[] = [];
  const counts: Partial<Record<TroubleKind, number>> = {};
  let truncated = 0;
  lines.forEach((raw, i) => {
    // A cut-here line precedes every WARNING: keep only the WARNING itself.
    if (/------------\[ cut here \]------------/.test(raw)) return;
    for (const [kind, re] of TROUBLE_PATTERNS) {
      if (!re.test(raw)) continue;
      counts[kind] = (counts[kind] ?? 0) + 1;
      if (hits.length < maxHits) hits.push({ kind, line: i + 1, text: raw.length > 300 ? raw.slice(0, 299) + '…' : raw });
      else truncated++;
      break;
    }
  });
  return { file, lines: text.endsWith('\n') ? lines.length - 1 : lines.length, hits, counts, truncated };
}
