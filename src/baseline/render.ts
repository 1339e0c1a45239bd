/** Human output of `baseline show`, `baseline list` and `diff`. Pure: data in, text out. */
import { printable } from '../common/term.js';
import type { Paint } from '../common/term.js';
import type { Change, DiffResult, SnapshotRef } from './diff.js';
import { type SectionName, SECTION_NAMES, type Snapshot, type Units } from './model.js';
import { unitCounts, unitRows } from './units.js';
import type { ListedSnapshot } from './store.js';

export const SECTION_TITLES: Record<SectionName, string> = {
  kernel: 'kernel',
  cmdline: 'kernel command line',
  sysctls: 'sysctls',
  modules: 'modules',
  mounts: 'mounts',
  packages: 'packages',
  units: 'units',
  memory: 'memory',
  cpus: 'CPUs',
  oomExempt: 'processes exempt from the OOM killer',
  check: 'readiness (lantern check)',
};

/** One-line size of a section's data, for `show` and the report. */
export function sectionSize(s: Snapshot, name: SectionName): string {
  const sec = s.sections[name];
  if (sec.status !== 'ok') return `unknown: ${sec.reason}`;
  const d = sec.data as never as Record<string, unknown>;
  switch (name) {
    case 'kernel':
      return String(d.release);
    case 'cmdline':
      return `${(d.params as string[]).length} parameters`;
    case 'sysctls':
      // skipped is not checked on load (DATA_SHAPE): only a count is shown.
      return `${Object.keys(d.values as object).length} values${typeof d.skipped === 'number' && d.skipped ? `, ${d.skipped} unreadable skipped` : ''}`;
    case 'modules':
      return `${(d.names as string[]).length} loaded`;
    case 'mounts':
      return `${(d.entries as unknown[]).length} mounted`;
    case 'packages':
      return `${Object.keys(d.installed as object).length} installed (${d.format as 'dpkg' | 'rpm'})`;
    case 'units':
      return unitCounts(d as never as Units);
    case 'memory':
      return `MemTotal ${(d.memTotalKiB as number | null) ?? '?'} kB, SwapTotal ${(d.swapTotalKiB as number | null) ?? '?'} kB`;
    case 'cpus':
      return String(d.count as number);
    case 'oomExempt':
      return `${(d.processes as unknown[]).length} process(es)`;
    case 'check': {
      // Counted from the findings (validated on load) rather than trusting the stored summary.
      const n: Record<string, number> = { fail: 0, warn: 0, unknown: 0 };
      let worst = 'ok';
      const rank: Record<string, number> = { ok: 0, info: 1, unknown: 2, warn: 3, fail: 4 };
      for (const f of (d as { findings: { status: string }[] }).findings) {
        n[f.status] = (n[f.status] ?? 0) + 1;
        if ((rank[f.status] ?? 0) > (rank[worst] ?? 0)) worst = f.status;
      }
      return `verdict ${worst}: ${n.fail} fail, ${n.warn} warn, ${n.unknown} unknown`;
    }
  }
}

function sourceOf(s: Snapshot): string {
  return s.host.source.kind === 'live' ? 'live host' : `${s.host.source.kind} ${s.host.source.root}`;
}

export function renderShow(s: Snapshot, p: Paint): string {
  const lines = [`${p.bold('snapshot')} ${printable(s.host.name ?? 'unknown host')}  taken ${s.takenAt}  from ${printable(sourceOf(s))}  (schema ${s.schemaVersion})`, ''];
  const w = Math.max(...SECTION_NAMES.map((n) => SECTION_TITLES[n].length));
  for (const n of SECTION_NAMES) {
    const sec = s.sections[n];
    const size = printable(sectionSize(s, n));
    lines.push(`  ${SECTION_TITLES[n].padEnd(w)}  ${sec.status === 'ok' ? size : p.magenta(size)}`);
    if (sec.status === 'ok') {
      lines.push(`  ${''.padEnd(w)}  ${p.dim('from ' + printable(sec.sources.join(', ')))}`);
      for (const note of sec.notes ?? []) lines.push(`  ${''.padEnd(w)}  ${p.dim(printable(note))}`);
    }
  }
  if (s.inputProblems.length) {
    lines.push('', `input problems (${s.inputProblems.length}: malformed parts skipped, over-long data cut):`);
    for (const x of s.inputProblems) lines.push(`  ${printable(x)}`);
  }
  return lines.join('\n') + '\n';
}

export function renderList(dir: string, snaps: ListedSnapshot[], skipped: { file: string; reason: string }[], p: Paint): string {
  if (!snaps.length && !skipped.length) return `no snapshots in ${printable(dir)}\n`;
  const lines = snaps.map(
    (s) => `${s.takenAt}  ${printable(s.host ?? '?').padEnd(20)}  ${s.source.padEnd(9)}  ${printable(s.kernel ?? '?').padEnd(28)}  check ${s.verdict ?? '?'}  ${printable(s.file)}`,
  );
  for (const x of skipped) lines.push(p.yellow(`skipped ${printable(x.file)}: ${printable(x.reason)}`));
  return lines.join('\n') + '\n';
}

function ref(label: string, r: SnapshotRef): string {
  return `${label}  ${printable(r.host ?? '?')}  ${r.takenAt}  ${printable(r.source)}${r.kernel ? `  kernel ${printable(r.kernel)}` : ''}`;
}

/** A change as one line: "~ kernel.panic: 0 → 10  (note)". */
export function changeText(c: Change): string {
  const key = printable(c.key);
  const note = c.note ? `  (${c.note})` : '';
  const v = (s: string | undefined) => printable(s ?? '').replace(/\t/g, ' ');
  // Modules and units have nothing beyond the key; cmdline + and - show the token as the key.
  if (c.op === '~') return `${key}: ${v(c.old)} → ${v(c.new)}${note}`;
  const value = c.op === '+' ? c.new : c.old;
  return `${key}${value !== undefined && value !== c.key ? `: ${v(value)}` : ''}${note}`;
}

export function sectionCounts(changes: Change[]): string {
  const n = { '+': 0, '-': 0, '~': 0 };
  for (const c of changes) n[c.op]++;
  const parts = [n['+'] ? `${n['+']} added` : '', n['-'] ? `${n['-']} removed` : '', n['~'] ? `${n['~']} changed` : ''].filter(Boolean);
  const worse = changes.filter((c) => c.worse).length;
  if (worse) parts.push(`${worse} new fail`);
  return parts.join(', ');
}

/** `limit`: changes shown per section (0 = all); the rest are counted. */
export function renderDiff(d: DiffResult, p: Paint, limit = 0): string {
  const lines = [ref('baseline', d.baseline), ref('current ', d.current), ''];
  if (d.baseline.host && d.current.host && d.baseline.host !== d.current.host) {
    lines.splice(2, 0, p.yellow(`note: these are different hosts (${printable(d.baseline.host)}, ${printable(d.current.host)})`));
  }
  const mark = (c: Change) => (c.worse ? p.bold(p.red('!')) : c.op === '+' ? p.green('+') : c.op === '-' ? p.red('-') : p.yellow('~'));
  for (const s of d.sections) {
    if (!s.changes.length) continue;
    lines.push(p.bold(`${SECTION_TITLES[s.section]} (${sectionCounts(s.changes)})`));
    // Findings that became fail are shown first so a limit never hides them.
    const ordered = [...s.changes.filter((c) => c.worse), ...s.changes.filter((c) => !c.worse)];
    const shown = limit > 0 ? ordered.slice(0, limit) : ordered;
    for (const c of shown) lines.push(`  ${mark(c)} ${c.worse ? p.red(changeText(c)) : changeText(c)}`);
    if (shown.length < ordered.length) lines.push(p.dim(`  … ${ordered.length - shown.length} more (--limit 0 or --json for all)`));
    lines.push('');
  }
  if (d.access?.changes.length) {
    lines.push(p.bold(`domains and access lists (${sectionCounts(d.access.changes)})`));
    for (const c of limit > 0 ? d.access.changes.slice(0, limit) : d.access.changes) lines.push(`  ${mark(c)} ${changeText(c)}`);
    if (limit > 0 && d.access.changes.length > limit) lines.push(p.dim(`  … ${d.access.changes.length - limit} more (--limit 0 or --json for all)`));
    lines.push('');
  }
  if (d.access?.notCompared) lines.push(p.dim(`domains and access lists not compared: ${printable(d.access.notCompared)}`), '');
  // A section read on one side only may hide a change; one unknown on both sides is just not collected.
  const oneSided = d.sections.filter((s) => s.notCompared && s.unknownOn !== 'both');
  const partly = d.sections.filter((s) => s.notes?.length);
  if (oneSided.length || partly.length) {
    lines.push(p.magenta('not compared (unknown on one side):'));
    for (const s of oneSided) lines.push(`  ? ${SECTION_TITLES[s.section]}: ${printable(s.notCompared!)}`);
    for (const s of partly) for (const n of s.notes!) lines.push(`  ? ${SECTION_TITLES[s.section]}: ${printable(n)}`);
    lines.push('');
  }
  const und = d.sections.flatMap((s) => s.undetermined ?? []);
  if (und.length) {
    lines.push(p.magenta(`readiness not determined on one side (${und.length}, not counted):`));
    for (const c of und) lines.push(`  ? ${changeText(c)}`);
    lines.push('');
  }
  const neither = d.sections.filter((s) => s.unknownOn === 'both');
  if (neither.length) lines.push(p.dim(`unknown on both sides (see baseline show): ${neither.map((s) => SECTION_TITLES[s.section]).join(', ')}`), '');
  const sm = d.summary;
  const verdict = sm.exitCode === 2 ? p.bold(p.red('a check finding became fail')) : sm.exitCode === 1 ? 'differences found' : p.green('no differences');
  lines.push(`${sm.differences} difference(s), ${d.ignored.count} volatile or ignored change(s) hidden — ${verdict}`);
  return lines.join('\n') + '\n';
}

/** Accept the section names and their singular / CLI-friendly forms ("sysctl", "oom-exempt"). */
export function sectionByName(name: string): SectionName | null {
  const n = name.trim();
  if ((SECTION_NAMES as string[]).includes(n)) return n as SectionName;
  const alias: Record<string, SectionName> = { sysctl: 'sysctls', module: 'modules', mount: 'mounts', package: 'packages', unit: 'units', cpu: 'cpus', oom: 'oomExempt', 'oom-exempt': 'oomExempt' };
  return alias[n] ?? null;
}

/** The lines of one section's data, one item per line (`baseline show FILE --section NAME`). */
export function renderSectionData(s: Snapshot, name: SectionName): string {
  const sec = s.sections[name];
  if (sec.status !== 'ok') return `${SECTION_TITLES[name]}: unknown: ${printable(sec.reason)}\n`;
  const lines: string[] = [];
  const sx = s.sections;
  switch (name) {
    case 'kernel':
      if (sx.kernel.status === 'ok') lines.push(sx.kernel.data.release);
      break;
    case 'cmdline':
      if (sx.cmdline.status === 'ok') lines.push(...sx.cmdline.data.params);
      break;
    case 'sysctls':
      if (sx.sysctls.status === 'ok') for (const [k, v] of Object.entries(sx.sysctls.data.values)) lines.push(`${k} = ${v.replace(/\n/g, ' | ')}`);
      break;
    case 'modules':
      if (sx.modules.status === 'ok') lines.push(...sx.modules.data.names);
      break;
    case 'mounts':
      if (sx.mounts.status === 'ok') for (const m of sx.mounts.data.entries) lines.push(`${m.mountpoint} ${m.device} ${m.fstype} ${m.options}`);
      break;
    case 'packages':
      if (sx.packages.status === 'ok') for (const [k, v] of Object.entries(sx.packages.data.installed)) lines.push(`${k} ${v.join(' ')}`);
      break;
    case 'units':
      if (sx.units.status === 'ok') for (const r of unitRows(sx.units.data)) lines.push(`${r.unit} ${r.state}${r.detail ? ` (${r.detail})` : ''}`);
      break;
    case 'memory':
      if (sx.memory.status === 'ok') lines.push(`MemTotal ${sx.memory.data.memTotalKiB ?? 'unknown'} kB`, `SwapTotal ${sx.memory.data.swapTotalKiB ?? 'unknown'} kB`);
      break;
    case 'cpus':
      if (sx.cpus.status === 'ok') lines.push(String(sx.cpus.data.count));
      break;
    case 'oomExempt':
      if (sx.oomExempt.status === 'ok') for (const p of sx.oomExempt.data.processes) lines.push(`${p.comm} pid ${p.pid} (${p.value})`);
      break;
    case 'check':
      if (sx.check.status === 'ok') for (const f of sx.check.data.findings) lines.push(`${f.status.padEnd(7)} ${f.id.padEnd(18)} ${f.summary}`);
      break;
  }
  return lines.map(printable).join('\n') + (lines.length ? '\n' : '');
}
