/**
 * Trigger rules (`[[rule]]` in record.toml): the parser and the matcher. Pure: no I/O.
 *
 *   on = "hung_task" | "oom_kill" | "signal NAME[,NAME…] [program=/abs/path]" | "slow_slab > 500ms"
 *      | "slow_stat > 500ms" | "slow_io > 2s"
 *   do = ["sysrq LETTERS", "snapshot", "log"]
 *   min_interval = "1m"   (per rule: a match within this of the rule's last action does nothing)
 *
 * Actions are a fixed set; nothing of an event (program, comm, detail) ever reaches an action.
 */
import { HUNG_SYSRQ_LETTERS, parseInterval } from '../hung/core.js';
import { signalName } from '../process/signals.js';
import { durationIn } from '../../common/duration.js';
import { detailDurationNs } from '../latency/core.js';

export type Trigger =
  { kind: 'hung_task' } | { kind: 'oom_kill' } | { kind: 'signal'; signals: number[]; program: string | null } | { kind: 'slow_slab' | 'slow_stat' | 'slow_io'; op: '>' | '>='; thresholdNs: number };

export type Action = { kind: 'sysrq'; letters: string[] } | { kind: 'snapshot' } | { kind: 'log' };

export interface Rule {
  /** 1-based position among the file's rules. */
  index: number;
  /** `file:line` of the rule's `[[rule]]` header (or the file alone when it cannot be located). */
  where: string;
  on: string;
  trigger: Trigger;
  actions: Action[];
  minIntervalMs: number;
}

export const DEFAULT_RULE_INTERVAL_MS = 60_000;
const RULE_KEYS = ['on', 'do', 'min_interval'];

/** Detectors named in issue #10 that this recorder does not have: a rule on them could never fire, so it is refused. */
export class RuleError extends Error {}

/** Line numbers (1-based) of the `[[rule]]` headers, in order. */
export function ruleHeaderLines(text: string): number[] {
  const out: number[] = [];
  text.split('\n').forEach((l, i) => {
    if (/^\s*\[\[\s*rule\s*\]\]/.test(l)) out.push(i + 1);
  });
  return out;
}

/** The line of `key = …` inside the rule whose header is on (1-based) line `header`, up to the next table header; else the header's. */
function keyLine(lines: string[], header: number, key: string): number {
  for (let i = header; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^\s*\[/.test(l)) break;
    if (new RegExp(`^\\s*${key}\\s*=`).test(l)) return i + 1;
  }
  return header;
}

const SIGNAL_NUMBERS: Record<string, number> = {};
for (let n = 1; n <= 31; n++) SIGNAL_NUMBERS[signalName(n)] = n;

/** `SIGSEGV`, `SEGV`, `segv` or `11` → 11; null when none of these. */
export function parseSignal(s: string): number | null {
  if (/^\d{1,2}$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 64 ? n : null;
  }
  const up = s.toUpperCase();
  return SIGNAL_NUMBERS[up.startsWith('SIG') ? up : `SIG${up}`] ?? null;
}

/** The trigger of `on`, or what was expected (a string). */
export function parseTrigger(on: string): Trigger | string {
  const words = on.trim().split(/\s+/);
  const head = /^[A-Za-z_]*/.exec(on.trim())![0] || (words[0] ?? '');
  switch (head) {
    case 'hung_task':
    case 'oom_kill':
      if (words.length > 1) return `${head} takes nothing after it (got ${JSON.stringify(words.slice(1).join(' '))})`;
      return { kind: head };
    case 'signal': {
      if (words.length < 2) return 'signal NAME[,NAME…] [program=/absolute/path], e.g. "signal SIGSEGV program=/usr/bin/java"';
      const signals: number[] = [];
      for (const s of words[1]!.split(',').filter(Boolean)) {
        const n = parseSignal(s);
        if (n === null) return `a signal name like SIGSEGV or a number from 1 to 64 (got ${JSON.stringify(s)})`;
        if (!signals.includes(n)) signals.push(n);
      }
      let program: string | null = null;
      for (const w of words.slice(2)) {
        const m = /^program=(.+)$/.exec(w);
        if (!m) return `program=/absolute/path after the signal (got ${JSON.stringify(w)})`;
        if (program !== null) return 'one program= filter';
        if (!m[1]!.startsWith('/')) return `program= an absolute path, as the recorder names programs (got ${JSON.stringify(m[1])})`;
        program = m[1]!;
      }
      return { kind: 'signal', signals, program };
    }
    case 'slow_slab':
    case 'slow_stat':
    case 'slow_io': {
      // The duration in the common grammar (common/duration.ts), a unit required.
      const m = new RegExp(`^${head}\\s*(>=|>)\\s*(\\S.*)$`).exec(on.trim());
      const ns = m ? durationIn(m[2], null, 'ns') : null;
      if (!m || ns === null) return `${head} > DURATION with a unit, e.g. "${head} > 500ms" (units ns, us, ms, s, m, h)`;
      return { kind: head, op: m[1] as '>' | '>=', thresholdNs: ns };
    }
    default:
      return `a trigger: hung_task, oom_kill, "signal NAME [program=PATH]", "slow_slab > DURATION", "slow_stat > DURATION" or "slow_io > DURATION" (got ${JSON.stringify(head)})`;
  }
}

/** One action of `do`, or what was expected. */
export function parseAction(a: unknown): Action | string {
  if (typeof a !== 'string') return `an action string (got ${JSON.stringify(a)})`;
  const words = a.trim().split(/\s+/);
  if (words[0] === 'snapshot' || words[0] === 'log') {
    if (words.length > 1) return `${words[0]} takes nothing after it (got ${JSON.stringify(a)})`;
    return { kind: words[0] };
  }
  if (words[0] === 'sysrq') {
    if (words.length !== 2) return `sysrq LETTERS, e.g. "sysrq t,w" (got ${JSON.stringify(a)})`;
    const letters: string[] = [];
    for (const l of words[1]!.split(',').filter(Boolean)) {
      if (!HUNG_SYSRQ_LETTERS.includes(l)) return `SysRq dump letters only: ${HUNG_SYSRQ_LETTERS.join(', ')} (got ${JSON.stringify(l)})`;
      if (!letters.includes(l)) letters.push(l);
    }
    return { kind: 'sysrq', letters };
  }
  return `an action: "sysrq LETTERS", "snapshot" or "log" (got ${JSON.stringify(a)})`;
}

/**
 * The rules of a parsed config (`doc.rule`), checked against its text for line numbers.
 * Throws RuleError naming `file:line`, the rule and what was expected.
 */
export function parseRules(value: unknown, text: string, file: string): Rule[] {
  if (value === undefined) return [];
  const headers = ruleHeaderLines(text);
  const lines = text.split('\n');
  const fail = (line: number | null, msg: string): never => {
    throw new RuleError(`${line === null ? file : `${file}:${line}`}: ${msg}`);
  };
  if (!Array.isArray(value)) fail(null, 'rule must be [[rule]] tables');
  const list = value as unknown[];
  // The N-th [[rule]] header is the N-th rule (an inline `rule = [...]` has no headers: file only).
  const located = headers.length === list.length;
  const rules: Rule[] = [];
  list.forEach((r, i) => {
    const header = located ? headers[i]! : null;
    const at = (key: string) => (header === null ? null : keyLine(lines, header, key));
    const name = `rule ${i + 1}`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return fail(header, `${name} must be a table`);
    const t = r as Record<string, unknown>;
    for (const k of Object.keys(t)) if (!RULE_KEYS.includes(k)) fail(at(k), `${name}: unknown key ${k} (expected ${RULE_KEYS.join(', ')})`);
    if (typeof t.on !== 'string')
      return fail(header, `${name}: on = "TRIGGER" is required (hung_task, oom_kill, "signal NAME [program=PATH]", "slow_slab > DURATION", "slow_stat > DURATION", "slow_io > DURATION")`);
    const trigger = parseTrigger(t.on);
    if (typeof trigger === 'string') return fail(at('on'), `${name}: on = ${JSON.stringify(t.on)}: ${trigger.startsWith('cannot fire') ? trigger : `expected ${trigger}`}`);
    if (!Array.isArray(t.do) || t.do.length === 0) return fail(at('do'), `${name}: do = ["ACTION", …] is required (actions: "sysrq LETTERS", "snapshot", "log")`);
    const actions: Action[] = [];
    for (const a of t.do) {
      const act = parseAction(a);
      if (typeof act === 'string') return fail(at('do'), `${name}: do: expected ${act}`);
      if (actions.some((x) => x.kind === act.kind)) return fail(at('do'), `${name}: do: ${act.kind} given twice`);
      actions.push(act);
    }
    let minIntervalMs = DEFAULT_RULE_INTERVAL_MS;
    if (t.min_interval !== undefined) {
      const ms = parseInterval(t.min_interval);
      if (ms === null) return fail(at('min_interval'), `${name}: min_interval: expected a duration like "1m", "30s", "500ms" or a number of seconds (got ${JSON.stringify(t.min_interval)})`);
      minIntervalMs = ms;
    }
    rules.push({ index: i + 1, where: header === null ? file : `${file}:${header}`, on: t.on.trim().replace(/\s+/g, ' '), trigger, actions, minIntervalMs });
  });
  return rules;
}

/** What of a record a trigger looks at. */
export interface MatchInput {
  type: string;
  signal: number | null;
  program: string | null;
  detail: string | null;
}

/** The duration of a slab record (its detail says `… 612.345 ms …`), ns; null when it has none. */
export function slabDurationNs(detail: string | null): number | null {
  const m = detail ? /(\d+\.\d{3}) ms\b/.exec(detail) : null;
  return m ? Math.round(Number(m[1]) * 1e6) : null;
}

export function matches(t: Trigger, r: MatchInput): boolean {
  switch (t.kind) {
    case 'hung_task':
      return r.type === 'hung';
    case 'oom_kill':
      return r.type === 'signal' && r.detail === 'oom-killer';
    case 'signal':
      return r.type === 'signal' && r.signal !== null && t.signals.includes(r.signal) && (t.program === null || r.program === t.program);
    case 'slow_slab':
    case 'slow_stat':
    case 'slow_io': {
      if (r.type !== (t.kind === 'slow_slab' ? 'slab' : t.kind)) return false;
      const ns = t.kind === 'slow_slab' ? slabDurationNs(r.detail) : detailDurationNs(r.detail);
      return ns !== null && (t.op === '>' ? ns > t.thresholdNs : ns >= t.thresholdNs);
    }
  }
}

/** `sysrq w,t`, `snapshot`, `log`: the actions as written. */
export function actionText(a: Action): string {
  return a.kind === 'sysrq' ? `sysrq ${a.letters.join(',')}` : a.kind;
}
