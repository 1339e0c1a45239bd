/**
 * Output of `lantern analyze`: the JSON document (schema in docs/analyze.md, `schemaVersion`)
 * and the human report (summary, timeline, details per group). Pure: strings out.
 */
import type { Paint } from '../common/term.js';
import type { AnalysisResult } from './analyze.js';
import type { FilteredBy, Group, TimeRef, TimelineEntry } from './group.js';
import type { Incident } from './model.js';

export const SCHEMA_VERSION = 1;

export function toJson(res: AnalysisResult): unknown {
  const c = res.collector;
  const timeline = c.sortedTimeline().map((e) => {
    const o: Record<string, unknown> = { time: e.time, kind: e.kind, title: e.title };
    if (e.host !== undefined) o['host'] = e.host;
    if (e.task !== undefined) o['task'] = e.task;
    o['partial'] = e.partial;
    o['group'] = e.group;
    return o;
  });
  return {
    schemaVersion: SCHEMA_VERSION,
    inputs: res.inputs,
    summary: {
      incidents: c.groups.reduce((n, g) => n + g.count, 0),
      groups: c.groups.length,
      partialIncidents: c.groups.reduce((n, g) => n + g.partialCount, 0),
      byKind: c.byKind(),
      filteredOut: c.filteredOut,
      filteredBy: c.filteredBy,
      undatedExcluded: c.undatedExcluded,
      timelineOmitted: c.timelineOmitted,
    },
    timeline,
    groups: c.groups.map((g) => ({
      id: g.id,
      kind: g.kind,
      title: g.title,
      count: g.count,
      partialCount: g.partialCount,
      first: g.first,
      last: g.last,
      hosts: g.hosts,
      example: incidentJson(g.example),
    })),
  };
}

function incidentJson(inc: Incident): Record<string, unknown> {
  const o: Record<string, unknown> = { kind: inc.kind };
  if (inc.subkind) o['subkind'] = inc.subkind;
  o['title'] = inc.title;
  o['headline'] = inc.headline;
  o['time'] = {
    ...(inc.wall ? { wall: inc.wall.iso, wallZoned: inc.wall.zoned } : {}),
    ...(inc.kernelTimeText ? { kernel: inc.kernelTimeText } : {}),
    boot: inc.boot,
    file: inc.file,
    line: inc.lineNo,
  };
  if (inc.host !== undefined) o['host'] = inc.host;
  if (inc.cpu !== undefined) o['cpu'] = inc.cpu;
  o['tasks'] = inc.tasks;
  if (inc.guiltyFrame) o['guiltyFrame'] = inc.guiltyFrame;
  o['altFrames'] = inc.altFrames;
  if (inc.rip) o['rip'] = inc.rip;
  o['frames'] = inc.frames.map((f) => (f.module ? `${f.func} [${f.module}]` : f.func));
  o['facts'] = inc.facts;
  if (inc.oom) o['oom'] = inc.oom;
  if (inc.sysrq) o['sysrq'] = inc.sysrq;
  o['partial'] = inc.partial;
  o['partialReasons'] = inc.partialReasons;
  o['excerpt'] = inc.excerpt;
  o['excerptOmitted'] = inc.excerptOmitted;
  return o;
}

export function formatTime(t: TimeRef): string {
  if (t.wall) return t.wall.replace('T', ' ');
  if (t.kernel !== undefined) return `boot ${t.boot} +${t.kernel}s`;
  return `${t.file}:${t.line}`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function renderText(res: AnalysisResult, p: Paint): string {
  const c = res.collector;
  const out: string[] = [];
  const total = c.groups.reduce((n, g) => n + g.count, 0);
  const lines = res.inputs.reduce((n, i) => n + i.lines, 0);
  const bytes = res.inputs.reduce((n, i) => n + i.bytes, 0);
  out.push(
    p.bold(
      `lantern analyze: ${res.inputs.length} input${res.inputs.length === 1 ? '' : 's'}, ${lines} lines (${fmtBytes(bytes)}), ${total} incident${total === 1 ? '' : 's'} in ${c.groups.length} group${c.groups.length === 1 ? '' : 's'}`,
    ),
  );
  for (const i of res.inputs) {
    const notes: string[] = [];
    if (i.compression && i.compression !== 'none') notes.push(i.compression);
    if (i.rotationSet) notes.push(`rotation set ${i.rotationSet}`);
    if (i.truncated) notes.push('truncated: read up to the cut');
    if (i.malformedLines) notes.push(count(i.malformedLines, 'malformed line'));
    if (i.overlongLines) notes.push(`${count(i.overlongLines, 'overlong line')} cut (${fmtBytes(i.overlongBytesCut)} dropped)`);
    if (i.nulBytes) notes.push(`${count(i.nulBytes, 'NUL byte')} in ${count(i.nulRuns, 'run')} skipped`);
    if (i.invalidUtf8Lines) notes.push(`${count(i.invalidUtf8Lines, 'line')} with invalid UTF-8`);
    if (i.partialIncidents) notes.push(count(i.partialIncidents, 'partial incident'));
    const err = i.error ? p.red(` error: ${i.error}`) : '';
    out.push(`  ${i.name}: ${i.format}, ${count(i.lines, 'line')}, ${count(i.incidents, 'incident')}${notes.length ? ' (' + notes.join(', ') + ')' : ''}${err}`);
  }
  if (c.filteredOut) out.push(`  ${c.filteredOut} incident${c.filteredOut === 1 ? '' : 's'} left out: ${filterReasons(c.filteredBy)}`);
  out.push('');
  out.push(p.bold('SUMMARY'));
  const byKind = Object.entries(c.byKind()).sort((a, b) => b[1] - a[1]);
  if (byKind.length === 0) out.push('  no incidents found');
  for (const [k, n] of byKind) out.push(`  ${pad(k, 18)} ${n}`);
  if (total === 0) return out.join('\n') + '\n';
  out.push('');
  out.push(p.bold('TIMELINE'));
  // Runs of the same group (a disk failing, a flood of segfaults) take one line.
  const tl = c.sortedTimeline();
  for (let i = 0; i < tl.length;) {
    let j = i + 1;
    while (j < tl.length && tl[j]!.group === tl[i]!.group && tl[j]!.host === tl[i]!.host) j++;
    const run = j - i;
    out.push('  ' + timelineLine(tl[i]!, p) + (run > 1 ? `  ×${run} until ${formatTime(tl[j - 1]!.time)}` : ''));
    i = j;
  }
  if (c.timelineOmitted) out.push(`  … ${c.timelineOmitted} more ${c.timelineOmitted === 1 ? 'incident' : 'incidents'} not listed (timeline cap)`);
  out.push('');
  out.push(p.bold('DETAILS'));
  for (const g of c.groups) out.push(...groupDetails(g, p), '');
  return out.join('\n');
}

function filterReasons(f: FilteredBy): string {
  const parts: string[] = [];
  if (f.kind) parts.push(`${f.kind} by --kind`);
  if (f.host) parts.push(`${f.host} by --host`);
  if (f.beforeSince) parts.push(`${f.beforeSince} before --since`);
  if (f.afterUntil) parts.push(`${f.afterUntil} after --until`);
  if (f.noWallClock) parts.push(`${f.noWallClock} without wall-clock time (boot-relative only: try --since boot+SECONDS)`);
  if (f.noKernelTime) parts.push(`${f.noKernelTime} without a kernel time stamp (a boot+ bound needs one)`);
  return parts.join(', ');
}

function timelineLine(e: TimelineEntry, p: Paint): string {
  const kindCol = e.kind === 'panic' || e.kind === 'oops' ? p.red(pad(e.kind, 16)) : e.kind === 'boot' ? p.cyan(pad(e.kind, 16)) : p.yellow(pad(e.kind, 16));
  return `${pad(formatTime(e.time), 27)} ${pad(e.host ?? '-', 14)} ${kindCol} ${e.title}${e.task ? ` [${e.task}]` : ''}${e.partial ? p.dim(' (partial)') : ''}  #${e.group}`;
}

function groupDetails(g: Group, p: Paint): string[] {
  const inc = g.example;
  const o: string[] = [];
  o.push(p.bold(`#${g.id} ${g.title}`) + `  (${g.kind}${inc.subkind ? '/' + inc.subkind : ''}, ×${g.count}${g.partialCount ? `, ${g.partialCount} partial` : ''})`);
  o.push(`    first: ${formatTime(g.first)}   last: ${formatTime(g.last)}${g.hosts.length ? '   hosts: ' + g.hosts.join(', ') : ''}`);
  o.push(`    kernel said: ${inc.headline}`);
  if (inc.tasks.length) o.push(`    tasks: ${inc.tasks.map((t) => `${t.role} ${t.comm}${t.pid !== undefined ? ':' + t.pid : ''}${t.state ? ' state ' + t.state : ''}`).join('; ')}`);
  if (inc.cpu !== undefined) o.push(`    cpu: ${inc.cpu}`);
  if (inc.guiltyFrame) o.push(`    guilty frame: ${inc.guiltyFrame}${inc.rip && inc.rip !== inc.guiltyFrame ? `   (RIP ${inc.rip})` : ''}`);
  if (inc.frames.length)
    o.push(
      `    stack: ${inc.frames
        .slice(0, 8)
        .map((f) => f.func)
        .join(' ← ')}${inc.frames.length > 8 ? ' ← …' : ''}`,
    );
  const facts = Object.entries(inc.facts);
  if (facts.length) o.push(`    facts: ${facts.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (inc.oom) {
    const m = inc.oom;
    if (m.invoker) o.push(`    invoked by: ${m.invoker.comm}${m.invoker.pid !== undefined ? ':' + m.invoker.pid : ''} gfp_mask=${m.gfpMask ?? '?'} order=${m.order ?? '?'}`);
    if (m.constraint) o.push(`    constraint: ${m.constraint}${m.cgroup ? ' ' + m.cgroup : ''}`);
    if (m.victim)
      o.push(
        `    victim: ${m.victim.comm}:${m.victim.pid}${m.victim.anonRssKb !== undefined ? ` anon-rss ${m.victim.anonRssKb} kB file-rss ${m.victim.fileRssKb} kB` : ''}${m.victim.oomScoreAdj !== undefined ? ` oom_score_adj ${m.victim.oomScoreAdj}` : ''}${m.victim.score !== undefined ? ` score ${m.victim.score}` : ''}`,
      );
    if (m.memory)
      o.push(
        `    memory: ${Object.entries(m.memory)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
      );
    if (m.taskTableRows)
      o.push(`    task table: ${m.taskTableRows} tasks${m.largestRssTask ? `, largest RSS ${m.largestRssTask.comm}:${m.largestRssTask.pid} (${m.largestRssTask.rssPages} pages)` : ''}`);
  }
  if (inc.sysrq) {
    const s = inc.sysrq;
    o.push(
      `    tasks dumped: ${s.tasks} (${Object.entries(s.byState)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')})`,
    );
    for (const bg of s.blockedGroups) o.push(`    ${bg.count} task${bg.count === 1 ? '' : 's'} blocked in ${bg.frames.join(' ← ') || '(no stack)'}   e.g. ${bg.examples.join(', ')}`);
  }
  if (inc.partial) o.push(p.yellow(`    partial: ${inc.partialReasons.join('; ')}`));
  o.push(`    source: ${inc.file}:${inc.lineNo}`);
  const ex = inc.excerpt.slice(0, 12);
  for (const l of ex) o.push(p.dim(`    | ${l}`));
  const more = inc.excerpt.length - ex.length + inc.excerptOmitted;
  if (more > 0) o.push(p.dim(`    | … ${more} more lines (--json has up to 80)`));
  return o;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** "1 line", "2 lines": counts in the text report read as English. */
function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
