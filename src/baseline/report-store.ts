/**
 * `lantern report --store`: the thin edge that reads the recorder's SQLite store (through the
 * recorder's own Store and query functions) and reduces it to the facts a report shows: the
 * processes that died of a signal, the OOM killer's victims among them, hung-task records when
 * the store has them, and the branch of the domain tree that leads to the dead.
 */
import { CliError, EXIT } from '../common/exit.js';
import { signalName } from '../record/process/signals.js';
import { domainNames, domainTree, HistoryCache, type DomainNode } from '../record/query.js';
import { senderText } from '../record/render.js';
import { isDamageError, Store, type StoredEvent } from '../record/store/store.js';
import type { TreeRow } from './svg.js';

export interface StoreDeath {
  timeUs: number;
  pid: number;
  comm: string;
  program: string;
  signal: string;
  /** The OOM killer chose this victim (its SIGKILL came from oom/mark_victim). */
  oom: boolean;
  sender: string;
  domainId: number | null;
  history: string;
}

export interface StoreFacts {
  path: string;
  records: number;
  firstUs: number | null;
  lastUs: number | null;
  /** Every signal death in the store; `deaths` holds the newest MAX_DEATHS of them, oldest first. */
  deathsTotal: number;
  deaths: StoreDeath[];
  /** The domains of the dead and their ancestors, depth first, for the tree picture. */
  tree: TreeRow[];
  treeOmitted: number;
  /** The same in words: each involved domain's full name and what died in it. */
  involved: { domain: string; note: string }[];
  /** Hung-task records: `table` null when the store has no such table (older recorders). */
  hung: { table: string | null; rows: number; columns: string[]; sample: string[][] };
}

/** A report is read by a person: the newest deaths, a bounded tree, a sample of hung tasks. */
const MAX_DEATHS = 200;
const MAX_TREE_ROWS = 300;
const MAX_HUNG_ROWS = 50;

export function readStore(path: string): StoreFacts {
  const store = Store.openReadonly(path);
  try {
    return facts(store, path);
  } catch (e) {
    if (e instanceof CliError) throw e;
    if (isDamageError(e)) throw new CliError(`store ${path} is damaged: ${(e as Error).message}`, EXIT.DATAERR);
    throw new CliError(`cannot read store ${path}: ${(e as Error).message}`, EXIT.IOERR);
  } finally {
    store.close();
  }
}

function facts(store: Store, path: string): StoreFacts {
  const span = store.db.prepare('SELECT count(*) AS n, min(time_us) AS lo, max(time_us) AS hi FROM events').get() as { n: number; lo: number | null; hi: number | null };
  // The newest MAX_DEATHS, kept in a ring while every one is counted.
  const ring: StoredEvent[] = [];
  let total = 0;
  for (const e of store.iterate({ types: ['signal'] })) {
    total++;
    ring.push(e);
    if (ring.length > MAX_DEATHS) ring.shift();
  }
  const histories = new HistoryCache(store);
  const deaths: StoreDeath[] = ring.map((e) => ({
    timeUs: e.time_us,
    pid: e.pid ?? 0,
    comm: e.comm ?? '?',
    program: e.program ?? '?',
    signal: e.signal !== null ? signalName(e.signal) : 'signal ?',
    oom: e.detail === 'oom-killer',
    sender: senderText(e),
    domainId: e.domain_id,
    history: histories.of(e),
  }));
  const { rows, omitted, involved } = deathTree(store, deaths);
  return { path, records: span.n, firstUs: span.lo, lastUs: span.hi, deathsTotal: total, deaths, tree: rows, treeOmitted: omitted, involved, hung: hungTasks(store) };
}

function deathNote(ds: StoreDeath[]): string {
  const byKind = new Map<string, number>();
  for (const d of ds) {
    const k = d.oom ? 'OOM kill' : d.signal;
    byKind.set(k, (byKind.get(k) ?? 0) + 1);
  }
  return `${ds.length} death(s): ${[...byKind].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ')}`;
}

/** The branch of the domain trie that leads to the domains where processes died. */
function deathTree(store: Store, deaths: StoreDeath[]): { rows: TreeRow[]; omitted: number; involved: StoreFacts['involved'] } {
  const byDomain = new Map<number, StoreDeath[]>();
  for (const d of deaths) if (d.domainId !== null) (byDomain.get(d.domainId) ?? byDomain.set(d.domainId, []).get(d.domainId)!).push(d);
  if (!byDomain.size) return { rows: [], omitted: 0, involved: [] };
  const root = domainTree(store);
  // Parents by walking the trie once (iteratively: trees can be very deep).
  const parent = new Map<number, number>();
  const stack: DomainNode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    for (const c of n.children) {
      parent.set(c.id, n.id);
      stack.push(c);
    }
  }
  const keep = new Set<number>([root.id]);
  for (const id of byDomain.keys()) {
    for (let cur: number | undefined = id; cur !== undefined && !keep.has(cur); cur = parent.get(cur)) keep.add(cur);
  }
  const rows: TreeRow[] = [];
  let omitted = 0;
  const walk: Array<{ n: DomainNode; depth: number; parentRow: number }> = [{ n: root, depth: 0, parentRow: -1 }];
  while (walk.length) {
    const { n, depth, parentRow } = walk.pop()!;
    if (rows.length >= MAX_TREE_ROWS) {
      omitted++;
      continue;
    }
    const ds = byDomain.get(n.id);
    const row: TreeRow = { depth, label: n.program, parent: parentRow, ...(ds ? { note: deathNote(ds) } : {}) };
    rows.push(row);
    const kids = n.children.filter((c) => keep.has(c.id));
    for (let i = kids.length - 1; i >= 0; i--) walk.push({ n: kids[i]!, depth: depth + 1, parentRow: rows.length - 1 });
  }
  const names = domainNames(store);
  const involved = [...byDomain].map(([id, ds]) => ({ domain: names.get(id) ?? `domain ${id}`, note: deathNote(ds) }));
  return { rows, omitted, involved };
}

/**
 * Hung-task records (type 'hung', written by the recorder's hung-task detector) with what their
 * evidence holds: the D-state tasks snapshotted and the kernel-log records captured.
 */
function hungTasks(store: Store): StoreFacts['hung'] {
  const rows = store.counts().hung ?? 0;
  const columns = ['time', 'pid', 'comm', 'domain', 'what', 'D tasks', 'kernel-log records'];
  if (rows === 0) return { table: null, rows: 0, columns, sample: [] };
  const names = domainNames(store);
  // The newest MAX_HUNG_ROWS, oldest of them first.
  const newest = store.query({ types: ['hung'], sinceUs: nthNewestHungUs(store, MAX_HUNG_ROWS) });
  const sample = newest.slice(-MAX_HUNG_ROWS).map((e) => {
    const ev = store.hungEvidence(e.id);
    const tasks = (ev?.snapshot as { dTasks?: unknown[] } | null | undefined)?.dTasks;
    return [
      cell('time_us', e.time_us),
      String(e.pid ?? ''),
      e.comm ?? '',
      e.domain_id !== null ? (names.get(e.domain_id) ?? `domain ${e.domain_id}`) : '',
      e.detail ?? '',
      ev ? String(tasks?.length ?? 0) : 'none',
      ev ? String(ev.kmsg.length) : 'none',
    ];
  });
  return { table: 'hung', rows, columns, sample };
}

function nthNewestHungUs(store: Store, n: number): number {
  const r = store.db.prepare("SELECT time_us FROM events WHERE type = 'hung' ORDER BY time_us DESC, id DESC LIMIT 1 OFFSET ?").get(n - 1) as { time_us: number } | undefined;
  return r?.time_us ?? 0;
}

/** One SQLite value as table text (what a column can hold: INTEGER, REAL, TEXT, BLOB, NULL). */
function cell(column: string, v: number | bigint | string | Buffer | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && /_us$/.test(column) && v > 1e15) return new Date(Math.floor(v / 1000)).toISOString();
  if (Buffer.isBuffer(v)) return `(${v.length} bytes)`;
  return String(v);
}
