import assert from 'node:assert/strict';
import { skipUnlessCI } from '../common/testenv.js';
import { test } from 'node:test';
import { Host } from '../host/host.js';
import { collectSnapshot, rpmQaSection } from './collect.js';
import { execFileSync } from 'node:child_process';
import { SECTION_NAMES, snapshotProblem } from './model.js';
import { copyFixture, del, fixture, put, snap } from './testkit.js';

test('rhel9 tree: every section read or unknown with a reason', () => {
  const s = snap(fixture('rhel9'));
  assert.equal(snapshotProblem(JSON.parse(JSON.stringify(s))), null);
  assert.equal(s.host.source.kind, 'tree');
  const sec = s.sections;
  assert.equal(sec.kernel.status === 'ok' && sec.kernel.data.release, '5.14.0-362.8.1.el9_3.x86_64');
  assert.ok(sec.cmdline.status === 'ok' && sec.cmdline.data.params.length > 0);
  assert.ok(sec.sysctls.status === 'ok');
  assert.equal(sec.sysctls.data.values['kernel.sysrq'] !== undefined, true);
  assert.ok(sec.sysctls.sources[0]!.endsWith('/proc/sys'));
  assert.ok(sec.modules.status === 'ok' && sec.modules.data.names.includes('xfs'));
  assert.ok(sec.units.status === 'ok' && 'kdump.service' in sec.units.data.enabled);
  assert.deepEqual(sec.units.status === 'ok' && sec.units.data.enabled['sysstat-collect.timer'], ['sysstat.service']);
  assert.ok(sec.memory.status === 'ok' && sec.memory.data.memTotalKiB! > 0);
  assert.ok(sec.check.status === 'ok' && sec.check.data.findings.length > 10);
  for (const n of SECTION_NAMES) {
    const x = sec[n];
    if (x.status === 'unknown') assert.ok(x.reason.length > 0, `${n} unknown without reason`);
    else assert.ok(x.sources.length > 0, `${n} without sources`);
  }
  // No RPM database in the fixture and no dpkg: packages are unknown, with a reason.
  assert.equal(sec.packages.status, 'unknown');
});

test('rhel6 tree: no systemd, so units are the SysV start links only; legacy oom_adj exemptions read', () => {
  const s = snap(fixture('rhel6'));
  assert.ok(s.sections.units.status === 'ok' && s.sections.units.data.sysv?.['kdump']);
  // Neither systemd nor SysV directories: unknown, with a reason.
  const bare = copyFixture('rhel6');
  del(bare, '/etc/rc.d');
  del(bare, '/etc/rc3.d');
  const u = snap(bare).sections.units;
  assert.equal(u.status, 'unknown');
  assert.match(u.status === 'unknown' ? u.reason : '', /not a systemd or SysV host/);
  assert.equal(s.sections.oomExempt.status, 'ok');
  assert.ok(s.sections.oomExempt.status === 'ok' && s.sections.oomExempt.data.processes.length > 0);
});

test('debian12 tree: dpkg status packages (config-files excluded), wants links', () => {
  const s = snap(fixture('debian12'));
  assert.equal(s.host.name, 'web03');
  assert.ok(s.sections.packages.status === 'ok');
  assert.equal(s.sections.packages.data.format, 'dpkg');
  assert.deepEqual(s.sections.packages.data.installed['kdump-tools'], ['1:1.8.1']);
  assert.equal(s.sections.packages.data.installed['auditd'], undefined);
  assert.ok(s.sections.units.status === 'ok' && 'kdump-tools.service' in s.sections.units.data.enabled);
});

test('RHEL sosreport: sysctl -a, installed-rpms, list-unit-files; missing data unknown, never absent', () => {
  const s = snap(fixture('sosreport'));
  assert.equal(s.host.source.kind, 'sosreport');
  assert.equal(s.host.name, 'rhel8host');
  const sec = s.sections;
  assert.ok(sec.sysctls.status === 'ok' && sec.sysctls.sources.some((p) => p.endsWith('sos_commands/kernel/sysctl_-a')));
  assert.ok(sec.packages.status === 'ok' && sec.packages.data.format === 'rpm');
  assert.deepEqual(sec.packages.status === 'ok' && sec.packages.data.installed['kernel'], ['4.18.0-513.5.1.el8_9']);
  assert.ok(sec.units.status === 'ok' && 'kdump.service' in sec.units.data.enabled && !('sysstat.service' in sec.units.data.enabled));
  assert.equal(sec.modules.status, 'unknown');
  assert.equal(sec.mounts.status, 'unknown');
  assert.match(sec.mounts.status === 'unknown' ? sec.mounts.reason : '', /not collected/);
});

test('Debian sosreport: lsmod, mount -l, dpkg -l, lscpu fallbacks', () => {
  const s = snap(fixture('sosreport-debian'));
  const sec = s.sections;
  assert.deepEqual(sec.modules.status === 'ok' && sec.modules.data.names, ['dm_mod', 'virtio_net', 'xfs']);
  assert.ok(sec.mounts.status === 'ok' && sec.mounts.data.entries.some((m) => m.mountpoint === '/var/lib/postgresql' && m.fstype === 'xfs'));
  assert.deepEqual(sec.packages.status === 'ok' && Object.keys(sec.packages.data.installed), ['kdump-tools', 'libc6', 'postgresql-15']);
  assert.equal(sec.cpus.status === 'ok' && sec.cpus.data.count, 8);
  assert.equal(sec.memory.status === 'ok' && sec.memory.data.swapTotalKiB, 4194300);
  assert.equal(sec.sysctls.status === 'ok' && sec.sysctls.data.values['vm.overcommit_memory'], '2');
});

test('sosreport: /proc/sys files win, sysctl -a fills the rest', () => {
  const root = copyFixture('sosreport-debian');
  put(root, '/proc/sys/vm/swappiness', '60\n');
  const s = snap(root);
  assert.ok(s.sections.sysctls.status === 'ok');
  assert.equal(s.sections.sysctls.data.values['vm.swappiness'], '60');
  assert.equal(s.sections.sysctls.data.values['kernel.panic'], '0');
  assert.equal(s.sections.sysctls.sources.length, 2);
});

test('malformed inputs are counted in inputProblems, the rest still read', () => {
  const root = copyFixture('debian12');
  put(root, '/proc/modules', 'xfs 2015232 2 - Live 0x0\n\u0000\u0001 binary junk\n');
  put(root, '/proc/mounts', '/dev/vda1 / ext4 rw 0 0\nnot a mount line\n');
  del(root, '/proc/meminfo');
  const s = snap(root);
  assert.ok(s.sections.modules.status === 'ok' && s.sections.modules.data.names.includes('xfs'));
  assert.ok(s.inputProblems.some((p) => p.includes('/proc/modules') && p.includes('1 unparseable')));
  assert.ok(s.inputProblems.some((p) => p.includes('/proc/mounts')));
  assert.equal(s.sections.memory.status, 'unknown');
});

test('live host: collects sysctls, counting the write-only ones it skips', (t) => {
  if (process.getuid?.() !== 0) return skipUnlessCI(t, 'needs root to read every /proc/sys entry');
  const s = collectSnapshot(new Host(), { commands: false, version: 'test' });
  assert.equal(s.host.source.kind, 'live');
  assert.ok(s.sections.sysctls.status === 'ok');
  assert.ok(Object.keys(s.sections.sysctls.data.values).length > 200);
  assert.ok(s.sections.sysctls.data.values['kernel.osrelease']);
  // vm.drop_caches and friends are write-only (mode 0200): skipped and counted, not fatal.
  assert.ok(s.sections.sysctls.data.skipped > 0);
  assert.ok(s.sections.cpus.status === 'ok' && s.sections.cpus.data.count >= 1);
  assert.ok(s.sections.packages.status === 'ok' || s.sections.packages.status === 'unknown');
});

test('live RHEL package list: the fixed rpm -qa --qf query runs and parses', (t) => {
  try {
    execFileSync('rpm', ['--version'], { stdio: 'ignore' });
  } catch {
    return skipUnlessCI(t, 'rpm not installed (CI installs it from .ci/packages)');
  }
  const problems: string[] = [];
  const sec = rpmQaSection(problems);
  assert.equal(sec.status, 'ok', JSON.stringify(sec));
  assert.ok(sec.status === 'ok' && sec.data.format === 'rpm' && typeof sec.data.installed === 'object');
  assert.ok(sec.status === 'ok' && sec.sources[0]!.startsWith('command: rpm -qa --qf'));
  assert.deepEqual(problems, []);
});
