/**
 * Compare two snapshots section by section (pure). Output: per section, what was added (+),
 * removed (-) or changed (~), with old and new values; volatile sysctls and --ignore globs
 * are dropped and counted.
 */
import { STATUS_RANK, type Status } from '../check/model.js';
import { sysctlValuesEqual } from '../host/formats/sysctl.js';
import { rpmvercmp } from '../host/formats/versions.js';
import { type Mount, type SectionName, type Sections, type Snapshot, SECTION_NAMES } from './model.js';
import { compareVersions } from '../host/formats/versions.js';
import { unitChanges } from './units.js';

export const DIFF_SCHEMA_VERSION = 1;

export type Op = '+' | '-' | '~';

export interface Change {
  op: Op;
  /** What changed: a sysctl key, a package name, a mountpoint, a check id ... */
  key: string;
  old?: string;
  new?: string;
  /** e.g. "upgraded", "resolved", "new fail". */
  note?: string;
  /** A check finding that became fail. */
  worse?: boolean;
  /** A check finding unknown on one side: listed apart, not a difference. */
  undetermined?: boolean;
}

export interface SectionDiff {
  section: SectionName;
  changes: Change[];
  /** Set when either side could not read this section: nothing was compared. */
  notCompared?: string;
  /** Which side could not read it. */
  unknownOn?: 'baseline' | 'current' | 'both';
  /** Check findings unknown on one side (status not determined there): not differences. */
  undetermined?: Change[];
  /** Parts of a compared section that one side did not record (e.g. masked units in an older snapshot). */
  notes?: string[];
}

export interface SnapshotRef {
  host: string | null;
  takenAt: string;
  source: string;
  kernel: string | null;
}

export interface DiffResult {
  schemaVersion: number;
  kind: 'lantern-diff';
  baseline: SnapshotRef;
  current: SnapshotRef;
  sections: SectionDiff[];
  /** Domains and access lists (lantern record --access), when both snapshots have them. */
  access?: AccessDiff;
  ignored: { count: number; builtin: string[]; patterns: string[] };
  summary: { differences: number; worse: number; notCompared: number; exitCode: 0 | 1 | 2 };
}

/**
 * Sysctls that change on their own (counters, random values, per-boot keys): never a
 * difference worth reading. Globs, matched against the dotted key.
 */
export const VOLATILE_SYSCTLS = [
  'kernel.random.*',
  'kernel.ns_last_pid',
  'kernel.pty.nr',
  'kernel.hung_task_detect_count',
  'kernel.perf_event_max_sample_rate',
  'fs.dentry-state',
  'fs.inode-state',
  'fs.inode-nr',
  'fs.file-nr',
  'fs.aio-nr',
  'fs.quota.*',
  'fs.fscache.*',
  'net.netfilter.nf_conntrack_count',
  'net.core.netdev_rss_key',
  'net.ipv4.tcp_fastopen_key',
  // Per-interface keys of short-lived virtual interfaces (containers).
  'net.*.conf.veth*',
  'net.*.neigh.veth*',
];

/** Translate a glob (`*`, `?`, `[...]`) to an anchored RegExp; `*` also crosses dots. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += '[' + (body.startsWith('!') ? '^' + body.slice(1) : body) + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

const SECTION_ALIASES: Record<string, SectionName> = {
  sysctl: 'sysctls',
  module: 'modules',
  mount: 'mounts',
  package: 'packages',
  unit: 'units',
  cpu: 'cpus',
  oom: 'oomExempt',
  'oom-exempt': 'oomExempt',
};

export interface IgnoreRule {
  section: SectionName | null;
  pattern: string;
  re: RegExp;
}

/**
 * Parse an --ignore pattern: a glob on the key in any section, or `section:glob` to limit it
 * (e.g. `packages:linux-image-*`). A prefix that is not a section name is part of the glob.
 */
export function parseIgnore(pattern: string): IgnoreRule {
  const colon = pattern.indexOf(':');
  if (colon > 0) {
    const head = pattern.slice(0, colon);
    const sec = (SECTION_NAMES as string[]).includes(head) ? (head as SectionName) : SECTION_ALIASES[head];
    if (sec) return { section: sec, pattern, re: globToRegExp(pattern.slice(colon + 1)) };
  }
  return { section: null, pattern, re: globToRegExp(pattern) };
}

export interface DiffOptions {
  ignore?: string[];
  /** Apply VOLATILE_SYSCTLS (default true). */
  builtinIgnore?: boolean;
}

export interface AccessDiff {
  changes: Change[];
  /** Set when one side has no access lists, or could not read its store. */
  notCompared?: string;
}

const lastProgram = (domain: string) => domain.slice(domain.lastIndexOf(' ') + 1);
const parentDomain = (domain: string) => domain.slice(0, domain.lastIndexOf(' '));
const WRITES = new Set(['write', 'append', 'create', 'truncate', 'unlink', 'rename', 'mkdir', 'rmdir', 'chmod']);

/**
 * What the recorder saw change between two snapshots: a new domain ("a new program runs under
 * sshd"), a domain no longer recorded, and a new line in a domain both saw ("rsyslogd now writes a
 * file it never wrote before"). Lines a domain no longer shows are left out: a list only grows
 * while the store keeps it, so their absence says retention, not behaviour.
 */
export function diffAccess(base: Snapshot, cur: Snapshot): AccessDiff | undefined {
  const a = base.access;
  const b = cur.access;
  if (!a && !b) return undefined;
  if (!a || !b || a.status !== 'ok' || b.status !== 'ok') {
    const why = (s: Snapshot['access'], side: string) => (!s ? `${side} has no access lists` : s.status !== 'ok' ? `${side}: ${s.reason}` : null);
    return { changes: [], notCompared: [why(a, 'baseline'), why(b, 'current')].filter(Boolean).join('; ') };
  }
  const changes: Change[] = [];
  const da = a.data.domains;
  const db = b.data.domains;
  for (const d of Object.keys(db).sort()) {
    if (!(d in da)) {
      const parent = parentDomain(d);
      changes.push({ op: '+', key: d, note: parent in da || parent in db ? `a new program runs under ${lastProgram(parent)}: ${lastProgram(d)}` : 'new domain' });
      continue;
    }
    const had = new Set(da[d]);
    for (const line of db[d]!) {
      if (had.has(line)) continue;
      const [, op = '', ...rest] = line.split(' ');
      const what = WRITES.has(op) ? `now ${op === 'write' ? 'writes' : op + 's'} ${rest[0] ?? ''}, never seen before` : `new: ${line}`;
      changes.push({ op: '+', key: `${d}: ${line}`, note: `${lastProgram(d)} ${what}` });
    }
  }
  for (const d of Object.keys(da).sort()) if (!(d in db)) changes.push({ op: '-', key: d, note: 'domain no longer recorded' });
  return { changes };
}

export function diffSnapshots(base: Snapshot, cur: Snapshot, opts: DiffOptions = {}): DiffResult {
  const builtin = opts.builtinIgnore === false ? [] : VOLATILE_SYSCTLS;
  const rules: IgnoreRule[] = [...builtin.map((g) => ({ section: 'sysctls' as SectionName, pattern: g, re: globToRegExp(g) })), ...(opts.ignore ?? []).map(parseIgnore)];
  let ignoredCount = 0;
  const sections: SectionDiff[] = [];
  for (const name of SECTION_NAMES) {
    const a = base.sections[name];
    const b = cur.sections[name];
    if (a.status !== 'ok' || b.status !== 'ok') {
      const why = [a.status !== 'ok' ? `baseline: ${a.reason}` : null, b.status !== 'ok' ? `current: ${b.reason}` : null].filter(Boolean).join('; ');
      const unknownOn = a.status !== 'ok' && b.status !== 'ok' ? 'both' : a.status !== 'ok' ? 'baseline' : 'current';
      sections.push({ section: name, changes: [], notCompared: why, unknownOn });
      continue;
    }
    const notes: string[] = [];
    const compared = COMPARE[name](a.data as never, b.data as never, notes);
    const undetermined = compared.filter((c) => c.undetermined);
    const all = compared.filter((c) => !c.undetermined);
    const kept = all.filter((c) => {
      const hit = rules.some((r) => (r.section === null || r.section === name) && r.re.test(c.key));
      if (hit) ignoredCount++;
      return !hit;
    });
    sections.push({ section: name, changes: kept, ...(undetermined.length ? { undetermined } : {}), ...(notes.length ? { notes } : {}) });
  }
  const access = diffAccess(base, cur);
  const differences = sections.reduce((n, s) => n + s.changes.length, 0) + (access?.changes.length ?? 0);
  const worse = sections.reduce((n, s) => n + s.changes.filter((c) => c.worse).length, 0);
  return {
    schemaVersion: DIFF_SCHEMA_VERSION,
    kind: 'lantern-diff',
    baseline: refOf(base),
    current: refOf(cur),
    sections,
    ...(access ? { access } : {}),
    ignored: { count: ignoredCount, builtin: [...builtin], patterns: opts.ignore ?? [] },
    summary: { differences, worse, notCompared: sections.filter((s) => s.notCompared).length, exitCode: worse ? 2 : differences ? 1 : 0 },
  };
}

function refOf(s: Snapshot): SnapshotRef {
  const k = s.sections.kernel;
  return { host: s.host.name, takenAt: s.takenAt, source: `${s.host.source.kind}:${s.host.source.root}`, kernel: k.status === 'ok' ? k.data.release : null };
}

type Comparers = { [K in SectionName]: (a: DataOf<K>, b: DataOf<K>, notes: string[]) => Change[] };
type DataOf<K extends SectionName> = Extract<Sections[K], { status: 'ok' }>['data'];

/** Keyed comparison: + for keys only in b, - only in a, ~ when `same` says they differ. */
function keyed<V>(a: Map<string, V>, b: Map<string, V>, show: (v: V) => string, same: (x: V, y: V) => boolean = (x, y) => show(x) === show(y), note?: (x: V, y: V) => string | undefined): Change[] {
  const out: Change[] = [];
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const k of keys) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === undefined) out.push({ op: '+', key: k, new: show(y!) });
    else if (y === undefined) out.push({ op: '-', key: k, old: show(x) });
    else if (!same(x, y)) {
      const c: Change = { op: '~', key: k, old: show(x), new: show(y) };
      const n = note?.(x, y);
      if (n) c.note = n;
      out.push(c);
    }
  }
  return out;
}

const setMap = (xs: string[]) => new Map(xs.map((x) => [x, x] as const));

function kib(n: number | null): string {
  if (n === null) return 'unknown';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]} (${n} kB)`;
}

function mountKeyed(entries: Mount[]): Map<string, Mount> {
  // The same mountpoint can be stacked: key the second one "/x #2" so both are compared.
  const m = new Map<string, Mount>();
  const seen = new Map<string, number>();
  for (const e of entries) {
    const n = (seen.get(e.mountpoint) ?? 0) + 1;
    seen.set(e.mountpoint, n);
    m.set(n === 1 ? e.mountpoint : `${e.mountpoint} #${n}`, e);
  }
  return m;
}

function cmdlineChanges(a: string[], b: string[]): Change[] {
  const group = (tokens: string[]) => {
    const m = new Map<string, string[]>();
    for (const t of tokens) {
      const eq = t.indexOf('=');
      const k = eq >= 0 ? t.slice(0, eq) : t;
      (m.get(k) ?? m.set(k, []).get(k)!).push(t);
    }
    return m;
  };
  const ga = group(a);
  const gb = group(b);
  const out: Change[] = [];
  for (const k of [...new Set([...ga.keys(), ...gb.keys()])].sort()) {
    const x = ga.get(k) ?? [];
    const y = gb.get(k) ?? [];
    if (x.length === 1 && y.length === 1 && x[0] !== y[0]) {
      out.push({ op: '~', key: k, old: x[0]!, new: y[0]! });
      continue;
    }
    // Multiset difference, so repeated parameters (console=) are compared one by one.
    const rest = [...y];
    for (const t of x) {
      const i = rest.indexOf(t);
      if (i >= 0) rest.splice(i, 1);
      else out.push({ op: '-', key: t, old: t });
    }
    for (const t of rest) out.push({ op: '+', key: t, new: t });
  }
  return out;
}

function versionNote(x: string[], y: string[]): string | undefined {
  if (x.length !== 1 || y.length !== 1) return 'changed';
  const c = compareVersions(x[0]!, y[0]!, rpmvercmp);
  return c < 0 ? 'upgraded' : c > 0 ? 'downgraded' : 'changed';
}

const COMPARE: Comparers = {
  kernel: (a, b) => (a.release === b.release ? [] : [{ op: '~', key: 'release', old: a.release, new: b.release }]),
  cmdline: (a, b) => cmdlineChanges(a.params, b.params),
  sysctls: (a, b) => keyed(new Map(Object.entries(a.values)), new Map(Object.entries(b.values)), (v) => v, sysctlValuesEqual),
  modules: (a, b) => keyed(setMap(a.names), setMap(b.names), (v) => v).map(({ op, key }) => ({ op, key, note: op === '+' ? 'loaded' : 'unloaded' })),
  mounts: (a, b) => keyed(mountKeyed(a.entries), mountKeyed(b.entries), (m) => `${m.device} ${m.fstype} ${m.options}`),
  packages: (a, b) =>
    keyed(new Map(Object.entries(a.installed)), new Map(Object.entries(b.installed)), (v) => v.join(' '), undefined, versionNote).map((c) =>
      c.op === '+' ? { ...c, note: 'installed' } : c.op === '-' ? { ...c, note: 'removed' } : c,
    ),
  units: (a, b, notes) => unitChanges(a, b, notes),
  memory: (a, b) => {
    const out: Change[] = [];
    if (a.memTotalKiB !== b.memTotalKiB) out.push({ op: '~', key: 'MemTotal', old: kib(a.memTotalKiB), new: kib(b.memTotalKiB) });
    if (a.swapTotalKiB !== b.swapTotalKiB) out.push({ op: '~', key: 'SwapTotal', old: kib(a.swapTotalKiB), new: kib(b.swapTotalKiB) });
    return out;
  },
  cpus: (a, b) => (a.count === b.count ? [] : [{ op: '~', key: 'count', old: String(a.count), new: String(b.count) }]),
  oomExempt: (a, b) => {
    // Compare by command name (pids differ between boots), counting repeats.
    const count = (ps: { comm: string }[]) => {
      const m = new Map<string, number>();
      for (const p of ps) m.set(p.comm, (m.get(p.comm) ?? 0) + 1);
      return m;
    };
    return keyed(count(a.processes), count(b.processes), (n) => `${n} process(es)`).map((c) => ({
      ...c,
      note: c.op === '+' ? 'now exempt from the OOM killer' : c.op === '-' ? 'no longer exempt' : 'count changed',
    }));
  },
  check: (a, b) => {
    const fa = new Map(a.findings.map((f) => [f.id, f] as const));
    const fb = new Map(b.findings.map((f) => [f.id, f] as const));
    const out: Change[] = [];
    for (const id of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
      const x = fa.get(id);
      const y = fb.get(id);
      if (!x) {
        out.push({ op: '+', key: id, new: `${y!.status}: ${y!.summary}`, note: `new ${y!.status}`, ...(y!.status === 'fail' ? { worse: true } : {}) });
      } else if (!y) {
        out.push({ op: '-', key: id, old: `${x.status}: ${x.summary}`, note: 'no longer checked' });
      } else if (x.status !== y.status && (x.status === 'unknown' || y.status === 'unknown') && y.status !== 'fail') {
        // "Could not tell" on one side (often a sosreport that lacks the file) is not a change of the host.
        out.push({
          op: '~',
          key: id,
          old: `${x.status}: ${x.summary}`,
          new: `${y.status}: ${y.summary}`,
          note: y.status === 'unknown' ? 'not determined now' : 'not determined in the baseline',
          undetermined: true,
        });
      } else if (x.status !== y.status) {
        out.push({ op: '~', key: id, old: `${x.status}: ${x.summary}`, new: `${y.status}: ${y.summary}`, note: statusNote(x.status, y.status), ...(y.status === 'fail' ? { worse: true } : {}) });
      }
    }
    return out;
  },
};

function statusNote(from: Status, to: Status): string {
  if (to === 'fail') return 'new fail';
  if ((from === 'fail' || from === 'warn') && (to === 'ok' || to === 'info')) return 'resolved';
  return STATUS_RANK[to] > STATUS_RANK[from] ? 'worse' : 'better';
}
