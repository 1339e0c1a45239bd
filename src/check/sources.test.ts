/** The datum catalog on sosreports: current paths, historic alternates, manifest tags, not-collected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../host/host.js';
import { Sources } from '../host/sources.js';
import { check, copyFixture, del, fixture, put, report } from './testkit.js';

test('sosreport is detected and reports its sos version', () => {
  const r = report(fixture('sosreport'), ['uptime.bugs']);
  assert.equal(r.host.kind, 'sosreport');
  assert.equal(r.host.sosVersion, '4.6.0');
  assert.equal(r.host.hostname, 'rhel8host');
  assert.equal(r.host.kernel, '4.18.0-513.5.1.el8_9.x86_64', 'from uname -a: proc/sys was not collected');
  assert.equal(r.host.family, 'rhel');
});

test('a datum found only through manifest tag_summary (a renamed sos command file)', () => {
  const t = copyFixture('sosreport');
  const text = '' + readRel('sos_commands/kernel/sysctl_-a', t);
  del(t, '/sos_commands/kernel/sysctl_-a');
  put(t, '/sos_commands/kernel/sysctl_-a_--renamed', text);
  const m = JSON.parse(readRel('sos_reports/manifest.json', t)) as { tag_summary: Record<string, string[]> };
  m.tag_summary.sysctl = ['sos_commands/kernel/sysctl_-a_--renamed', '../../../etc/passwd'];
  put(t, '/sos_reports/manifest.json', JSON.stringify(m));
  const src = new Sources(Host.open({ root: t }));
  const d = src.sysctl('kernel.sysrq');
  assert.ok(d.ok);
  assert.equal(d.text, '16');
  assert.match(d.path, /sysctl_-a_--renamed$/);
});

test('historic alternates: sos_commands/general/uptime and startup/chkconfig_--list (old sos)', () => {
  const t = copyFixture('sosreport');
  del(t, '/uptime');
  del(t, '/sos_commands/host');
  put(t, '/sos_commands/general/uptime', ' 09:00:00 up 210 days,  1:00,  1 user,  load average: 0.00, 0.00, 0.00\n');
  put(t, '/sos_commands/kernel/uname_-a', 'Linux old 2.6.32-358.el6.x86_64 #1 SMP Tue Jan 29 11:47:41 EST 2013 x86_64 x86_64 x86_64 GNU/Linux\n');
  del(t, '/uname');
  const m = JSON.parse(readRel('sos_reports/manifest.json', t)) as { tag_summary: Record<string, string[]> };
  delete m.tag_summary.uptime;
  put(t, '/sos_reports/manifest.json', JSON.stringify(m));
  const f = check(t, 'uptime.bugs');
  assert.equal(f.status, 'fail');
  assert.ok(f.evidence.some((e) => /sos_commands\/general\/uptime$/.test(e.path ?? '')));
  // RHEL 6 sos: services from chkconfig, no systemd listings, no kexec_crash_size
  del(t, '/sos_commands/systemd');
  del(t, '/sys/kernel/kexec_crash_size');
  put(t, '/sos_commands/startup/chkconfig_--list', 'auditd         \t0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off\nkdump          \t0:off\t1:off\t2:off\t3:on\t4:on\t5:on\t6:off\n');
  const k = check(t, 'kdump.service');
  assert.equal(k.status, 'ok');
  assert.ok(k.evidence.some((e) => /startup\/chkconfig_--list$/.test(e.path ?? '')));
  const r = check(t, 'kdump.reserved');
  assert.ok(
    r.evidence.some((e) => e.what === '/proc/iomem Crash kernel' && e.value === '160 MiB'),
    'reservation from proc/iomem when kexec_crash_size is missing',
  );
});

test('not collected is reported with the paths tried; a malformed manifest is counted, not fatal', () => {
  const t = copyFixture('sosreport');
  put(t, '/sos_reports/manifest.json', '{ not json');
  del(t, '/sos_commands/kernel/sysctl_-a');
  const r = report(t);
  assert.ok(r.inputProblems.some((p) => /manifest\.json: not valid JSON/.test(p)));
  const f = r.findings.find((x) => x.id === 'sysrq.mask')!;
  assert.equal(f.status, 'unknown');
  assert.match(f.summary, /not collected/);
  const src = new Sources(Host.open({ root: t }));
  const d = src.get('kexecCrashSize');
  assert.ok(d.ok);
  const miss = src.get('kdumpctlEstimate');
  assert.ok(!miss.ok && miss.notCollected);
  assert.match(miss.reason, /sos_commands\/kdump\/kdumpctl_estimate/);
});

test('live-only commands are never run against a tree or sosreport', () => {
  const src = new Sources(Host.open({ root: fixture('rhel9') }));
  const d = src.get('listUnits');
  assert.ok(!d.ok);
  assert.ok(!d.tried.some((t) => t.startsWith('command:')));
});

function readRel(rel: string, root: string): string {
  return readFileSync(join(root, rel), 'utf8');
}

test('kdumpctl estimate (sos >= 4.10) sets the recommendation; boot messages give the size when nothing else was collected', () => {
  const t = copyFixture('sosreport');
  put(
    t,
    '/sos_commands/kdump/kdumpctl_estimate',
    'Encrypted kdump target requires extra memory, assuming using the keyslot with minimum memory requirement\n   Reserved crashkernel:    160M\n   Recommended crashkernel: 256M\n\n   Kernel image size:   47M\n   Kernel modules size: 8M\n   Initramfs size:      20M\n   Runtime reservation: 64M\n   Large modules: <none>\nWARNING: Current crashkernel size is lower than recommended size 256M.\n',
  );
  const f = check(t, 'kdump.reserved');
  assert.equal(f.status, 'warn');
  assert.match(f.summary, /below the 256 MiB recommended \(kdumpctl estimate\)/);
  del(t, '/sys/kernel/kexec_crash_size');
  del(t, '/proc/iomem');
  const g = check(t, 'kdump.reserved');
  assert.match(g.summary, /^160 MiB reserved/);
  assert.ok(g.evidence.some((e) => /Reserving 160MB/.test(e.value ?? '')));
});
