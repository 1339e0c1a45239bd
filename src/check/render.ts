/** Human output (a compact table grouped by severity) and the fix script. Pure: report in, text out. */
import Table from 'cli-table3';
import type { Paint } from '../common/term.js';
import { type Finding, type FindingWaiver, type Status, STATUS_ORDER } from './model.js';
import type { CheckReport } from './run.js';
import { printable } from '../common/term.js';

function colourFor(p: Paint, s: Status): (t: string) => string {
  switch (s) {
    case 'fail':
      return (t) => p.bold(p.red(t));
    case 'warn':
      return p.yellow;
    case 'unknown':
      return p.magenta;
    case 'info':
      return p.cyan;
    case 'waived':
      return p.blue;
    default:
      return p.green;
  }
}

export function summaryLine(r: CheckReport): string {
  const c = r.summary.counts;
  const where = r.host.kind === 'live' ? 'live host' : `${r.host.kind} ${r.host.root}`;
  const who = [r.host.hostname, r.host.kernel ? `kernel ${r.host.kernel}` : null]
    .filter(Boolean)
    .map((x) => printable(x!))
    .join(', ');
  // waived and the profile only when used, so the line of a plain run stays as it was.
  const waived = c.waived ? `, ${c.waived} waived` : '';
  const profile = r.profile !== 'standard' ? `; profile ${r.profile}` : '';
  return `lantern check: ${c.fail} fail, ${c.warn} warn${waived}, ${c.unknown} unknown, ${c.info} info, ${c.ok} ok — ${where}${who ? ` (${who})` : ''}${profile}`;
}

/** " by X until D (<where>): reason" for a waiver; printable() because all of it comes from a person or a file. */
export function waiverText(w: FindingWaiver): string {
  const by = w.by ? ` by ${w.by}` : '';
  const until = w.expires ? (w.state === 'expired' ? ` expired ${w.expires}` : ` until ${w.expires}`) : '';
  return printable(`${by}${until} (${w.where}): ${w.reason ?? '(no reason given)'}`);
}

/** The table's text for a finding: its summary, then what the profile and a waiver did to it. */
function findingText(r: CheckReport, f: Finding): string {
  let t = printable(f.summary);
  const shown = f.waiver?.state === 'applied' ? f.waiver.waivedStatus : f.status;
  if (f.checkStatus && shown && f.checkStatus !== shown) t += ` [profile ${r.profile}: ${f.checkStatus} → ${shown}]`;
  if (f.waiver?.state === 'applied') t += ` — waived, was ${f.waiver.waivedStatus}${waiverText(f.waiver)}`;
  else if (f.waiver?.state === 'expired') t += ` — waiver${waiverText(f.waiver)}`;
  return t;
}

/** Evidence lines of one finding: "what = value  (path)" or "what: reason". */
function evidenceLines(f: CheckReport['findings'][number]): string[] {
  return f.evidence.map((e) =>
    e.value !== null ? `${printable(e.what)} = ${printable(e.value)}${e.path ? `  (${printable(e.path)})` : ''}` : `${printable(e.what)}: ${printable(e.reason ?? 'not available')}`,
  );
}

export function renderHuman(r: CheckReport, p: Paint, width = 120, verbose = false): string {
  const statusW = 9;
  const idW = 20;
  const textW = Math.max(30, Math.min(width, 200) - statusW - idW - 10);
  const table = new Table({
    head: ['status', 'check', 'finding'],
    colWidths: [statusW, idW, textW],
    wordWrap: true,
    style: { head: [], border: [], compact: true },
  });
  const sorted = [...r.findings].sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status));
  for (const f of sorted) table.push([colourFor(p, f.status)(f.status.toUpperCase()), f.id, findingText(r, f)]);
  const out: string[] = [table.toString()];
  if (verbose) {
    out.push('', p.bold('Details:'));
    for (const f of sorted) {
      out.push(`  ${colourFor(p, f.status)(f.id)} (${f.status}): ${printable(f.summary)}`);
      if (f.why) out.push(`      why: ${printable(f.why)}`);
      if (f.waiver) out.push(`      waiver: ${f.waiver.state === 'applied' ? `waived (was ${f.waiver.waivedStatus})` : 'expired, not applied'}${waiverText(f.waiver)}`);
      for (const e of evidenceLines(f)) out.push(`      evidence: ${e}`);
      // warn/fail remedies are listed under "What to change"; an info's advice is shown here.
      if (f.remedy && f.status === 'info') out.push(`      advice: ${printable(f.remedy.text)}`, ...f.remedy.commands.map((c) => `          ${c}`));
      if (f.tradeoff && f.status !== 'warn' && f.status !== 'fail') out.push(`      trade-off: ${printable(f.tradeoff)}`);
    }
  }
  const todo = sorted.filter((f) => f.remedy && (f.status === 'fail' || f.status === 'warn'));
  if (todo.length) {
    out.push('', p.bold('What to change:'));
    for (const f of todo) {
      out.push(`  ${colourFor(p, f.status)(f.id)}: ${printable(f.remedy!.text)}`);
      for (const c of f.remedy!.commands) out.push(`      ${c}`);
      if (f.tradeoff) out.push(`      note: ${printable(f.tradeoff)}`);
    }
  }
  if (r.inputProblems.length)
    out.push('', `Input problems (malformed parts skipped, over-long data cut, special files and link chains refused): ${r.inputProblems.length}`, ...r.inputProblems.map((x) => `  ${printable(x)}`));
  out.push('', summaryLine(r));
  out.push(
    verbose ? 'Run with --fix-script for a shell script of the safe remedies.' : 'Run with -v for evidence and reasons, --json for machines, --fix-script for a shell script of the safe remedies.',
  );
  return out.join('\n') + '\n';
}

/** A comment line for the script: host-derived text cannot end the comment or inject a command. */
function comment(s: string): string {
  // Only a line break could end a shell comment; printable() turns every control character into '?'.
  return '# ' + printable(s).replace(/[\u2028\u2029]/g, '?');
}

function wrapComment(prefix: string, text: string, width = 100): string[] {
  const words = printable(text).split(/\s+/);
  const lines: string[] = [];
  let cur = prefix;
  for (const w of words) {
    if (cur.length + w.length + 1 > width && cur.trim() !== prefix.trim()) {
      lines.push(comment(cur));
      cur = ' '.repeat(prefix.length);
    }
    cur += (cur.endsWith(' ') || cur === '' ? '' : ' ') + w;
  }
  lines.push(comment(cur));
  return lines;
}

/**
 * An idempotent POSIX shell script with the remedies of every warn/fail finding. Safe remedies
 * are active; those that need a reboot, reserve memory or change process policy are commented out.
 * Lantern never runs it.
 */
export function renderFixScript(r: CheckReport): string {
  const out: string[] = [
    '#!/bin/sh',
    comment(`Generated by lantern check ${r.generator.version} at ${r.generatedAt} for ${r.host.kind === 'live' ? 'this host' : `${r.host.kind} ${r.host.root}`}.`),
    comment('Review it, then run it as root on that host. Lantern never applies it itself.'),
    comment('Every step is idempotent: running the script twice changes nothing the second time.'),
    comment('Steps that need a reboot, reserve memory or change process policy are commented out.'),
    'set -eu',
    '[ "$(id -u)" = 0 ] || { echo "run this script as root" >&2; exit 1; }',
    '',
  ];
  // A command shared by two findings is written once; `update-grub` is repeated after every edit
  // so each block is complete on its own; a command first written commented out is written again
  // when a later finding needs it active.
  const seenActive = new Set<string>();
  const seenAny = new Set<string>();
  let active = 0;
  let manual = 0;
  let waived = 0;
  const sorted = [...r.findings].sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status));
  for (const f of sorted) {
    if (f.status === 'waived' && f.remedy && f.waiver) {
      // Accepted on purpose: say so, and leave the remedy out entirely.
      out.push(comment(`--- ${f.id} (waived ${f.waiver.waivedStatus}): ${f.summary}`));
      out.push(...wrapComment('waived', waiverText(f.waiver)));
      out.push(comment('(remedy left out: this finding is waived)'), '');
      waived++;
      continue;
    }
    if (!f.remedy || (f.status !== 'fail' && f.status !== 'warn')) continue;
    out.push(comment(`--- ${f.id} (${f.status}): ${f.summary}`));
    out.push(...wrapComment('why: ', f.why));
    out.push(...wrapComment('fix: ', f.remedy.text));
    if (f.tradeoff) out.push(...wrapComment('trade-off: ', f.tradeoff));
    const safe = f.remedy.safe;
    const cmds = f.remedy.commands.filter((c) => c === 'update-grub' || !(safe ? seenActive : seenAny).has(c));
    if (!f.remedy.commands.length) out.push(comment('(no command: a change to make by hand)'));
    else if (!cmds.length) out.push(comment('(same commands as above)'));
    for (const c of cmds) {
      seenAny.add(c);
      if (safe) seenActive.add(c);
      if (c.startsWith('#')) out.push(c);
      else if (f.remedy.safe) {
        out.push(c);
        active++;
      } else {
        out.push('# ' + c);
        manual++;
      }
    }
    if (!f.remedy.safe && cmds.length) out.push(comment('(not applied: review, then uncomment)'));
    out.push('');
  }
  if (!active && !manual) out.push(comment('Nothing to fix: no warn or fail finding has a remedy.'));
  out.push(`echo "lantern fix script: ${active} step(s) applied, ${manual} left for review (commented out)${waived ? `, ${waived} waived (left out)` : ''}"`);
  return out.join('\n') + '\n';
}
