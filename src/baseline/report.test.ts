import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { diffSnapshots } from './diff.js';
import { scanLogText } from './logscan.js';
import { buildReport, htmlEscape, mdInline, renderHtml, renderMarkdown, renderText, REPORT_SECTIONS, scanLogFiles } from './report.js';
import { BIN, copyFixture, DATA, fixture, put, snap, tmpDir } from './testkit.js';

const HOSTILE = '<script>alert(1)</script>';

/** debian12 with a package and a process named to break out of HTML and Markdown. */
function hostileTree(): string {
  const t = copyFixture('debian12');
  put(t, '/var/lib/dpkg/status', `Package: kdump-tools\nStatus: install ok installed\nVersion: 1:1.8.1\n\nPackage: ${HOSTILE}\nStatus: install ok installed\nVersion: 1|2\`x\`\n`);
  put(t, '/proc/4242/comm', `<img src=x onerror=alert(2)>\n`);
  put(t, '/proc/4242/oom_score_adj', '-1000\n');
  put(t, '/proc/4242/status', 'Name:\t<img>\nPPid:\t1\n');
  return t;
}

test('markdown report: host summary, findings needing action with remedy, differences from the baseline', () => {
  const base = snap(fixture('debian12'));
  const cur = snap(hostileTree());
  const doc = buildReport({ snapshot: cur, baseline: base, diff: diffSnapshots(base, cur), logs: [], now: new Date('2026-03-01T00:00:00Z') });
  assert.deepEqual(doc.sections.map((s) => s.id), ['glance', 'host', 'action', 'differences', 'gaps']);
  const md = renderMarkdown(doc);
  assert.match(md, /^# Lantern report: web03\n/);
  assert.match(md, /## At a glance\n\n- Readiness: \d+ fail, \d+ warn/);
  assert.match(md, /- Since the baseline of 2026-01-01T00:00:00\.000Z: \d+ difference\(s\)\./);
  assert.match(md, /## Host summary/);
  assert.match(md, /## Readiness findings needing action \(\d+\)/);
  assert.match(md, /### (FAIL|WARN) /);
  assert.match(md, /```sh\n/);
  assert.match(md, /## Differences from the baseline/);
  // The hostile package appears escaped: no raw tag, the cell bar escaped.
  assert.ok(!md.includes(HOSTILE));
  assert.ok(md.includes('\\<script\\>alert(1)\\</script\\>'));
  assert.ok(md.includes('1\\|2\\`x\\`'));
});

test('html report: self-contained, everything from the host escaped', () => {
  const base = snap(fixture('debian12'));
  const cur = snap(hostileTree());
  const diff = diffSnapshots(base, cur);
  assert.ok(diff.sections.find((s) => s.section === 'oomExempt')!.changes.some((c) => c.key.includes('<img')));
  const html = renderHtml(buildReport({ snapshot: cur, baseline: base, diff, logs: [], now: new Date() }));
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(!html.includes('<script'), 'no script element');
  assert.ok(!html.includes('<img'), 'no img element');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes('&lt;img src=x onerror=alert(2)&gt;'));
  assert.ok(!/(src|href)=["']?https?:/.test(html), 'no external resources');
  assert.match(html, /Content-Security-Policy/);
});

test('text report and the escapers', () => {
  const doc = buildReport({ snapshot: snap(fixture('rhel9')), baseline: null, diff: null, logs: [], now: new Date() });
  const txt = renderText(doc);
  assert.match(txt, /^Lantern report: app02\.example\.com\n=+\n/);
  assert.match(txt, /Readiness findings needing action/);
  assert.ok(!txt.includes('Differences from the baseline'));
  assert.equal(htmlEscape(`a&b<c>"d'\x1b[31m`), 'a&amp;b&lt;c&gt;&quot;d&#39;?[31m');
  assert.equal(mdInline('a|b*c_d[e](f)\nx'), 'a\\|b\\*c\\_d\\[e\\](f) x');
});

test('a failing section does not cost the rest of the report; sections are independent builders', () => {
  const input = { snapshot: snap(fixture('rhel9')), baseline: null, diff: null, logs: [], now: new Date() };
  const broken = () => {
    throw new Error('boom');
  };
  const doc = buildReport(input, [REPORT_SECTIONS[0]!, broken, REPORT_SECTIONS[1]!]);
  assert.deepEqual(doc.sections.map((s) => s.id), ['glance', 'error', 'host']);
  assert.match(renderMarkdown(doc), /internal error in broken: boom/);
});

test('log scan: trouble lines by kind, with line numbers; a quiet log has none', () => {
  const oom = scanLogText(readFileSync(join(DATA, 'logs/oom_01.log'), 'utf8'), 'oom_01.log');
  assert.ok((oom.counts.oom_kill ?? 0) >= 1);
  assert.match(oom.hits[0]!.text, /invoked oom-killer/);
  assert.equal(oom.hits[0]!.line, 1);
  const hung = scanLogText(readFileSync(join(DATA, 'logs/hung_task_01.log'), 'utf8'), 'hung');
  assert.equal(hung.counts.hung_task, 1);
  const panic = scanLogText(readFileSync(join(DATA, 'logs/panic_01.log'), 'utf8'), 'panic');
  assert.ok((panic.counts.panic ?? 0) >= 1);
  const quiet = scanLogText(readFileSync(join(DATA, 'logs/noincident_iso_01.log'), 'utf8'), 'quiet');
  assert.deepEqual(quiet.hits, []);
  const capped = scanLogText('Kernel panic - not syncing: x\n'.repeat(10), 'x', 3);
  assert.equal(capped.hits.length, 3);
  assert.equal(capped.truncated, 7);
});

test('lantern report CLI: --logs (one missing), --format html --out, --baseline', () => {
  const dir = tmpDir('report');
  const base = join(dir, 'base.json');
  assert.equal(spawnSync(process.execPath, [BIN, 'baseline', 'save', '--sosreport', fixture('sosreport-debian'), '--out', base]).status, 0);
  const r = spawnSync(process.execPath, [BIN, 'report', '--sosreport', fixture('sosreport-debian'), '--baseline', base, '--logs', join(DATA, 'logs/oom_01.log'), join(dir, 'missing.log')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /## Kernel trouble in the logs/);
  assert.match(r.stdout, /- Logs: \d+ kernel trouble line\(s\) in 1 of 2 file\(s\)\./);
  assert.match(r.stdout, /oom\\_01\.log \(\d+ lines: \d+ oom\\_kill/);
  assert.match(r.stdout, /missing\.log\n\nNot read: does not exist/);
  assert.match(r.stdout, /0 difference\(s\)/);
  const out = join(dir, 'r.html');
  const h = spawnSync(process.execPath, [BIN, 'report', '--root', fixture('rhel6'), '--format', 'html', '--out', out], { encoding: 'utf8' });
  assert.equal(h.status, 0, h.stderr);
  assert.match(readFileSync(out, 'utf8'), /<h2>Readiness findings needing action/);
  assert.deepEqual(scanLogFiles([dir]).map((l) => l.error), ['is a directory']);
});
