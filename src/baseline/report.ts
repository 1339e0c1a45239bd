/**
 * `lantern report`: a document for whoever must act. The document is a list of independent
 * sections, each built by its own function from the same input (snapshot, optional baseline
 * and diff, incidents that `lantern analyze` found in --logs); renderers turn it into Markdown,
 * self-contained HTML or plain text.
 * Pure: no I/O here except `analyzeLogs`, the thin edge that runs the analyser over --logs paths.
 */
import { analyzePaths } from '../analyze/analyze.js';
import { formatTime } from '../analyze/render.js';
import { mainTask } from '../analyze/model.js';
import type { Finding } from '../check/model.js';
import type { DiffResult } from './diff.js';
import type { Snapshot } from './model.js';
import { SECTION_TITLES, sectionCounts, sectionSize } from './render.js';
import { SECTION_NAMES } from './model.js';
import { unitCounts, unitRows } from './units.js';
import { renderChart, type Chart, type TimelineChart } from './svg.js';
import type { StoreFacts } from './report-store.js';

export type Block =
  | { kind: 'para'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; head: string[]; rows: string[][] }
  | { kind: 'code'; text: string }
  | { kind: 'subheading'; text: string }
  /** A picture: drawn in HTML only; the section's other blocks say the same facts in words. */
  | { kind: 'chart'; chart: Chart };

export interface ReportSection {
  id: string;
  title: string;
  blocks: Block[];
}

export interface ReportDoc {
  title: string;
  generatedAt: string;
  sections: ReportSection[];
}

/** What `lantern analyze` found in the --logs inputs, reduced to what a report shows. */
export interface LogIncidents {
  inputs: { name: string; format: string; lines: number; incidents: number; error?: string }[];
  groups: { kind: string; title: string; count: number; partial: number; first: string; last: string; hosts: string[]; task?: string }[];
  incidents: number;
  /** Every incident (boot banners included) in time order, for the timeline picture. */
  timeline: { kind: string; title: string; host?: string; ms?: number; when: string; task?: string }[];
  /** Incidents the analyser kept out of its timeline (beyond its cap): counted, not drawn. */
  timelineOmitted: number;
}

/** The --logs inputs that could not be read, as `name (reason)`. */
export function unreadInputs(logs: LogIncidents): string[] {
  return logs.inputs.filter((i) => i.error !== undefined).map((i) => `${i.name} (${i.error})`);
}

export interface ReportInput {
  snapshot: Snapshot;
  baseline: Snapshot | null;
  diff: DiffResult | null;
  /** Incidents from --logs, or null when no logs were given. */
  logs: LogIncidents | null;
  /** What the recorder's store (--store) holds about deaths, or null when none was given. */
  store?: StoreFacts | null;
  now: Date;
}

export type SectionBuilder = (input: ReportInput) => ReportSection | null;

export const REPORT_FORMATS = ['md', 'html', 'text'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/* ------------------------------------------------------------------ sections */

/** Units whose mask loses the evidence of the next incident: named in "At a glance". */
export const EVIDENCE_UNITS = new Set([
  'kdump.service',
  'kdump-tools.service',
  'auditd.service',
  'sysstat.service',
  'sysstat-collect.timer',
  'rsyslog.service',
  'systemd-journald.service',
  'systemd-pstore.service',
  'netconsole.service',
  'lantern-baseline.service',
]);

/** Starts the At a glance line naming the inputs that were not read (shown in red in HTML). */
export const UNREAD_PREFIX = 'NOT READ: ';

/** One paragraph with the numbers that decide what to read first. */
export function glanceSection({ snapshot: s, diff, logs, store }: ReportInput): ReportSection {
  const items: string[] = [];
  // First: a report whose inputs were not read must never read as a clean bill.
  const unread = logs ? unreadInputs(logs) : [];
  if (unread.length) items.push(`${UNREAD_PREFIX}${unread.length} of ${logs!.inputs.length} log input(s) could not be read, so their incidents are missing from this report: ${unread.join(', ')}.`);
  const c = s.sections.check;
  if (c.status === 'ok') {
    const fail = c.data.findings.filter((f) => f.status === 'fail').length;
    const warn = c.data.findings.filter((f) => f.status === 'warn').length;
    items.push(fail + warn ? `Readiness: ${fail} fail, ${warn} warn — evidence of the next incident may be lost; see "Readiness findings needing action".` : 'Readiness: nothing at warn or fail.');
  } else items.push(`Readiness: not audited (${c.reason}).`);
  const u = s.sections.units;
  if (u.status === 'ok') {
    const masked = unitRows(u.data).filter((r) => (r.state === 'masked' || r.state === 'masked-runtime') && EVIDENCE_UNITS.has(r.unit));
    if (masked.length) items.push(`Masked units that capture evidence: ${masked.map((r) => `${r.unit} (${r.state})`).join(', ')} — a masked unit cannot start at all; see "Units and services".`);
  }
  if (diff) {
    const worse = diff.sections.flatMap((x) => x.changes.filter((ch) => ch.worse)).map((ch) => ch.key);
    items.push(`Since the baseline of ${diff.baseline.takenAt}: ${diff.summary.differences} difference(s)${worse.length ? `, readiness became fail: ${worse.join(', ')}` : ''}.`);
  }
  if (logs) {
    const read = logs.inputs.filter((i) => !i.error).length;
    const kinds = [...new Set(logs.groups.map((g) => g.kind))];
    items.push(`Logs: ${logs.incidents} kernel incident(s) in ${logs.groups.length} group(s)${kinds.length ? ` (${kinds.join(', ')})` : ''}, from ${read} of ${logs.inputs.length} input(s).`);
  }
  if (store) {
    const oom = store.deaths.filter((d) => d.oom).length;
    items.push(
      `Recorder store: ${store.deathsTotal} signal death(s), ${oom}${store.deathsTotal > store.deaths.length ? '+' : ''} of them OOM kills, ${store.hung.table ? `${store.hung.rows} hung-task record(s)` : 'no hung-task records in this store'}; see "Deaths in the recorder store".`,
    );
  }
  return { id: 'glance', title: 'At a glance', blocks: [{ kind: 'list', items }] };
}

export function hostSummarySection({ snapshot: s }: ReportInput): ReportSection {
  const sec = s.sections;
  const rows: string[][] = [
    ['Host', s.host.name ?? 'unknown'],
    ['Source', s.host.source.kind === 'live' ? 'live host' : `${s.host.source.kind} ${s.host.source.root}`],
    ['State taken at', s.takenAt],
  ];
  if (sec.check.status === 'ok' && sec.check.data.host.distro) rows.push(['Distribution', sec.check.data.host.distro]);
  for (const n of ['kernel', 'cpus', 'memory', 'packages', 'modules', 'units', 'mounts', 'sysctls'] as const) rows.push([SECTION_TITLES[n], sectionSize(s, n)]);
  if (sec.cmdline.status === 'ok') rows.push([SECTION_TITLES.cmdline, sec.cmdline.data.raw]);
  if (sec.check.status === 'ok') rows.push(['Readiness verdict', sectionSize(s, 'check')]);
  return { id: 'host', title: 'Host summary', blocks: [{ kind: 'table', head: ['', ''], rows }] };
}

function findingBlocks(f: Finding): Block[] {
  const blocks: Block[] = [
    { kind: 'subheading', text: `${f.status.toUpperCase()} ${f.id}: ${f.title}` },
    { kind: 'para', text: f.summary },
  ];
  if (f.why) blocks.push({ kind: 'para', text: `Why it matters: ${f.why}` });
  if (f.remedy) {
    blocks.push({ kind: 'para', text: `What to do: ${f.remedy.text}${f.remedy.safe ? '' : ' (review before running: needs a reboot, reserves memory or stops a process)'}` });
    if (f.remedy.commands.length) blocks.push({ kind: 'code', text: f.remedy.commands.join('\n') });
  }
  const ev = f.evidence.filter((e) => e.value !== null || e.reason).map((e) => (e.value !== null ? `${e.what} = ${e.value}${e.path ? ` (${e.path})` : ''}` : `${e.what}: ${e.reason}`));
  if (ev.length) blocks.push({ kind: 'list', items: ev });
  return blocks;
}

export function actionSection({ snapshot: s }: ReportInput): ReportSection {
  const c = s.sections.check;
  if (c.status !== 'ok') return { id: 'action', title: 'Readiness findings needing action', blocks: [{ kind: 'para', text: `The readiness audit could not run: ${c.reason}` }] };
  const need = c.data.findings.filter((f) => f.status === 'fail' || f.status === 'warn').sort((a, b) => (a.status === b.status ? a.id.localeCompare(b.id) : a.status === 'fail' ? -1 : 1));
  const blocks: Block[] = need.length ? need.flatMap(findingBlocks) : [{ kind: 'para', text: 'No readiness finding at warn or fail.' }];
  const unknown = c.data.findings.filter((f) => f.status === 'unknown');
  if (unknown.length) {
    blocks.push({ kind: 'subheading', text: `Not determined (${unknown.length})` });
    blocks.push({ kind: 'list', items: unknown.map((f) => `${f.id}: ${f.summary}`) });
  }
  return { id: 'action', title: `Readiness findings needing action (${need.length})`, blocks };
}

/** Rows per differences table: a report is read by a person; the JSON diff has everything. */
const MAX_ROWS = 200;

/** Every unit with its state: masked first (a masked kdump.service never starts), then SysV, then enabled. */
export function unitsSection({ snapshot: s }: ReportInput): ReportSection | null {
  const u = s.sections.units;
  // Unknown: "What could not be read" says why.
  if (u.status !== 'ok') return null;
  const rows = unitRows(u.data);
  const blocks: Block[] = [
    {
      kind: 'para',
      text: `${unitCounts(u.data)}. A masked unit (symlinked to /dev/null) cannot be started at all, not even as a dependency; masked-runtime lasts until reboot. A SysV-enabled service has start (S) links in the runlevel directories, as chkconfig sets them.`,
    },
  ];
  const notRecorded = [u.data.masked ? '' : 'masked units', u.data.sysv ? '' : 'SysV start links'].filter(Boolean);
  if (notRecorded.length) blocks.push({ kind: 'para', text: `Not recorded in this snapshot: ${notRecorded.join(', ')}.` });
  if (rows.length) {
    blocks.push({ kind: 'table', head: ['unit', 'state', 'detail'], rows: rows.slice(0, MAX_ROWS).map((r) => [r.unit, r.state, r.detail]) });
    if (rows.length > MAX_ROWS) blocks.push({ kind: 'para', text: `${rows.length - MAX_ROWS} more unit(s) not listed; run lantern baseline show FILE --section units for all.` });
  }
  blocks.push({ kind: 'para', text: `From ${u.sources.join('; ')}.` });
  return { id: 'units', title: 'Units and services', blocks };
}

export function differencesSection({ diff, baseline }: ReportInput): ReportSection | null {
  if (!diff || !baseline) return null;
  const blocks: Block[] = [
    {
      kind: 'para',
      text: `Compared with the baseline of ${diff.baseline.host ?? 'unknown host'} taken ${diff.baseline.takenAt} (${diff.baseline.source}): ${diff.summary.differences} difference(s), ${diff.summary.worse} readiness finding(s) became fail, ${diff.ignored.count} volatile or ignored change(s) hidden.`,
    },
  ];
  for (const sd of diff.sections) {
    if (!sd.changes.length) continue;
    blocks.push({ kind: 'subheading', text: `${SECTION_TITLES[sd.section]} (${sectionCounts(sd.changes)})` });
    const ordered = [...sd.changes.filter((c) => c.worse), ...sd.changes.filter((c) => !c.worse)];
    blocks.push({ kind: 'table', head: ['', 'what', 'before', 'now', 'note'], rows: ordered.slice(0, MAX_ROWS).map((c) => [c.worse ? '!' : c.op, c.key, c.old ?? '', c.new ?? '', c.note ?? '']) });
    if (ordered.length > MAX_ROWS) blocks.push({ kind: 'para', text: `${ordered.length - MAX_ROWS} more change(s) in this section not listed; run lantern diff --json for all.` });
  }
  const und = diff.sections.flatMap((x) => x.undetermined ?? []);
  if (und.length) {
    blocks.push({ kind: 'subheading', text: 'Readiness not determined on one side (not counted)' });
    blocks.push({ kind: 'table', head: ['check', 'before', 'now'], rows: und.map((c) => [c.key, c.old ?? '', c.new ?? '']) });
  }
  const nc = diff.sections.filter((x) => x.notCompared);
  const partly = diff.sections.flatMap((x) => (x.notes ?? []).map((n) => `${SECTION_TITLES[x.section]}: ${n}`));
  if (nc.length || partly.length) {
    blocks.push({ kind: 'subheading', text: 'Not compared' });
    blocks.push({ kind: 'list', items: [...nc.map((x) => `${SECTION_TITLES[x.section]}: ${x.notCompared}`), ...partly] });
  }
  return { id: 'differences', title: 'Differences from the baseline', blocks };
}

/** Bounds of the timeline picture (an SVG of 100,000 marks helps nobody and weighs megabytes). */
const MAX_LANES = 40;
const MAX_MARKS = 2000;

/** Lane name for incidents whose log lines carry no host (dmesg, a bare console capture). */
export const NO_HOST_LANE = '(host not in the log)';

/** The timeline picture's data: one lane per host, a mark per dated incident, a line per reboot. */
export function timelineChart(logs: LogIncidents): { chart: TimelineChart | null; words: string[] } {
  const allDated = logs.timeline.filter((e) => e.ms !== undefined);
  const undated = logs.timeline.length - allDated.length;
  const allLanes = [...new Set(allDated.map((e) => e.host ?? NO_HOST_LANE))];
  // A picture a person can read: the first MAX_LANES hosts, the first MAX_MARKS marks; the rest is counted.
  const lanes = allLanes.slice(0, MAX_LANES);
  const drawn = new Set(lanes);
  const dated = allDated.filter((e) => drawn.has(e.host ?? NO_HOST_LANE)).slice(0, MAX_MARKS);
  const notDrawn = allDated.length - dated.length;
  const incidents = dated.filter((e) => e.kind !== 'boot');
  const boots = dated.filter((e) => e.kind === 'boot');
  const legend = [...new Set(incidents.map((e) => e.kind))];
  const words: string[] = [];
  for (const lane of lanes) {
    const mine = incidents.filter((e) => (e.host ?? NO_HOST_LANE) === lane);
    const byKind = legend.map((k) => [k, mine.filter((e) => e.kind === k).length] as const).filter(([, n]) => n);
    const nBoots = boots.filter((e) => (e.host ?? NO_HOST_LANE) === lane).length;
    const span = mine.length ? ` from ${mine[0]!.when} to ${mine[mine.length - 1]!.when}` : '';
    words.push(`${lane}: ${mine.length} incident(s)${byKind.length ? ` (${byKind.map(([k, n]) => `${n} ${k}`).join(', ')})` : ''}${span}; ${nBoots} reboot(s) logged`);
  }
  if (notDrawn)
    words.push(
      `${notDrawn} dated incident(s) or reboot(s) not drawn or counted above: the picture shows the first ${MAX_LANES} host(s) and ${MAX_MARKS} mark(s)${allLanes.length > lanes.length ? `; hosts left out: ${allLanes.slice(MAX_LANES, MAX_LANES + 20).join(', ')}${allLanes.length > MAX_LANES + 20 ? ', …' : ''}` : ''}.`,
    );
  if (undated) words.push(`${undated} incident(s) without a wall-clock time (kernel seconds only) are not in the picture; the table lists them.`);
  if (logs.timelineOmitted) words.push(`${logs.timelineOmitted} incident(s) beyond the analyser's timeline cap are neither drawn nor listed here; lantern analyze --json has them.`);
  if (!dated.length) return { chart: null, words };
  const chart: TimelineChart = {
    type: 'timeline',
    title: `Kernel incidents by host over time: ${incidents.length} incident(s) on ${lanes.length} host(s), ${boots.length} reboot(s)`,
    lanes,
    legend,
    axisNote: "time (UTC, or the logging host's clock where the log gave no zone)",
    marks: incidents.map((e) => ({ lane: e.host ?? NO_HOST_LANE, ms: e.ms!, kind: e.kind, label: `${e.when} ${e.kind}: ${e.title}${e.task ? ` (${e.task})` : ''}` })),
    lines: boots.map((e) => ({ lane: e.host ?? NO_HOST_LANE, ms: e.ms!, label: `${e.when} ${e.title}` })),
  };
  return { chart, words };
}

/** Incidents `lantern analyze` found in the --logs inputs: one row per group of identical incidents. */
export function logsSection({ logs }: ReportInput): ReportSection | null {
  if (!logs) return null;
  const blocks: Block[] = [];
  const unread = unreadInputs(logs);
  const read = logs.inputs.length - unread.length;
  // What was not read comes first: "no incident" below is only about the inputs that were.
  if (unread.length) blocks.push({ kind: 'para', text: `Not read (${unread.length} of ${logs.inputs.length} input(s)), so incidents they hold are missing here: ${unread.join(', ')}.` });
  if (!read) blocks.push({ kind: 'para', text: 'No log input could be read: this report says nothing about kernel incidents.' });
  else if (!logs.groups.length)
    blocks.push({
      kind: 'para',
      text: `No kernel incident (panic, oops, BUG, WARNING, hung task, lockup, RCU stall, OOM kill, MCE, I/O error, reboot) in the ${read} log input(s) read${unread.length ? ` (${unread.length} not read, above)` : ''}.`,
    });
  else {
    blocks.push({
      kind: 'table',
      head: ['kind', 'incident', 'count', 'first', 'last', 'task'],
      rows: logs.groups.map((g) => [g.kind, g.title + (g.partial ? ` (${g.partial} partial)` : ''), String(g.count), g.first, g.last, g.task ?? '']),
    });
    const t = timelineChart(logs);
    blocks.push({ kind: 'subheading', text: 'Timeline by host' });
    if (t.chart) blocks.push({ kind: 'chart', chart: t.chart });
    blocks.push({ kind: 'list', items: t.words });
  }
  blocks.push({ kind: 'para', text: 'Details, stacks and the full timeline: lantern analyze on the same paths.' });
  blocks.push({
    kind: 'list',
    items: logs.inputs.map((i) => (i.error ? `${i.name}: not read: ${i.error}` : `${i.name}: ${i.format}, ${i.lines} lines, ${i.incidents} incident(s)`)),
  });
  return { id: 'incidents', title: 'Kernel incidents in the logs', blocks };
}

/** Deaths the recorder saw (fatal signals, OOM kills), hung-task records, and the domains of the dead. */
export function storeSection({ store }: ReportInput): ReportSection | null {
  if (!store) return null;
  const blocks: Block[] = [];
  const span = store.firstUs !== null && store.lastUs !== null ? `, ${isoUs(store.firstUs)} to ${isoUs(store.lastUs)}` : '';
  blocks.push({
    kind: 'para',
    text: `Store ${store.path}: ${store.records} record(s)${span}; ${store.deathsTotal} process(es) died of a signal, ${store.deaths.filter((d) => d.oom).length} of those listed killed by the OOM killer.`,
  });
  if (store.deaths.length) {
    if (store.deathsTotal > store.deaths.length)
      blocks.push({ kind: 'para', text: `The newest ${store.deaths.length} of ${store.deathsTotal} deaths are listed; lantern events --type signal --store ${store.path} has all.` });
    blocks.push({ kind: 'subheading', text: 'Signal deaths and OOM kills' });
    const lanes = [...new Set(store.deaths.map((d) => d.program))];
    const legend = [...new Set(store.deaths.map(deathKind))];
    blocks.push({
      kind: 'chart',
      chart: {
        type: 'timeline',
        title: `Signal deaths by program over time: ${store.deaths.length} death(s) of ${lanes.length} program(s)`,
        lanes,
        legend,
        axisNote: 'time (UTC, from the recorder)',
        marks: store.deaths.map((d) => ({ lane: d.program, ms: Math.floor(d.timeUs / 1000), kind: deathKind(d), label: `${isoUs(d.timeUs)} ${d.comm}(${d.pid}) ${d.signal} from ${d.sender}` })),
        lines: [],
      },
    });
    blocks.push({
      kind: 'table',
      head: ['time', 'process', 'signal', 'sent by', 'history'],
      rows: store.deaths.map((d) => [isoUs(d.timeUs), `${d.comm}(${d.pid}) ${d.program}`, d.oom ? `${d.signal} (OOM kill)` : d.signal, d.sender, d.history]),
    });
    blocks.push({ kind: 'subheading', text: 'Process-history tree of the domains involved' });
    blocks.push({ kind: 'chart', chart: { type: 'tree', title: `Domains of the processes that died (${store.tree.filter((r) => r.note).length} involved), with their ancestors`, rows: store.tree } });
    blocks.push({ kind: 'list', items: store.involved.map((d) => `${d.domain}: ${d.note}`) });
    if (store.treeOmitted) blocks.push({ kind: 'para', text: `${store.treeOmitted} more domain(s) not drawn; lantern history tree --store ${store.path} has them all.` });
  } else blocks.push({ kind: 'para', text: 'No process died of a signal while the recorder ran.' });
  blocks.push({ kind: 'subheading', text: 'Hung-task evidence' });
  if (!store.hung.table) blocks.push({ kind: 'para', text: 'This store holds no hung-task records.' });
  else {
    blocks.push({ kind: 'para', text: `${store.hung.rows} hung-task record(s)${store.hung.rows > store.hung.sample.length ? `, the newest ${store.hung.sample.length} listed` : ''}.` });
    if (store.hung.sample.length) blocks.push({ kind: 'table', head: store.hung.columns, rows: store.hung.sample });
  }
  return { id: 'store', title: 'Deaths in the recorder store', blocks };
}

function deathKind(d: StoreFacts['deaths'][number]): string {
  return d.oom ? 'OOM kill' : d.signal;
}

function isoUs(us: number): string {
  return new Date(Math.floor(us / 1000))
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function dataGapsSection({ snapshot: s }: ReportInput): ReportSection | null {
  const items = SECTION_NAMES.filter((n) => s.sections[n].status !== 'ok').map((n) => `${SECTION_TITLES[n]}: ${sectionSize(s, n).replace(/^unknown: /, '')}`);
  items.push(...s.inputProblems.map((p) => `malformed input (skipped): ${p}`));
  if (!items.length) return null;
  return { id: 'gaps', title: 'What could not be read', blocks: [{ kind: 'list', items }] };
}

/** The report, in order: what happened (incidents, deaths: the pictures) comes before what to fix. */
export const REPORT_SECTIONS: SectionBuilder[] = [glanceSection, hostSummarySection, logsSection, storeSection, actionSection, unitsSection, differencesSection, dataGapsSection];

export function buildReport(input: ReportInput, builders: SectionBuilder[] = REPORT_SECTIONS): ReportDoc {
  const sections: ReportSection[] = [];
  for (const b of builders) {
    try {
      const sec = b(input);
      if (sec) sections.push(sec);
    } catch (e) {
      // One broken section must not cost the reader the rest of the report.
      sections.push({ id: 'error', title: 'Section error', blocks: [{ kind: 'para', text: `internal error in ${b.name}: ${(e as Error)?.message ?? String(e)}` }] });
    }
  }
  return { title: `Lantern report: ${input.snapshot.host.name ?? 'unknown host'}`, generatedAt: input.now.toISOString(), sections };
}

/** Run `lantern analyze` over --logs paths (edge). Unreadable inputs are listed in the section, never fatal. */
export async function analyzeLogs(paths: string[]): Promise<LogIncidents | null> {
  if (!paths.length) return null;
  const res = await analyzePaths(paths);
  const groups = res.collector.groups.map((g) => {
    const task = mainTask(g.example);
    return {
      kind: g.kind,
      title: g.title,
      count: g.count,
      partial: g.partialCount,
      first: formatTime(g.first),
      last: formatTime(g.last),
      hosts: g.hosts,
      ...(task !== undefined ? { task } : {}),
    };
  });
  const timeline = res.collector.sortedTimeline().map((e) => ({
    kind: e.kind,
    title: e.title,
    when: formatTime(e.time),
    ...(e.host !== undefined ? { host: e.host } : {}),
    ...(e.sortMs !== undefined ? { ms: e.sortMs } : {}),
    ...(e.task !== undefined ? { task: e.task } : {}),
  }));
  return {
    timeline,
    timelineOmitted: res.collector.timelineOmitted,
    inputs: res.inputs.map((i) => ({ name: i.name, format: i.format, lines: i.lines, incidents: i.incidents, ...(i.error !== undefined ? { error: i.error } : {}) })),
    groups,
    incidents: groups.reduce((n, g) => n + g.count, 0),
  };
}

/* ------------------------------------------------------------------ renderers */

/** One line of host text: control characters (terminal escapes, newlines) become '?'. */
function line(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?').replace(/\n/g, ' ');
}

/** Markdown inside a line or table cell: escape emphasis, code, links, raw HTML and cell bars. */
export function mdInline(s: string): string {
  return line(s).replace(/[\\`*_[\]<>|~&]/g, '\\$&');
}

/** Markdown: backslash-escape everything that could become markup or raw HTML. */
export function mdEscape(s: string): string {
  return (
    mdInline(s)
      // Only at the start can these begin a heading, list, quote or numbered item.
      .replace(/^(\s*)([#+=>-]|\d+\.)/, '$1\\$2')
  );
}

function mdFence(text: string): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}sh\n${text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?')}\n${fence}`;
}

export function renderMarkdown(doc: ReportDoc): string {
  const out = [`# ${mdEscape(doc.title)}`, '', `Generated ${doc.generatedAt} by lantern.`, ''];
  for (const s of doc.sections) {
    out.push(`## ${mdEscape(s.title)}`, '');
    for (const b of s.blocks) {
      switch (b.kind) {
        case 'para':
          out.push(mdEscape(b.text), '');
          break;
        case 'subheading':
          out.push(`### ${mdEscape(b.text)}`, '');
          break;
        case 'list':
          out.push(...b.items.map((i) => `- ${mdEscape(i)}`), '');
          break;
        case 'code':
          out.push(mdFence(b.text), '');
          break;
        case 'chart':
          // Pictures are HTML only; the blocks around a chart say the same in words.
          break;
        case 'table':
          out.push(`| ${b.head.map(mdInline).join(' | ')} |`, `|${b.head.map(() => '---').join('|')}|`, ...b.rows.map((r) => `| ${r.map(mdInline).join(' | ')} |`), '');
          break;
      }
    }
  }
  return out.join('\n');
}

export function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!).replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?');
}

const CSS = `body{font:15px/1.45 system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
table{max-width:100%}
pre{background:#f4f4f4;padding:.6em;overflow-x:auto}.fail{color:#b00;font-weight:bold}.warn{color:#a60}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}`;

export function renderHtml(doc: ReportDoc): string {
  // Self-contained: inline CSS, no scripts, no external resources; every text node is escaped.
  const out = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">`,
    `<title>${htmlEscape(doc.title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${htmlEscape(doc.title)}</h1>`,
    `<p>Generated ${htmlEscape(doc.generatedAt)} by lantern.</p>`,
  ];
  for (const s of doc.sections) {
    out.push(`<section id="${htmlEscape(s.id)}"><h2>${htmlEscape(s.title)}</h2>`);
    for (const b of s.blocks) {
      switch (b.kind) {
        case 'para':
          out.push(`<p>${htmlEscape(b.text)}</p>`);
          break;
        case 'subheading': {
          const cls = /^FAIL /.test(b.text) ? ' class="fail"' : /^WARN /.test(b.text) ? ' class="warn"' : '';
          out.push(`<h3${cls}>${htmlEscape(b.text)}</h3>`);
          break;
        }
        case 'list':
          out.push('<ul>', ...b.items.map((i) => `<li${i.startsWith(UNREAD_PREFIX) ? ' class="fail"' : ''}>${htmlEscape(i)}</li>`), '</ul>');
          break;
        case 'code':
          out.push(`<pre><code>${htmlEscape(b.text)}</code></pre>`);
          break;
        case 'chart':
          out.push(`<figure>${renderChart(b.chart)}<figcaption>${htmlEscape(b.chart.title)}</figcaption></figure>`);
          break;
        case 'table':
          out.push('<table>');
          if (b.head.some((h) => h)) out.push(`<tr>${b.head.map((h) => `<th>${htmlEscape(h)}</th>`).join('')}</tr>`);
          out.push(...b.rows.map((r) => `<tr>${r.map((c) => `<td>${htmlEscape(c)}</td>`).join('')}</tr>`), '</table>');
          break;
      }
    }
    out.push('</section>');
  }
  out.push('</body></html>', '');
  return out.join('\n');
}

export function renderText(doc: ReportDoc): string {
  const out = [line(doc.title), '='.repeat(Math.min(78, doc.title.length)), `Generated ${doc.generatedAt} by lantern.`, ''];
  for (const s of doc.sections) {
    out.push(line(s.title), '-'.repeat(Math.min(78, s.title.length)), '');
    for (const b of s.blocks) {
      switch (b.kind) {
        case 'para':
          out.push(line(b.text), '');
          break;
        case 'subheading':
          out.push(`* ${line(b.text)}`);
          break;
        case 'list':
          out.push(...b.items.map((i) => `    - ${line(i)}`), '');
          break;
        case 'code':
          out.push(...b.text.split('\n').map((l) => `    $ ${line(l)}`), '');
          break;
        case 'chart':
          break;
        case 'table': {
          const w = b.head.map((_, i) => Math.min(40, Math.max(b.head[i]!.length, ...b.rows.map((r) => line(r[i] ?? '').length))));
          if (b.head.some((h) => h))
            out.push(
              '  ' +
                b.head
                  .map((h, i) => h.padEnd(w[i]!))
                  .join('  ')
                  .trimEnd(),
            );
          out.push(
            ...b.rows.map(
              (r) =>
                '  ' +
                r
                  .map((c, i) => (i === r.length - 1 ? line(c) : line(c).padEnd(w[i]!)))
                  .join('  ')
                  .trimEnd(),
            ),
            '',
          );
          break;
        }
      }
    }
  }
  return out.join('\n');
}

export function renderReport(doc: ReportDoc, format: ReportFormat): string {
  return format === 'html' ? renderHtml(doc) : format === 'text' ? renderText(doc) : renderMarkdown(doc);
}
