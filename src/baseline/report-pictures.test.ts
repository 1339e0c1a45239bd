import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeLogs, buildReport, renderHtml, renderMarkdown, renderText, timelineChart, unreadInputs, UNREAD_PREFIX } from './report.js';
import { readStore } from './report-store.js';
import { hostileStrings, TIMELINE_LOGS, writeDeathStore, writeHostileLog } from './reportkit.js';
import { niceTicks, timelineSvg, treeSvg, xmlEscape } from './svg.js';
import { BIN, DATA, fixture, snap, tmpDir } from './testkit.js';

const PROBE = 'http://127.0.0.1:9/probe';

/** A kern.log with kernel lines but no incident (the first line of hung_task_05.log). */
function quietLog(): string {
  const p = join(tmpDir('quiet'), 'kern.log');
  writeFileSync(p, 'Feb 04 00:07:12 ic-hrvart4-s4anq599 kernel: o-hm0: dropped over-mtu packet: 2829 > 1500\n');
  return p;
}

function report(args: string[]) {
  return spawnSync(process.execPath, [BIN, 'report', '--root', fixture('debian12'), '--no-commands', ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('report --logs on a missing file: exit 66, one line naming it, no page that reads as a clean bill', () => {
  const r = report(['--logs', '/nonexistent/kern.log']);
  assert.equal(r.status, 66, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'lantern: none of the --logs inputs could be read: /nonexistent/kern.log (no such file or directory)\n');
  // Every one unreadable (a directory is not a log file to the analyser either way): still 66.
  const two = report(['--logs', '/nonexistent/a.log', '/nonexistent/b.log', '--format', 'text']);
  assert.equal(two.status, 66);
  assert.match(two.stderr, /a\.log \(no such file or directory\), \/nonexistent\/b\.log/);
});

test('report --logs with some inputs unread: exit 0, the unread ones named first in At a glance and in the incidents section', () => {
  const quiet = quietLog();
  for (const format of ['md', 'text', 'html']) {
    const r = report(['--logs', '/nonexistent/kern.log', quiet, '--format', format]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    const notRead = out.indexOf(`${UNREAD_PREFIX}1 of 2 log input(s) could not be read`);
    assert.ok(notRead > 0, `${format}: NOT READ line`);
    // It is the first thing at a glance: before the readiness line and before any "no incident".
    assert.ok(notRead < out.indexOf('Readiness: '), format);
    const none = out.indexOf('No kernel incident');
    assert.ok(none > notRead, format);
    assert.match(out, /in the 1 log input\(s\) read \(1 not read, above\)/);
    const section = out.indexOf('Not read (1 of 2 input(s))');
    assert.ok(section > notRead && section < none, `${format}: the section names the unread input before "No kernel incident"`);
    if (format === 'html') assert.match(out, /<li class="fail">NOT READ: /);
  }
});

test('xmlEscape: markup, quotes, ampersands and the characters XML forbids never survive', () => {
  const h = hostileStrings(PROBE);
  assert.equal(xmlEscape(h.svgBreak), '&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  assert.equal(xmlEscape(h.quotes), 'a&quot;b&#39;c&amp;amp;d?[31m?');
  assert.equal(xmlEscape('a\nb\tc\x00d\ud800e\ufffe'), 'a b c?d?e?');
  // A valid surrogate pair stays.
  assert.equal(xmlEscape('🔥'), '🔥');
});

test('timeline SVG: one mark per incident, a line per reboot, lanes and legend escaped; nice ticks', () => {
  const h = hostileStrings(PROBE);
  const svg = timelineSvg({
    type: 'timeline',
    title: h.svgBreak,
    lanes: ['web1', h.img],
    legend: ['oops', h.quotes],
    axisNote: 'UTC',
    marks: [
      { lane: 'web1', ms: 1_000_000, kind: 'oops', label: h.svgBreak },
      { lane: h.img, ms: 2_000_000, kind: h.quotes, label: h.img },
      { lane: 'nowhere', ms: 3_000_000, kind: 'oops', label: 'not drawn: no such lane' },
    ],
    lines: [{ lane: 'web1', ms: 1_500_000, label: 'boot' }],
  });
  assert.equal(svg.match(/class="mark"/g)?.length, 2);
  assert.equal(svg.match(/class="reboot"/g)?.length, 1);
  assert.ok(!/<(script|img|style|a|foreignObject)\b/i.test(svg), 'no element but SVG drawing ones');
  assert.ok(!/\b(href|on\w+)=/.test(svg), 'no links, no handlers');
  assert.ok(svg.includes('&lt;img src=http://127.0.0.1:9/probe&gt;'));
  assert.ok(svg.includes('data-kind="a&quot;b&#39;c&amp;amp;d?[31m?"'));
  assert.deepEqual(
    niceTicks(Date.parse('2026-02-04T00:07:00Z'), Date.parse('2026-02-04T16:02:00Z')).map((t) => new Date(t).toISOString().slice(11, 16)),
    ['02:00', '04:00', '06:00', '08:00', '10:00', '12:00', '14:00', '16:00'],
  );
  const tree = treeSvg({
    type: 'tree',
    title: 't',
    rows: [
      { depth: 0, label: '<kernel>', parent: -1 },
      { depth: 1, label: h.svgBreak, parent: 0, note: h.quotes },
    ],
  });
  assert.ok(!tree.includes('<script') && tree.includes('&lt;kernel&gt;'));
});

test('report --store: deaths, OOM kills and the domain tree in every format; hung tasks when the table exists, said when not', async () => {
  const dir = tmpDir('store');
  const withHung = join(dir, 'hung.db');
  const without = join(dir, 'plain.db');
  writeDeathStore(withHung, PROBE, { hung: true });
  writeDeathStore(without, PROBE);
  const logs = await analyzeLogs([...TIMELINE_LOGS, writeHostileLog(dir, PROBE)]);
  assert.deepEqual(unreadInputs(logs!), []);
  const base = { snapshot: snap(fixture('debian12')), baseline: null, diff: null, logs, now: new Date('2026-03-01T00:00:00Z') };
  const doc = buildReport({ ...base, store: readStore(withHung) });
  assert.deepEqual(
    doc.sections.map((s) => s.id),
    ['glance', 'host', 'incidents', 'store', 'action', 'units', 'gaps'],
  );
  const html = renderHtml(doc);
  // Two timelines (incidents by host, deaths by program) and one tree.
  assert.equal(html.match(/<svg /g)?.length, 3);
  const incidents = html.slice(html.indexOf('<section id="incidents">'), html.indexOf('<section id="store">'));
  // 3 dated hung tasks on 3 hosts (the hostile one is the third), 2 reboots of DELRHIUCBM002V.
  assert.equal(incidents.match(/class="mark"/g)?.length, 3);
  assert.equal(incidents.match(/class="reboot"/g)?.length, 2);
  assert.ok(!html.includes('<script') && !html.includes('<img'), 'nothing from the logs or the store became markup');
  assert.match(html, /blocked for more than 120 s \(tracepoint\)/);
  for (const text of [renderMarkdown(doc), renderText(doc)]) {
    assert.ok(!text.includes('<svg'), 'pictures are HTML only');
    assert.match(text, /DELRHIUCBM002V: 1 incident\(s\) \(1 hung\\?_task\) from 2026-02-04 15:40:27 to 2026-02-04 15:40:27; 2 reboot\(s\) logged/);
    assert.match(text, /ic-hrvart4-s4anq599: 1 incident\(s\) \(1 hung\\?_task\)/);
    assert.match(text, /3 process\(es\) died of a signal, 1 of those listed killed by the OOM killer/);
    assert.match(text, /SIGKILL \(OOM kill\)/);
    assert.match(text, /the kernel \(SEGV\\?_MAPERR, in the context of server\(1000\)\)/);
    assert.match(text, /\\?<kernel\\?> \/usr\/sbin\/sshd \/bin\/bash \/usr\/bin\/java: 1 death\(s\): OOM kill/);
    assert.match(text, /1 hung-task record\(s\)/);
    assert.match(text, /percpu|D tasks/);
    assert.match(text, /Recorder store: 3 signal death\(s\), 1 of them OOM kills, 1 hung-task record\(s\)/);
  }
  const plain = renderText(buildReport({ ...base, store: readStore(without) }));
  assert.match(plain, /This store holds no hung-task records/);
  assert.match(plain, /no hung-task records in this store/);
});

test('report --store on a missing or non-SQLite file: one clear line, exit 66 / 65', () => {
  const dir = tmpDir('badstore');
  const missing = report(['--store', join(dir, 'none.db')]);
  assert.equal(missing.status, 66, missing.stderr);
  assert.doesNotMatch(missing.stderr, /\n./);
  const notDb = join(DATA, 'logs', 'oom_01.log');
  const bad = report(['--store', notDb]);
  assert.ok(bad.status === 65 || bad.status === 66, `${bad.status} ${bad.stderr}`);
  assert.match(bad.stderr, /^lantern: .*oom_01\.log/);
  assert.doesNotMatch(bad.stderr, /\n./);
});

test('timeline picture is bounded: 40 hosts, 2000 marks; what is left out is counted, and the counts add up', () => {
  const timeline = [];
  for (let h = 0; h < 50; h++) for (let i = 0; i < 100; i++) timeline.push({ kind: i % 10 ? 'oops' : 'boot', title: 't', host: `host${h}`, ms: 1e12 + i * 1000 + h, when: 'w' });
  timeline.push({ kind: 'oops', title: 'undated', when: 'boot 0 +1s' });
  const { chart, words } = timelineChart({ inputs: [], groups: [], incidents: timeline.length, timeline, timelineOmitted: 7 });
  assert.equal(chart!.lanes.length, 40);
  const drawn = chart!.marks.length + chart!.lines.length;
  assert.equal(drawn, 2000);
  const left = Number(words.find((w) => /not drawn or counted above/.test(w))!.match(/^(\d+) /)![1]);
  assert.equal(drawn + left, 5000);
  assert.ok(words.some((w) => /^1 incident\(s\) without a wall-clock time/.test(w)));
  assert.ok(words.some((w) => /^7 incident\(s\) beyond the analyser's timeline cap/.test(w)));
  assert.ok(timelineSvg(chart!).length < 1_000_000);
});
