import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { diffSnapshots } from './diff.js';
import { buildReport, htmlEscape, mdInline, renderHtml, renderMarkdown, renderText, REPORT_SECTIONS, analyzeLogs } from './report.js';
import { BIN, copyFixture, DATA, del, fixture, link, put, snap, tmpDir } from './testkit.js';

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
  const doc = buildReport({ snapshot: cur, baseline: base, diff: diffSnapshots(base, cur), logs: null, now: new Date('2026-03-01T00:00:00Z') });
  assert.deepEqual(
    doc.sections.map((s) => s.id),
    ['glance', 'host', 'action', 'units', 'differences', 'gaps'],
  );
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
  const html = renderHtml(buildReport({ snapshot: cur, baseline: base, diff, logs: null, now: new Date() }));
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(!html.includes('<script'), 'no script element');
  assert.ok(!html.includes('<img'), 'no img element');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes('&lt;img src=x onerror=alert(2)&gt;'));
  assert.ok(!/(src|href)=["']?https?:/.test(html), 'no external resources');
  assert.match(html, /Content-Security-Policy/);
});

test('text report and the escapers', () => {
  const doc = buildReport({ snapshot: snap(fixture('rhel9')), baseline: null, diff: null, logs: null, now: new Date() });
  const txt = renderText(doc);
  assert.match(txt, /^Lantern report: app02\.example\.com\n=+\n/);
  assert.match(txt, /Readiness findings needing action/);
  assert.ok(!txt.includes('Differences from the baseline'));
  assert.equal(htmlEscape(`a&b<c>"d'\x1b[31m`), 'a&amp;b&lt;c&gt;&quot;d&#39;?[31m');
  assert.equal(mdInline('a|b*c_d[e](f)\nx'), 'a\\|b\\*c\\_d\\[e\\](f) x');
});

test('a failing section does not cost the rest of the report; sections are independent builders', () => {
  const input = { snapshot: snap(fixture('rhel9')), baseline: null, diff: null, logs: null, now: new Date() };
  const broken = () => {
    throw new Error('boom');
  };
  const doc = buildReport(input, [REPORT_SECTIONS[0]!, broken, REPORT_SECTIONS[1]!]);
  assert.deepEqual(
    doc.sections.map((s) => s.id),
    ['glance', 'error', 'host'],
  );
  assert.match(renderMarkdown(doc), /internal error in broken: boom/);
});

test("--logs: the analyser's incidents, grouped, with the inputs it read", async () => {
  const logs = await analyzeLogs([join(DATA, 'logs/oom_01.log'), join(DATA, 'logs/hung_task_01.log'), join(DATA, 'logs/panic_01.log'), join(DATA, 'logs/noincident_iso_01.log')]);
  assert.ok(logs);
  const kinds = logs.groups.map((g) => g.kind);
  // noincident_iso_01 holds no crash, but a disk medium error: an io_error incident.
  for (const k of ['oom_kill', 'hung_task', 'panic', 'io_error']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(',')}`);
  const oom = logs.groups.find((g) => g.kind === 'oom_kill')!;
  assert.match(oom.title, /gnome-shell/);
  assert.equal(oom.task, 'gnome-shell:955');
  assert.equal(logs.inputs.length, 4);
  assert.match(logs.groups.find((g) => g.kind === 'io_error')!.title, /sdb/);
  assert.equal(await analyzeLogs([]), null);
  const doc = buildReport({ snapshot: snap(fixture('rhel9')), baseline: null, diff: null, logs, now: new Date() });
  const md = renderMarkdown(doc);
  assert.match(md, /## Kernel incidents in the logs/);
  assert.match(md, /\| oom\\_kill \| OOM kill: gnome-shell/);
});

test('lantern report CLI: --logs (one missing), --format html --out, --baseline', () => {
  const dir = tmpDir('report');
  const base = join(dir, 'base.json');
  assert.equal(spawnSync(process.execPath, [BIN, 'baseline', 'save', '--sosreport', fixture('sosreport-debian'), '--out', base]).status, 0);
  const r = spawnSync(process.execPath, [BIN, 'report', '--sosreport', fixture('sosreport-debian'), '--baseline', base, '--logs', join(DATA, 'logs/oom_01.log'), join(dir, 'missing.log')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /## Kernel incidents in the logs/);
  assert.match(r.stdout, /- Logs: 1 kernel incident\(s\) in 1 group\(s\) \(oom\\_kill\), from 1 of 2 input\(s\)\./);
  assert.match(r.stdout, /oom\\_01\.log: dmesg, 207 lines, 1 incident\(s\)/);
  assert.match(r.stdout, /missing\.log: not read: /);
  assert.match(r.stdout, /0 difference\(s\)/);
  const out = join(dir, 'r.html');
  const h = spawnSync(process.execPath, [BIN, 'report', '--root', fixture('rhel6'), '--format', 'html', '--out', out], { encoding: 'utf8' });
  assert.equal(h.status, 0, h.stderr);
  assert.match(readFileSync(out, 'utf8'), /<h2>Readiness findings needing action/);
});

test('units in the report: masked, masked-runtime and SysV-enabled rows in md, html and text, escaped; unit changes in the differences', () => {
  const base = snap(fixture('rhel7-tree'));
  const t = copyFixture('rhel7-tree');
  link(t, '/etc/systemd/system/sshd.service', '/dev/null');
  del(t, '/etc/rc.d/rc3.d/S10network');
  const cur = snap(t);
  const doc = buildReport({ snapshot: cur, baseline: base, diff: diffSnapshots(base, cur), logs: null, now: new Date('2026-03-01T00:00:00Z') });
  assert.deepEqual(
    doc.sections.map((s) => s.id),
    ['glance', 'host', 'action', 'units', 'differences', 'gaps'],
  );
  const md = renderMarkdown(doc);
  assert.match(md, /\| units \| 7 enabled, 3 masked, 1 SysV-enabled \|/);
  // kdump.service is masked: named at a glance; sshd and tuned capture no evidence, so they are not.
  assert.match(md, /^- Masked units that capture evidence: kdump\.service \(masked\) — a masked unit cannot start at all; see "Units and services"\.$/m);
  assert.match(md, /## Units and services\n/);
  assert.match(md, /^\| kdump\.service \| masked \| still wanted by multi-user\.target \|$/m);
  assert.match(md, /^\| tuned\.service \| masked-runtime \| until reboot; still wanted by multi-user\.target \|$/m);
  assert.match(md, /^\| network \| sysv-enabled \| runlevels 2 4 5 \|$/m);
  assert.match(md, /### units \(2 changed\)/);
  assert.match(md, /^\| \\~ \| sshd\.service \| enabled \| masked \|  \|$/m);
  assert.match(md, /^\| \\~ \| network \| runlevels 2 3 4 5 \| runlevels 2 4 5 \| SysV start link removed from runlevel 3 \|$/m);
  const html = renderHtml(doc);
  assert.match(html, /<tr><td>kdump\.service<\/td><td>masked<\/td><td>still wanted by multi-user\.target<\/td><\/tr>/);
  assert.match(html, /<tr><td>network<\/td><td>sysv-enabled<\/td><td>runlevels 2 4 5<\/td><\/tr>/);
  const txt = renderText(doc);
  assert.match(txt, /^ {2}kdump\.service +masked +still wanted by multi-user\.target$/m);
  assert.match(txt, /^ {2}network +sysv-enabled +runlevels 2 4 5$/m);
  // A sosreport whose listings carry markup: escaped like every other host string.
  const sos = copyFixture('sosreport-rhel7');
  put(sos, '/sos_commands/systemd/systemctl_list-unit-files', `UNIT FILE STATE\n<img_src=x>.service masked\nsshd.service enabled\n`);
  put(sos, '/sos_commands/services/chkconfig_--list', `${HOSTILE}\t0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off\n`);
  del(sos, '/chkconfig');
  const hs = snap(sos);
  const hdoc = buildReport({ snapshot: hs, baseline: null, diff: null, logs: null, now: new Date() });
  const hh = renderHtml(hdoc);
  assert.ok(!hh.includes('<img') && !hh.includes('<script'));
  assert.ok(hh.includes('<td>&lt;img_src=x&gt;.service</td><td>masked</td>'));
  assert.ok(hh.includes('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>sysv-enabled</td>'));
  const hm = renderMarkdown(hdoc);
  assert.ok(hm.includes('| \\<img\\_src=x\\>.service | masked |'));
  assert.ok(hm.includes('| \\<script\\>alert(1)\\</script\\> | sysv-enabled | runlevels 2 3 4 5 |'));
});
