/** Queries over a record store for `lantern history` and `lantern events`. Pure given a Store. */
import type Database from 'better-sqlite3';
import { CliError, EXIT } from '../common/exit.js';
import type { Store, StoredEvent } from './store/store.js';
import type { RecordType } from './process/model.js';
import { renderHistory } from './render.js';
import { dmesgLine } from './hung/core.js';

/**
 * The kernel-log records captured with a hung-task incident, in dmesg's text format
 * (`[ sec.usec] text`), which `lantern analyze` reads like any other kernel log. Empty when
 * the record has no capture (a suppressed report, or a store older than schema version 2).
 */
export function hungKmsgLines(store: Store, e: StoredEvent): string[] {
  if (e.type !== 'hung') return [];
  const ev = store.hungEvidence(e.id);
  return ev ? ev.kmsg.map((k) => dmesgLine({ tsUs: k.ts_us, text: k.text })) : [];
}

export interface DomainNode {
  id: number;
  program: string;
  execs: number;
  /** Of `execs`, those reconstructed from /proc when the recorder started (running then, exec not traced). */
  reconstructed: number;
  /** Execs in this domain and every domain below it. */
  total: number;
  children: DomainNode[];
}

/** The domain trie with exec counts, rooted at `<kernel>`. Built iteratively (trees can be very deep). */
export function domainTree(store: Store): DomainNode {
  const rows = store.domainCounts();
  const nodes = new Map<number, DomainNode>();
  for (const r of rows) nodes.set(r.id, { id: r.id, program: r.program, execs: r.execs, reconstructed: r.reconstructed, total: r.execs, children: [] });
  const root = nodes.get(store.root) ?? { id: store.root, program: '<kernel>', execs: 0, reconstructed: 0, total: 0, children: [] };
  for (const r of rows) {
    if (r.id === store.root) continue;
    const parent = nodes.get(r.parent);
    if (parent) parent.children.push(nodes.get(r.id)!);
  }
  // Post-order totals without recursion.
  const order: DomainNode[] = [];
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    order.push(n);
    for (const c of n.children) stack.push(c);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    n.children.sort((a, b) => a.program.localeCompare(b.program));
    for (const c of n.children) n.total += c.total;
  }
  return root;
}

/** TOMOYO-like tree: one program per line, indented by depth, with exec counts. */
export function renderTree(root: DomainNode, maxDepth = Infinity): string[] {
  const lines: string[] = [];
  const width = String(root.total).length;
  const stack: Array<{ n: DomainNode; depth: number }> = [{ n: root, depth: 0 }];
  while (stack.length) {
    const { n, depth } = stack.pop()!;
    const count = String(n.execs).padStart(width);
    const sub = n.children.length ? `  (${n.total} in subtree)` : '';
    lines.push(`${count} ${'  '.repeat(depth)}${n.program}${sub}${reconstructedMark(n)}`);
    if (depth + 1 > maxDepth) continue;
    for (let i = n.children.length - 1; i >= 0; i--) stack.push({ n: n.children[i]!, depth: depth + 1 });
  }
  return lines;
}

/**
 * Marks a domain whose execs were (partly) reconstructed from /proc at recorder start: those
 * processes were already running, so their exec was not seen and the count is "alive then", not
 * "execs traced".
 */
export function reconstructedMark(n: { execs: number; reconstructed: number }): string {
  if (n.reconstructed <= 0) return '';
  return n.reconstructed >= n.execs ? '  [from /proc]' : `  [${n.reconstructed} from /proc]`;
}

/** Every domain's full name (memoised walk up the trie). */
export function domainNames(store: Store): Map<number, string> {
  const rows = store.domainCounts();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const names = new Map<number, string>();
  names.set(store.root, '<kernel>');
  for (const r of rows) {
    if (names.has(r.id)) continue;
    const chain: number[] = [];
    let cur: number | undefined = r.id;
    while (cur !== undefined && !names.has(cur)) {
      chain.push(cur);
      const row = byId.get(cur);
      cur = row ? row.parent : undefined;
      if (chain.length > 1_000_000) break;
    }
    let base = cur !== undefined ? names.get(cur)! : '<?>';
    for (let i = chain.length - 1; i >= 0; i--) {
      base = `${base} ${byId.get(chain[i]!)?.program ?? '<?>'}`;
      names.set(chain[i]!, base);
    }
  }
  return names;
}

/** Glob (`*`, `?`) to a RegExp over the whole domain name. */
export function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`);
}

/**
 * Domains matching PATTERN: with `*` or `?` it is a glob over the full name; without, it
 * names a domain and everything below it (`<kernel> /usr/sbin/sshd` matches its sessions too).
 */
export function matchDomains(names: Map<number, string>, pattern: string): number[] {
  const ids: number[] = [];
  if (/[*?]/.test(pattern)) {
    const re = globToRegExp(pattern);
    for (const [id, n] of names) if (re.test(n)) ids.push(id);
  } else {
    for (const [id, n] of names) if (n === pattern || n.startsWith(pattern + ' ')) ids.push(id);
  }
  return ids;
}

const REL = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/;

/** `--since`/`--until`: ISO 8601, `now`, or a duration ago (`90s`, `10m`, `2h`, `3d`, `1w`). */
export function parseTimeArg(text: string, nowMs = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return nowMs * 1000;
  const rel = REL.exec(t);
  if (rel) {
    const mult = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return Math.round((nowMs - Number(rel[1]) * mult * 1000) * 1000);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return ms * 1000;
  }
  throw new CliError(`bad time ${JSON.stringify(text)}: use ISO 8601 (2026-11-26T17:00:00Z), "now", or a duration ago like 10m, 2h, 3d`, EXIT.USAGE);
}

export const RECORD_TYPES: RecordType[] = ['exec', 'exit', 'signal', 'lost', 'hung', 'slab', 'dentry', 'rule', 'io', 'slow_stat', 'slow_io'];

export function parseTypes(values: string[]): RecordType[] {
  const out: RecordType[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    const t = v.trim();
    if (!t) continue;
    if (!RECORD_TYPES.includes(t as RecordType)) throw new CliError(`bad --type ${JSON.stringify(t)}: one of ${RECORD_TYPES.join(', ')}`, EXIT.USAGE);
    out.push(t as RecordType);
  }
  return out;
}

/** The exec chain leading to a record: its own image and every image it came from, oldest first. */
export function execChain(store: Store, e: StoredEvent, max = 1000): StoredEvent[] {
  const chain: StoredEvent[] = [];
  let cur: StoredEvent | null = e.type === 'exec' ? e : e.from_id !== null ? store.get(e.from_id) : null;
  while (cur && chain.length < max) {
    chain.push(cur);
    cur = cur.from_id !== null ? store.get(cur.from_id) : null;
  }
  return chain.reverse();
}

/** The programs an exec'ing process ran before this exec, since its fork (same pid and start). */
export function priorImages(store: Store, e: StoredEvent, max = 16): string[] {
  if (e.type !== 'exec' || e.from_id === null) return [];
  const out: string[] = [];
  let cur = store.get(e.from_id);
  while (cur && cur.type === 'exec' && cur.pid === e.pid && cur.pstart_us === e.pstart_us && !cur.reconstructed && out.length < max) {
    out.push(cur.program ?? '?');
    cur = cur.from_id !== null ? store.get(cur.from_id) : null;
  }
  return out.reverse();
}

export function historyOf(store: Store, e: StoredEvent): string {
  return renderHistory(execChain(store, e));
}

/**
 * How many leading steps of a record's history (and components of its domain after `<kernel>`)
 * were reconstructed from /proc when the recorder started rather than traced: the executables of
 * the ancestors it found running, with their process start times.
 */
export function reconstructedSteps(store: Store, e: StoredEvent): number {
  return execChain(store, e).filter((c) => c.reconstructed === 1).length;
}

/** The note printed beside a history that starts with reconstructed steps. */
export function reconstructedNote(steps: number): string {
  return `first ${steps} step${steps === 1 ? '' : 's'} reconstructed from /proc at recorder start (ancestors' executables and start times; their earlier execs are unknown)`;
}

/**
 * Histories for many records: each exec's history is its parent image's plus one step, so
 * they are memoised by exec id (bounded), and a stream of records costs one lookup per new exec.
 */
export class HistoryCache {
  private readonly byExec = new Map<number, { text: string; reconstructed: number }>();
  constructor(
    private readonly store: Store,
    private readonly max = 100_000,
  ) {}

  of(e: StoredEvent): string {
    return this.entry(e).text;
  }

  /** Leading steps reconstructed from /proc (see reconstructedSteps). */
  reconstructedSteps(e: StoredEvent): number {
    return this.entry(e).reconstructed;
  }

  private entry(e: StoredEvent): { text: string; reconstructed: number } {
    const start = e.type === 'exec' ? e : e.from_id !== null ? this.store.get(e.from_id) : null;
    if (!start) return { text: '', reconstructed: 0 };
    // Walk up until a memoised ancestor (or the start of the chain), then build back down.
    const path: StoredEvent[] = [];
    let base = { text: '', reconstructed: 0 };
    let cur: StoredEvent | null = start;
    while (cur && path.length < 1000) {
      const hit = this.byExec.get(cur.id);
      if (hit !== undefined) {
        base = hit;
        break;
      }
      path.push(cur);
      cur = cur.from_id !== null ? this.store.get(cur.from_id) : null;
    }
    if (this.byExec.size + path.length > this.max) this.byExec.clear();
    let h = base;
    for (let i = path.length - 1; i >= 0; i--) {
      const step = renderHistory([path[i]!]);
      h = { text: h.text ? `${h.text}=>${step}` : step, reconstructed: h.reconstructed + (path[i]!.reconstructed === 1 ? 1 : 0) };
      this.byExec.set(path[i]!.id, h);
    }
    return h;
  }
}

export interface ProcessView {
  pid: number;
  startUs: number | null;
  ppid: number | null;
  uid: number | null;
  reconstructed: boolean;
  domain: string | null;
  history: string;
  /** Leading steps of history and domain reconstructed from /proc (see reconstructedSteps). */
  reconstructedSteps: number;
  images: StoredEvent[];
  end: StoredEvent | null;
  /** Hung-task reports of this process (its tasks blocked in D state), oldest first. */
  hung: StoredEvent[];
  /** The detectors' records of this process: disk I/O at exit, slow stat() calls, slow block I/O. */
  detected: StoredEvent[];
  children: Array<{ pid: number; startUs: number | null; program: string | null; end: StoredEvent | null }>;
}

/** Everything recorded about one pid: each process that held it (by start time), newest first. */
/** Record types a detector writes about a process (shown with its history). */
const DETECTED_TYPES: ReadonlySet<string> = new Set(['io', 'slow_stat', 'slow_io']);

export function pidHistory(store: Store, pid: number): ProcessView[] {
  const rows = store.query({ pid });
  const byStart = new Map<number, StoredEvent[]>();
  for (const r of rows) {
    const k = r.pstart_us ?? 0;
    (byStart.get(k) ?? byStart.set(k, []).get(k)!).push(r);
  }
  const views: ProcessView[] = [];
  for (const [start, evs] of [...byStart].sort((a, b) => b[0] - a[0])) {
    const images = evs.filter((e) => e.type === 'exec');
    const end = evs.find((e) => e.type === 'exit' || e.type === 'signal') ?? null;
    const last = images[images.length - 1] ?? end ?? evs[0]!;
    const kids = store.db.prepare("SELECT * FROM events WHERE ppid = ? AND ppstart_us = ? AND type IN ('exec','exit','signal') ORDER BY time_us, id").all(pid, start) as StoredEvent[];
    const children = new Map<string, { pid: number; startUs: number | null; program: string | null; end: StoredEvent | null }>();
    for (const k of kids) {
      const key = `${k.pid}/${k.pstart_us}`;
      const c = children.get(key) ?? { pid: k.pid ?? 0, startUs: k.pstart_us, program: null, end: null };
      if (k.type === 'exec') c.program = k.program;
      else c.end = k;
      if (!c.program && k.program) c.program = k.program;
      children.set(key, c);
    }
    views.push({
      pid,
      startUs: start || null,
      ppid: last.ppid,
      uid: last.uid,
      reconstructed: images.some((i) => i.reconstructed === 1),
      domain: last.domain_id !== null ? store.name(last.domain_id) : null,
      history: historyOf(store, last),
      reconstructedSteps: reconstructedSteps(store, last),
      images,
      end,
      hung: evs.filter((e) => e.type === 'hung'),
      detected: evs.filter((e) => DETECTED_TYPES.has(e.type)),
      children: [...children.values()],
    });
  }
  return views;
}

/** What the store knows of the process that held a pid at a given time (see processAt). */
export type ProcessAt = { found: 'image'; startUs: number; chain: StoredEvent[] } | { found: 'exited'; startUs: number; endUs: number } | { found: 'none' };

export type ImageAt = { found: 'image'; startUs: number; image: StoredEvent } | { found: 'exited'; startUs: number; endUs: number } | { found: 'none' };

/** Statements of imageAt, prepared once per store (a stream of audit records calls it per record). */
const imageAtStatements = new WeakMap<Store, { start: Database.Statement; events: Database.Statement }>();

/**
 * The process holding `pid` at wall-clock `atUs` and the image it ran then. Pids are reused,
 * so the process is the one with the latest start at or before the time; its image is its
 * last exec at or before it. `slackUs` widens both bounds for clocks that disagree a little
 * (audit's coarse clock is a tick behind, and a record made right after an exec may carry a
 * time just before the exec's trace time). A process that forked but had not exec'd yet ran
 * the image it forked from, which its first record points to; one that forked and still runs
 * without an exec has no record of its own yet, so the store cannot know it ('none').
 */
export function imageAt(store: Store, pid: number, atUs: number, slackUs = 0): ImageAt {
  let st = imageAtStatements.get(store);
  if (!st) {
    st = {
      start: store.db.prepare("SELECT max(pstart_us) AS s FROM events WHERE pid = ? AND pstart_us <= ? AND type IN ('exec','exit','signal')"),
      events: store.db.prepare("SELECT * FROM events WHERE pid = ? AND pstart_us = ? AND type IN ('exec','exit','signal') ORDER BY time_us, id"),
    };
    imageAtStatements.set(store, st);
  }
  const limit = atUs + slackUs;
  const row = st.start.get(pid, limit) as { s: number | null };
  if (row.s === null) return { found: 'none' };
  const evs = st.events.all(pid, row.s) as StoredEvent[];
  const end = evs.find((e) => e.type !== 'exec');
  if (end && end.time_us < atUs - slackUs) return { found: 'exited', startUs: row.s, endUs: end.time_us };
  let image: StoredEvent | null = null;
  for (const e of evs) if (e.type === 'exec' && e.time_us <= limit) image = e;
  if (!image) {
    // Not exec'd yet at that time: it ran the image it forked from, which its first record names.
    const first = evs[0];
    if (first && first.from_id !== null) image = first.type === 'exec' ? parentImage(store, first) : store.get(first.from_id);
  }
  if (!image) return { found: 'none' };
  return { found: 'image', startUs: row.s, image };
}

/** imageAt with the image's whole exec chain (oldest first). */
export function processAt(store: Store, pid: number, atUs: number, slackUs = 0): ProcessAt {
  const at = imageAt(store, pid, atUs, slackUs);
  return at.found === 'image' ? { found: 'image', startUs: at.startUs, chain: execChain(store, at.image) } : at;
}

/** The image an exec came from when that was another process's (its parent at fork), else null. */
function parentImage(store: Store, e: StoredEvent): StoredEvent | null {
  const from = e.from_id !== null ? store.get(e.from_id) : null;
  return from && (from.pid !== e.pid || from.pstart_us !== e.pstart_us) ? from : null;
}
