import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  autoCrashBytes,
  dmesgCrashLines,
  dmesgLogBufBytes,
  iomemCrashBytes,
  parseAuditctlStatus,
  parseChkconfig,
  parseCmdline,
  parseCrashkernel,
  parseDentryState,
  parseKdumpConf,
  parseKernelRelease,
  parseListUnits,
  parsePsCommands,
  parseShellVars,
  parseSize,
  parseSysctlA,
  parseSysctlConf,
  parseUnitFiles,
  parseUptimeCommand,
  recommendedCrashBytes,
  rpmInstalled,
  rpmvercmp,
  shrinkerProduct,
  sysctlApplyOrder,
  sysctlValuesEqual,
  INT_MAX,
} from './parse.js';

const M = 2 ** 20;
const G = 2 ** 30;

test('cmdline: quotes, repeated keys, flags, and init arguments after --', () => {
  const c = parseCmdline('ro quiet console=tty0 console=ttyS0,115200n8 netconsole="+@/eth0,6666@10.0.0.9/" crashkernel=auto -- --init-arg quiet\n');
  assert.deepEqual(c.params.get('console'), ['tty0', 'ttyS0,115200n8']);
  assert.equal(c.params.get('quiet')?.length, 1, 'quiet after -- belongs to init');
  assert.deepEqual(c.params.get('netconsole'), ['+@/eth0,6666@10.0.0.9/']);
  assert.ok(!c.params.has('rhgb'));
  assert.ok(!parseCmdline('quietly=1 #rhgb').params.has('quiet'));
});

test('crashkernel: fixed, ranges chosen by RAM, auto, offsets, malformed', () => {
  assert.deepEqual(parseCrashkernel('256M', null), { kind: 'fixed', bytes: 256 * M, offset: undefined, high: false });
  assert.equal((parseCrashkernel('512M,high', null) as { high: boolean }).high, true);
  assert.equal((parseCrashkernel('128M@16M', null) as { offset: string }).offset, '16M');
  const r = parseCrashkernel('1G-4G:192M,4G-64G:256M,64G-:512M', 32 * G);
  assert.equal(r.kind === 'ranges' && r.bytes, 256 * M);
  const none = parseCrashkernel('1G-4G:192M,4G-64G:256M', 512 * M);
  assert.equal(none.kind === 'ranges' && none.bytes, null);
  assert.equal(parseCrashkernel('384M-:128M', 8 * G).kind === 'ranges' && (parseCrashkernel('384M-:128M', 8 * G) as { bytes: number }).bytes, 128 * M);
  assert.deepEqual(parseCrashkernel('auto', 8 * G), { kind: 'auto' });
  assert.equal(parseCrashkernel('lots', 8 * G).kind, 'invalid');
  assert.equal(parseCrashkernel('1G-x:5', 8 * G).kind, 'invalid');
});

test('crash reservation defaults per release (readiness.md §2.1)', () => {
  assert.equal(recommendedCrashBytes(3 * G), 192 * M);
  assert.equal(recommendedCrashBytes(32 * G), 256 * M);
  assert.equal(recommendedCrashBytes(128 * G), 512 * M);
  assert.equal(autoCrashBytes(6, 1.5 * G), 0, 'RHEL 6 auto reserves nothing below 2 GB');
  assert.equal(autoCrashBytes(7, 16 * G), 161 * M + 64 * M);
  assert.equal(autoCrashBytes(8, 3.7 * G), 160 * M);
  assert.equal(autoCrashBytes(9, 16 * G), null);
});

test('iomem and dmesg crash kernel lines', () => {
  assert.deepEqual(iomemCrashBytes('00100000-bfedffff : System RAM\n  03000000-0b0fffff : Crash kernel\n'), { bytes: 129 * M, zeroed: false });
  assert.deepEqual(iomemCrashBytes('  00000000-00000000 : Crash kernel\n'), { bytes: 0, zeroed: true });
  assert.equal(iomemCrashBytes('00100000-bfedffff : System RAM\n'), null);
  const d = dmesgCrashLines('[    0.000000] crashkernel=auto resulted in zero bytes of reserved memory.\nReserving 129MB of memory at 48MB for crashkernel (System RAM: 16384MB)\n');
  assert.equal(d.failed.length, 1);
  assert.equal(d.reserved.length, 1);
});

test('sysctl files: comments, "-" prefix, slashes, bad lines counted; systemd application order', () => {
  const p = parseSysctlConf('# c\n; c\nkernel.sysrq = 16\n-net.ipv4.conf.all.rp_filter\n-kernel/hung_task_warnings=5\ngarbage line\n', '/etc/sysctl.d/x.conf');
  assert.deepEqual(p.settings.map((s) => [s.key, s.value, s.line]), [['kernel.sysrq', '16', 3], ['kernel.hung_task_warnings', '5', 5]]);
  assert.equal(p.bad, 1);
  const order = sysctlApplyOrder([
    { dir: '/usr/lib/sysctl.d', name: '50-default.conf' },
    { dir: '/etc/sysctl.d', name: '50-default.conf' },
    { dir: '/etc/sysctl.d', name: '10-a.conf' },
    { dir: '/run/sysctl.d', name: '99-z.conf' },
    { dir: '/etc/sysctl.d', name: 'README.sysctl' },
  ]);
  assert.deepEqual(order, ['/etc/sysctl.d/10-a.conf', '/etc/sysctl.d/50-default.conf', '/run/sysctl.d/99-z.conf']);
  assert.equal(parseSysctlA('kernel.sysrq = 16\nfs.dentry-state = 1\t2\t3\n').get('fs.dentry-state'), '1\t2\t3');
  assert.ok(sysctlValuesEqual('0x01b6', '438'));
  assert.ok(sysctlValuesEqual('4 4 1 7', '4\t4\t1\t7'));
  assert.ok(!sysctlValuesEqual('16', '1'));
});

test('kdump.conf and shell variable files', () => {
  const k = parseKdumpConf('#raw /dev/sda5\nnfs nfs.example.com:/export/crash # remote\npath /var/crash\ncore_collector makedumpfile -l -d 31\n');
  assert.deepEqual(k.target, { type: 'nfs', value: 'nfs.example.com:/export/crash' });
  assert.equal(k.path, '/var/crash');
  assert.equal(k.options.get('core_collector'), 'makedumpfile -l -d 31');
  const v = parseShellVars('USE_KDUMP=1\nKDUMP_COREDIR="/var/crash" \nexport X=\'a b\'\n# Y=2\nZ=3 # note\n');
  assert.deepEqual([...v], [['USE_KDUMP', '1'], ['KDUMP_COREDIR', '/var/crash'], ['X', 'a b'], ['Z', '3']]);
});

test('dentry-state and the old shrinker overflow arithmetic', () => {
  const d = parseDentryState('1534253\t1490021\t45\t0\t0\t0\n')!;
  assert.equal(d.nrUnused, 1490021);
  assert.equal(parseDentryState('garbage'), null);
  assert.equal(shrinkerProduct(1490021, 100), 1490000);
  // pressure <= 100 can never overflow: floor(n/100)*100 <= n <= INT_MAX
  fc.assert(fc.property(fc.integer({ min: 0, max: INT_MAX }), fc.integer({ min: 1, max: 100 }), (n, p) => shrinkerProduct(n, p) <= INT_MAX));
  assert.ok(shrinkerProduct(21_474_900, 10000) > INT_MAX);
});

test('uptime command output, sizes, kernel releases, rpmvercmp', () => {
  assert.equal(parseUptimeCommand(' 10:15:01 up 42 days,  3:04,  2 users,  load average: 0.00'), 42 * 86400 + 3 * 3600 + 4 * 60);
  assert.equal(parseUptimeCommand(' 10:15:01 up 5 min,  1 user,  load average: 0.00'), 300);
  assert.equal(parseUptimeCommand('nonsense'), null);
  assert.equal(parseSize('4M'), 4 * M);
  assert.equal(parseSize('x'), null);
  const k = parseKernelRelease('2.6.32-358.23.2.el6.x86_64')!;
  assert.deepEqual([k.version, k.rhelMajor], [[2, 6, 32], 6]);
  assert.equal(parseKernelRelease('5.14.0-362.8.1.el9_3.x86_64')!.rhelMajor, 9);
  assert.equal(rpmvercmp('358.el6', '358.23.2.el6'), -1);
  assert.equal(rpmvercmp('358.23.2.el6', '358.23.2.el6'), 0);
  assert.equal(rpmvercmp('431.el6', '358.23.2.el6'), 1);
  assert.equal(rpmvercmp('1.0~rc1', '1.0'), -1);
  fc.assert(fc.property(fc.string(), fc.string(), (a, b) => rpmvercmp(a, b) === -rpmvercmp(b, a) || (rpmvercmp(a, b) === 0 && rpmvercmp(b, a) === 0)));
});

test('service, package and process listings', () => {
  assert.deepEqual([...parseChkconfig('kdump          \t0:off\t1:off\t2:off\t3:on\t4:on\t5:on\t6:off\nsysstat\t0:off\t1:on\t2:off\t3:off\t4:off\t5:off\t6:off\n')], [['kdump', true], ['sysstat', false]]);
  assert.equal(parseUnitFiles('UNIT FILE   STATE\nkdump.service  enabled  \n').get('kdump.service'), 'enabled');
  assert.deepEqual(parseListUnits('● kdump.service loaded failed failed Crash recovery kernel arming\n').get('kdump.service'), { active: 'failed', sub: 'failed' });
  assert.deepEqual(parsePsCommands('USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\nroot 1 0 0 1 1 ? Ss Oct10 0:12 /usr/lib/systemd/systemd --switched-root\nroot - 0 - - - - Ss Oct10 0:12 -\nroot 2 0 0 0 0 ? S Oct10 0:00 [kthreadd]\n'), ['systemd', 'kthreadd']);
  assert.deepEqual(rpmInstalled('sysstat-11.7.3-9.el8.x86_64                  Tue Oct 10 2023\nsysstat-extra-1-1.noarch\n', 'sysstat'), ['11.7.3-9.el8']);
  assert.deepEqual(rpmInstalled('package sysstat is not installed\n', 'sysstat'), []);
  assert.deepEqual(parseAuditctlStatus('AUDIT_STATUS: enabled=1 flag=1 pid=1450 rate_limit=0 backlog_limit=320 lost=0 backlog=0'), { enabled: 1, pid: 1450 });
  assert.deepEqual(parseAuditctlStatus('enabled 1\nfailure 1\npid 712\n'), { enabled: 1, pid: 712 });
  assert.equal(dmesgLogBufBytes('[    0.032524] printk: log buffer data + meta data: 131072 + 458752 = 589824 bytes')!.bytes, 131072);
  assert.equal(dmesgLogBufBytes('[    0.000000] log_buf_len: 4194304 bytes')!.bytes, 4194304);
});

test('parsers never throw on arbitrary input', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      parseCmdline(s);
      parseCrashkernel(s, 8 * G);
      parseSysctlConf(s, '/x');
      parseKdumpConf(s);
      parseShellVars(s);
      parseUptimeCommand(s);
      parsePsCommands(s);
      parseDentryState(s);
      iomemCrashBytes(s);
      parseKernelRelease(s);
      return true;
    }),
  );
});

test('boot loader configuration parsers', async () => {
  const { parseBlsEntry, expandGrubVars, parseGrubenv, grubDefaultArgs, grubLegacyDefault } = await import('./parse.js');
  const e = parseBlsEntry('title X\nversion 5.14.0-1.el9.x86_64\nlinux /vmlinuz-5.14.0-1.el9.x86_64\noptions $kernelopts quiet\n');
  assert.equal(e.version, '5.14.0-1.el9.x86_64');
  assert.equal(expandGrubVars(e.options!, parseGrubenv('# GRUB Environment Block\nkernelopts=root=/dev/sda1 ro\n####')), 'root=/dev/sda1 ro quiet');
  assert.equal(grubDefaultArgs(['GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0"\n', 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n']), 'console=ttyS0 quiet crashkernel=384M-:128M');
  assert.equal(grubDefaultArgs(['GRUB_TIMEOUT=5\n']), null);
  const g = grubLegacyDefault('default=1\ntitle A\n\tkernel /vmlinuz-a ro a\ntitle B\n\tkernel /vmlinuz-b ro b quiet\n');
  assert.deepEqual(g, { title: 'B', args: 'ro b quiet' });
  assert.equal(grubLegacyDefault('no entries'), null);
});
