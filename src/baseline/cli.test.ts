/** The real CLI: baseline save/list/show, diff exit codes, usage errors, and the live host against itself. */
import { skipUnlessCI } from '../common/testenv.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, copyFixture, del, fixture, link, put, tmpDir } from './testkit.js';

function lantern(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('baseline save --root writes a snapshot; show and list read it back', () => {
  const dir = tmpDir('store');
  const out = join(dir, 'rhel9.json');
  const r = lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^saved .*rhel9\.json \(unknown: mounts, packages, cpus\)/);
  const doc = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(doc.kind, 'lantern-snapshot');
  assert.equal(doc.schemaVersion, 1);
  assert.equal(doc.host.name, 'app02.example.com');
  assert.equal(doc.host.source.kind, 'tree');
  assert.match(doc.takenAt, /^\d{4}-\d\d-\d\dT/);
  const show = lantern('baseline', 'show', out);
  assert.equal(show.code, 0);
  assert.match(show.out, /kernel\s+5\.14\.0-362\.8\.1\.el9_3\.x86_64/);
  assert.match(show.out, /packages\s+unknown: /);
  const sys = lantern('baseline', 'show', out, '--section', 'sysctl');
  assert.equal(sys.code, 0);
  assert.match(sys.out, /^kernel\.sysrq = 16$/m);
  assert.match(lantern('baseline', 'show', out, '--section', 'units').out, /^sysstat-collect\.timer enabled \(sysstat\.service\)$/m);
  assert.equal(JSON.parse(lantern('baseline', 'show', out, '--section', 'modules', '--json').out).status, 'ok');
  assert.equal(lantern('baseline', 'show', out, '--section', 'nosuch').code, 64);
  writeFileSync(join(dir, 'junk.json'), '{"not": "a snapshot"}');
  const list = lantern('baseline', 'list', '--dir', dir);
  assert.equal(list.code, 0);
  assert.match(list.out, /app02\.example\.com\s+tree\s+5\.14\.0/);
  assert.match(list.out, /skipped .*junk\.json: not a lantern snapshot/);
  const lj = JSON.parse(lantern('baseline', 'list', '--dir', dir, '--json').out);
  assert.equal(lj.snapshots.length, 1);
  assert.equal(lj.skipped.length, 1);
});

test('baseline save without --out: <dir>/<host>-<UTC>.json, the host name made path-safe', () => {
  const t = copyFixture('debian12');
  put(t, '/proc/sys/kernel/hostname', '../../etc/evil host\n');
  const dir = join(tmpDir('out'), 'new', 'baselines');
  const r = lantern('baseline', 'save', '--root', t, '--dir', dir);
  assert.equal(r.code, 0, r.err);
  const names = readdirSync(dir);
  assert.equal(names.length, 1);
  assert.match(names[0]!, /^etc_evil_host-\d{8}T\d{6}Z\.json$/);
  const doc = JSON.parse(readFileSync(join(dir, names[0]!), 'utf8'));
  assert.equal(doc.host.name, '../../etc/evil host');
});

test('diff exit codes: 0 same, 1 differences, 2 a finding became fail; --json document', () => {
  const dir = tmpDir('diff');
  const base = join(dir, 'base.json');
  assert.equal(lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', base).code, 0);
  const same = lantern('diff', base, '--root', fixture('rhel9'));
  assert.equal(same.code, 0, same.out + same.err);
  assert.match(same.out, /0 difference\(s\).*no differences/);
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/panic', '10\n');
  const one = lantern('diff', base, '--root', t);
  assert.equal(one.code, 1);
  assert.match(one.out, /sysctls \(1 changed\)\n {2}~ kernel\.panic: 0 → 10/);
  assert.equal(lantern('diff', base, '--root', t, '--ignore', 'kernel.panic').code, 0);
  put(t, '/proc/sys/kernel/shmmni', '8192\n');
  const lim = lantern('diff', base, '--root', t, '--limit', '1');
  assert.match(lim.out, /sysctls \(1 added, 1 changed\)\n {2}~ kernel\.panic: 0 → 10\n {2}… 1 more \(--limit 0 or --json for all\)/);
  assert.equal(lantern('diff', base, '--root', t, '--limit', 'x').code, 64);
  put(t, '/proc/sys/vm/vfs_cache_pressure', '0\n');
  const cur = join(dir, 'cur.json');
  assert.equal(lantern('baseline', 'save', '--root', t, '--out', cur).code, 0);
  const worse = lantern('diff', base, cur);
  assert.equal(worse.code, 2);
  assert.match(worse.out, /! vfs\.cache-pressure: ok: .* → fail: .*\(new fail\)/);
  assert.match(worse.out, /a check finding became fail/);
  const j = lantern('diff', base, cur, '--json');
  assert.equal(j.code, 2);
  const d = JSON.parse(j.out);
  assert.equal(d.kind, 'lantern-diff');
  assert.equal(d.summary.exitCode, 2);
});

test('usage and input errors: clear one-line message and stable exit code', () => {
  const dir = tmpDir('err');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ truncated');
  const r1 = lantern('diff', bad);
  assert.equal(r1.code, 65);
  assert.match(r1.err, /^lantern: .*bad\.json: not valid JSON/);
  const r2 = lantern('baseline', 'show', join(dir, 'missing.json'));
  assert.equal(r2.code, 66);
  assert.match(r2.err, /cannot read: does not exist/);
  const good = join(dir, 'good.json');
  lantern('baseline', 'save', '--root', fixture('debian12'), '--out', good);
  assert.equal(lantern('diff', good, good, '--root', fixture('debian12')).code, 64);
  assert.equal(lantern('baseline', 'save', '--root', fixture('debian12'), '--sosreport', fixture('sosreport')).code, 64);
  assert.equal(lantern('baseline', 'save', '--sosreport', fixture('debian12'), '--out', join(dir, 'n.json')).code, 66);
  const w = lantern('baseline', 'save', '--root', fixture('debian12'), '--out', join(dir, 'no', 'such', 'dir.json'));
  assert.equal(w.code, 74);
  assert.ok(!existsSync(join(dir, 'no')));
  assert.equal(lantern('report', '--root', fixture('debian12'), '--format', 'pdf').code, 64);
  const newer = join(dir, 'newer.json');
  const doc = JSON.parse(readFileSync(good, 'utf8'));
  doc.schemaVersion = 99;
  writeFileSync(newer, JSON.stringify(doc));
  assert.match(lantern('baseline', 'show', newer).err, /schemaVersion 99 is newer/);
});

test('live host: baseline save then diff against itself shows nothing beyond the volatile list', (t) => {
  if (process.getuid?.() !== 0) return skipUnlessCI(t, 'needs root to read all of /proc/sys and every process');
  const dir = tmpDir('live');
  const base = join(dir, 'live.json');
  const s = lantern('baseline', 'save', '--out', base);
  assert.equal(s.code, 0, s.err);
  const r = lantern('diff', base, '--json');
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.err}`);
  const d = JSON.parse(r.out);
  // kernel.random.uuid differs on every read: the built-in list must have hidden it.
  assert.ok(d.ignored.count >= 1);
  const changed = d.sections.filter((x: { changes: unknown[] }) => x.changes.length);
  // Mounts and OOM exemptions belong to whatever else runs on the machine; everything else must be still.
  // Two readiness checks depend on the process table (thread count, OOM-exempt processes), which
  // other work on the machine changes too.
  const processBound = (c: { key: string }) => c.key === 'oom.exempt' || c.key === 'printk.logbuf';
  for (const sec of changed) {
    const volatile = sec.section === 'mounts' || sec.section === 'oomExempt' || (sec.section === 'check' && sec.changes.every(processBound));
    if (volatile) t.diagnostic(`${sec.section} changed meanwhile: ${JSON.stringify(sec.changes)}`);
    else assert.fail(`${sec.section} changed between two runs a second apart: ${JSON.stringify(sec.changes)}`);
  }
});

test('diff with a directory as BASELINE: the newest snapshot of the same host', () => {
  const dir = tmpDir('dirbase');
  const older = join(dir, 'a.json');
  const newer = join(dir, 'b.json');
  assert.equal(lantern('baseline', 'save', '--root', fixture('debian12'), '--out', older).code, 0);
  const t = copyFixture('debian12');
  put(t, '/proc/sys/kernel/panic', '10\n');
  assert.equal(lantern('baseline', 'save', '--root', t, '--out', newer).code, 0);
  assert.equal(lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', join(dir, 'c.json')).code, 0);
  const r = lantern('diff', dir, '--root', t);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^baseline file .*b\.json\n/);
  assert.equal(JSON.parse(lantern('diff', dir, '--root', t, '--json').out).baselineFile, newer);
  const none = lantern('diff', dir, '--sosreport', fixture('sosreport'));
  assert.equal(none.code, 66);
  assert.match(none.err, /no snapshot of host "rhel8host" \(found: web03, app02\.example\.com\)/);
});

test('baseline prune keeps the newest N of each host and leaves other files alone', () => {
  const dir = tmpDir('prune');
  for (const n of ['1', '2', '3']) assert.equal(lantern('baseline', 'save', '--root', fixture('debian12'), '--out', join(dir, `web-${n}.json`)).code, 0);
  assert.equal(lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', join(dir, 'app.json')).code, 0);
  writeFileSync(join(dir, 'notes.json'), '{"mine": true}');
  const dry = lantern('baseline', 'prune', '--dir', dir, '--keep', '1', '--dry-run');
  assert.equal(dry.code, 0);
  assert.match(dry.out, /would delete .*web-1\.json\nwould delete .*web-2\.json\n2 would delete, 2 kept, 1 file\(s\) not snapshots left alone/);
  assert.equal(readdirSync(dir).length, 5);
  assert.equal(lantern('baseline', 'prune', '--dir', dir, '--keep', '1').code, 0);
  assert.deepEqual(readdirSync(dir).sort(), ['app.json', 'notes.json', 'web-3.json']);
  assert.equal(lantern('baseline', 'prune', '--dir', dir, '--keep', '0').code, 64);
  assert.equal(lantern('baseline', 'prune', '--dir', dir).code, 64);
});

test('lantern diff --root: "kdump.service masked" and "sysstat SysV start link removed", human and JSON', () => {
  const dir = tmpDir('units');
  const b9 = join(dir, 'rhel9.json');
  assert.equal(lantern('baseline', 'save', '--root', fixture('rhel9'), '--out', b9).code, 0);
  const t9 = copyFixture('rhel9');
  link(t9, '/etc/systemd/system/kdump.service', '/dev/null');
  const d9 = lantern('diff', b9, '--root', t9);
  assert.equal(d9.code, 1, d9.err);
  assert.match(d9.out, /^units \(1 changed\)\n {2}~ kdump\.service: enabled → masked$/m);
  const j = JSON.parse(lantern('diff', b9, '--root', t9, '--json').out);
  assert.deepEqual(j.sections.find((s: { section: string }) => s.section === 'units').changes, [{ op: '~', key: 'kdump.service', old: 'enabled', new: 'masked' }]);
  const b6 = join(dir, 'rhel6.json');
  assert.equal(lantern('baseline', 'save', '--root', fixture('rhel6'), '--out', b6).code, 0);
  assert.match(lantern('baseline', 'show', b6, '--section', 'units').out, /^sysstat sysv-enabled \(runlevel 3\)$/m);
  const t6 = copyFixture('rhel6');
  del(t6, '/etc/rc.d/rc3.d/S01sysstat');
  const d6 = lantern('diff', b6, '--root', t6);
  assert.equal(d6.code, 1, d6.err);
  assert.match(d6.out, /^units \(1 removed\)\n {2}- sysstat: runlevel 3 {2}\(SysV start link removed\)$/m);
  // A RHEL 6 sosreport: chkconfig --list read, shown with the states.
  const s6 = lantern('baseline', 'save', '--sosreport', fixture('sosreport-rhel6'), '--out', join(dir, 'sos6.json'));
  assert.equal(s6.code, 0, s6.err);
  assert.match(lantern('baseline', 'show', join(dir, 'sos6.json')).out, /^ {2}units +0 enabled, 15 SysV-enabled$/m);
});
