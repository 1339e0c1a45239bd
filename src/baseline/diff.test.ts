import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Change, diffSnapshots, globToRegExp, parseIgnore, VOLATILE_SYSCTLS } from './diff.js';
import type { Snapshot } from './model.js';
import { copyFixture, del, fixture, link, put, snap } from './testkit.js';

function changes(d: ReturnType<typeof diffSnapshots>, section: string): Change[] {
  return d.sections.find((s) => s.section === section)!.changes;
}

test('the same fixture twice: no differences, exit 0', () => {
  for (const name of ['rhel6', 'rhel9', 'debian12', 'sosreport', 'sosreport-debian', 'rhel7-tree', 'sosreport-rhel6', 'sosreport-rhel7']) {
    const d = diffSnapshots(snap(fixture(name)), snap(fixture(name), new Date('2026-02-01T00:00:00Z')));
    assert.equal(d.summary.differences, 0, `${name}: ${JSON.stringify(d.sections.filter((s) => s.changes.length))}`);
    assert.equal(d.summary.exitCode, 0);
  }
});

test('rhel9 variant: sysctl, cmdline, modules and units changes are reported with old and new', () => {
  const base = snap(fixture('rhel9'));
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/panic', '10\n');
  put(t, '/proc/sys/kernel/shmmax', '68719476736\n');
  del(t, '/proc/sys/kernel/nmi_watchdog');
  const cmd = base.sections.cmdline.status === 'ok' ? base.sections.cmdline.data.raw : '';
  put(t, '/proc/cmdline', cmd.replace(/crashkernel=\S+/, 'crashkernel=512M') + ' nosmt\n');
  put(t, '/proc/modules', 'xfs 2015232 2 - Live 0x0\nnf_tables 274432 0 - Live 0x0\n');
  del(t, '/etc/systemd/system/multi-user.target.wants/sshd.service');
  link(t, '/etc/systemd/system/multi-user.target.wants/nginx.service', '/usr/lib/systemd/system/nginx.service');
  const d = diffSnapshots(base, snap(t));
  assert.deepEqual(
    changes(d, 'sysctls'),
    [
      { op: '~', key: 'kernel.panic', old: '0', new: '10' },
      { op: '+', key: 'kernel.shmmax', new: '68719476736' },
      { op: '-', key: 'kernel.nmi_watchdog', old: '1' },
    ].sort((a, b) => a.key.localeCompare(b.key)),
  );
  const c = changes(d, 'cmdline');
  assert.ok(c.some((x) => x.op === '~' && x.key === 'crashkernel' && x.new === 'crashkernel=512M'));
  assert.ok(c.some((x) => x.op === '+' && x.key === 'nosmt'));
  const m = changes(d, 'modules');
  assert.ok(m.some((x) => x.op === '+' && x.key === 'nf_tables' && x.note === 'loaded'));
  assert.ok(m.some((x) => x.op === '-' && x.key === 'mlx5_core' && x.note === 'unloaded'));
  const u = changes(d, 'units');
  assert.deepEqual(
    u.map((x) => `${x.op}${x.key}`),
    ['+nginx.service', '-sshd.service'],
  );
  assert.equal(d.summary.exitCode, 1);
});

test('debian12 variant: packages installed, removed, upgraded, downgraded', () => {
  const base = snap(fixture('debian12'));
  const t = copyFixture('debian12');
  const status = 'Package: kdump-tools\nStatus: install ok installed\nVersion: 1:1.8.2\n\nPackage: nginx\nStatus: install ok installed\nVersion: 1.22.1-9\n';
  put(t, '/var/lib/dpkg/status', status);
  const d = diffSnapshots(base, snap(t));
  const p = changes(d, 'packages');
  assert.deepEqual(
    p.find((x) => x.key === 'kdump-tools'),
    { op: '~', key: 'kdump-tools', old: '1:1.8.1', new: '1:1.8.2', note: 'upgraded' },
  );
  assert.deepEqual(
    p.find((x) => x.key === 'nginx'),
    { op: '+', key: 'nginx', new: '1.22.1-9', note: 'installed' },
  );
  assert.deepEqual(
    p.find((x) => x.key === 'sysstat'),
    { op: '-', key: 'sysstat', old: '12.6.1-1', note: 'removed' },
  );
  const back = diffSnapshots(snap(t), base);
  assert.equal(changes(back, 'packages').find((x) => x.key === 'kdump-tools')?.note, 'downgraded');
});

test('memory, CPUs and OOM exemptions are compared', () => {
  const base = snap(fixture('debian12'));
  const t = copyFixture('debian12');
  put(t, '/proc/meminfo', 'MemTotal:        4069360 kB\nSwapTotal:       1048572 kB\n');
  put(t, '/proc/cpuinfo', 'processor\t: 0\n\nprocessor\t: 1\n');
  put(t, '/proc/4242/comm', 'java\n');
  put(t, '/proc/4242/oom_score_adj', '-1000\n');
  put(t, '/proc/4242/status', 'Name:\tjava\nPPid:\t1\n');
  const d = diffSnapshots(base, snap(t));
  const mem = changes(d, 'memory');
  assert.equal(mem.find((x) => x.key === 'MemTotal')?.new, '3.9 GiB (4069360 kB)');
  assert.ok(mem.some((x) => x.key === 'SwapTotal'));
  assert.ok(changes(d, 'oomExempt').some((x) => x.op === '+' && x.key === 'java'));
  // CPUs were unknown in the baseline: not compared, and not counted as a difference.
  const cpus = d.sections.find((s) => s.section === 'cpus')!;
  assert.match(cpus.notCompared ?? '', /^baseline: /);
});

test('a check finding that becomes fail gives exit 2; resolving it is reported as resolved', () => {
  const base = snap(fixture('rhel9'));
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/vm/vfs_cache_pressure', '0\n');
  const bad = snap(t);
  const d = diffSnapshots(base, bad);
  const c = changes(d, 'check').find((x) => x.key === 'vfs.cache-pressure')!;
  assert.equal(c.worse, true);
  assert.equal(c.note, 'new fail');
  assert.match(c.old!, /^ok: /);
  assert.match(c.new!, /^fail: /);
  assert.equal(d.summary.exitCode, 2);
  assert.equal(d.summary.worse, 1);
  const back = diffSnapshots(bad, base);
  assert.equal(changes(back, 'check').find((x) => x.key === 'vfs.cache-pressure')?.note, 'resolved');
  assert.equal(back.summary.exitCode, 1);
});

test('built-in ignore list hides volatile sysctls; --no-builtin-ignore shows them', () => {
  const base = snap(fixture('rhel9'));
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/fs/dentry-state', '1\t2\t45\t0\t0\t0\n');
  put(t, '/proc/sys/kernel/random/uuid', 'f563741c-c692-4615-812a-7aa9aee6319e\n');
  put(t, '/proc/sys/kernel/ns_last_pid', '4242\n');
  const cur = snap(t);
  const d = diffSnapshots(base, cur);
  assert.equal(d.summary.differences, 0, JSON.stringify(d.sections.filter((s) => s.changes.length)));
  assert.equal(d.ignored.count, 3);
  assert.equal(d.summary.exitCode, 0);
  const all = diffSnapshots(base, cur, { builtinIgnore: false });
  assert.deepEqual(
    changes(all, 'sysctls').map((c) => c.key),
    ['fs.dentry-state', 'kernel.ns_last_pid', 'kernel.random.uuid'],
  );
});

test('--ignore globs, optionally limited to one section', () => {
  const base = snap(fixture('debian12'));
  const t = copyFixture('debian12');
  put(t, '/proc/sys/kernel/panic', '10\n');
  put(
    t,
    '/var/lib/dpkg/status',
    'Package: kdump-tools\nStatus: install ok installed\nVersion: 1:1.8.1\n\nPackage: panic-tools\nStatus: install ok installed\nVersion: 1\n\nPackage: sysstat\nStatus: install ok installed\nVersion: 12.6.1-1\n',
  );
  const cur = snap(t);
  assert.equal(diffSnapshots(base, cur, { ignore: ['kernel.*'] }).summary.differences, 1);
  assert.equal(diffSnapshots(base, cur, { ignore: ['*panic*'] }).summary.differences, 0);
  const onlyPkgs = diffSnapshots(base, cur, { ignore: ['packages:*panic*'] });
  assert.deepEqual(
    changes(onlyPkgs, 'sysctls').map((c) => c.key),
    ['kernel.panic'],
  );
  assert.equal(changes(onlyPkgs, 'packages').length, 0);
  assert.equal(diffSnapshots(base, cur, { ignore: ['sysctl:kernel.pan?c'] }).summary.differences, 1);
});

test('glob translation: *, ?, [..], [!..], dots literal', () => {
  assert.ok(globToRegExp('kernel.random.*').test('kernel.random.uuid'));
  assert.ok(!globToRegExp('kernel.random.*').test('kernelXrandom.uuid'));
  assert.ok(globToRegExp('net.*.conf.veth*').test('net.ipv4.conf.veth1a2b.rp_filter'));
  assert.ok(globToRegExp('vm.[sd]*').test('vm.swappiness'));
  assert.ok(!globToRegExp('vm.[!s]*').test('vm.swappiness'));
  assert.ok(globToRegExp('a(b)+c').test('a(b)+c'));
  assert.equal(parseIgnore('packages:linux-*').section, 'packages');
  assert.equal(parseIgnore('nosuch:x').section, null);
  for (const g of VOLATILE_SYSCTLS) assert.doesNotThrow(() => globToRegExp(g));
});

test('sections unknown on one side are listed as not compared, not as differences', () => {
  const a = snap(fixture('sosreport'));
  const b: Snapshot = JSON.parse(JSON.stringify(a));
  b.sections.packages = { status: 'unknown', reason: 'test: not collected', tried: [] };
  const d = diffSnapshots(a, b);
  assert.equal(d.summary.differences, 0);
  assert.match(d.sections.find((s) => s.section === 'packages')!.notCompared!, /current: test: not collected/);
});

test('a check finding unknown on one side is listed apart, not counted; unknown -> fail still counts', () => {
  const a = snap(fixture('rhel9'));
  const b: Snapshot = JSON.parse(JSON.stringify(a));
  const c: Snapshot = JSON.parse(JSON.stringify(a));
  if (b.sections.check.status !== 'ok' || c.sections.check.status !== 'ok' || a.sections.check.status !== 'ok') throw new Error('check not run');
  b.sections.check.data.findings[0]!.status = 'unknown';
  const d = diffSnapshots(a, b);
  assert.equal(d.summary.differences, 0);
  const sec = d.sections.find((s) => s.section === 'check')!;
  assert.equal(sec.undetermined?.length, 1);
  assert.equal(sec.undetermined?.[0]?.note, 'not determined now');
  c.sections.check.data.findings[0]!.status = 'fail';
  const w = diffSnapshots(b, c);
  assert.equal(w.summary.exitCode, 2);
});

test('human diff: +/-/~ markers, colour only when asked for (TTY), control characters neutralised', async () => {
  const pc = (await import('picocolors')).default;
  const { renderDiff } = await import('./render.js');
  const base = snap(fixture('debian12'));
  const t = copyFixture('debian12');
  put(t, '/proc/sys/kernel/panic', '10\n');
  put(t, '/var/lib/dpkg/status', 'Package: kdump-tools\nStatus: install ok installed\nVersion: 1:1.8.1\n\nPackage: evil\u001b[2J\nStatus: install ok installed\nVersion: 1\n');
  const d = diffSnapshots(base, snap(t));
  const plain = renderDiff(d, pc.createColors(false));
  assert.ok(!plain.includes('\u001b'), 'no escape sequences without colour');
  assert.match(plain, /^ {2}~ kernel\.panic: 0 → 10$/m);
  assert.match(plain, /^ {2}\+ evil\?\[2J: 1 {2}\(installed\)$/m);
  assert.match(plain, /^ {2}- sysstat: 12\.6\.1-1 {2}\(removed\)$/m);
  const colour = renderDiff(d, pc.createColors(true));
  assert.ok(colour.includes('\u001b[32m+\u001b[39m'));
  assert.ok(!colour.includes('\u001b[2J'));
});
