/**
 * Each check on passing and failing evidence, on fixture trees in the real formats
 * (test/data/check/{rhel6,rhel9,debian12,sosreport}); failing variants are built by copying
 * a fixture to a temp dir and changing one file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, copyFixture, del, fixture, link, put, report } from './testkit.js';
import { CHECKS, type CheckDef } from './checks/index.js';
import { reporter } from './checks/common.js';

const RHEL6 = fixture('rhel6');
const RHEL9 = fixture('rhel9');
const DEB = fixture('debian12');
const SOS = fixture('sosreport');
/** A Debian 12 sosreport: sysstat installed and its timer enabled, /etc/default/sysstat not collected. */
const SOS_DEB = fixture('sosreport-debian12');

function status(root: string, id: string): string {
  return check(root, id).status;
}

test('kdump.service: enabled + loaded on RHEL 9 (wants link), RHEL 6 (SysV rc link), Debian, sosreport', () => {
  for (const r of [RHEL9, RHEL6, DEB, SOS]) assert.equal(status(r, 'kdump.service'), 'ok', r);
  const f = check(RHEL6, 'kdump.service');
  assert.ok(f.evidence.some((e) => e.value === 'S26kdump'));
  const t = copyFixture('rhel9');
  del(t, '/etc/systemd/system/multi-user.target.wants/kdump.service');
  put(t, '/sys/kernel/kexec_crash_loaded', '0\n');
  const bad = check(t, 'kdump.service');
  assert.equal(bad.status, 'fail');
  assert.match(bad.summary, /neither enabled nor active/);
  assert.ok(bad.remedy!.commands.includes('systemctl enable --now kdump.service'));
  const t2 = copyFixture('rhel9');
  put(t2, '/sys/kernel/kexec_crash_loaded', '0\n');
  assert.match(check(t2, 'kdump.service').summary, /enabled but not active/);
  const t3 = copyFixture('rhel6');
  del(t3, '/etc/rc.d/rc3.d/S26kdump');
  del(t3, '/etc/rc.d/init.d/kdump');
  del(t3, '/sys/kernel/kexec_crash_loaded');
  assert.match(check(t3, 'kdump.service').summary, /not installed/, 'init.d listed without kdump');
  del(t3, '/etc/rc.d');
  assert.equal(status(t3, 'kdump.service'), 'unknown', 'nothing says either way');
});

test('kdump.service: a masked unit (link to /dev/null) fails even with its wants link, and the remedy unmasks it', () => {
  const t = copyFixture('rhel9');
  put(t, '/sys/kernel/kexec_crash_loaded', '0\n');
  link(t, '/etc/systemd/system/kdump.service', '/dev/null');
  const f = check(t, 'kdump.service');
  assert.equal(f.status, 'fail');
  assert.match(f.summary, /masked/);
  assert.ok(f.evidence.some((e) => e.what === 'kdump.service masked' && e.value === 'link to /dev/null'));
  assert.deepEqual(f.remedy!.commands, ['systemctl unmask kdump.service && systemctl enable --now kdump.service']);
  // A runtime mask (/run) counts the same.
  const r = copyFixture('rhel9');
  put(r, '/sys/kernel/kexec_crash_loaded', '0\n');
  link(r, '/run/systemd/system/kdump.service', '/dev/null');
  assert.match(check(r, 'kdump.service').summary, /masked/);
});

test('kdump.crashkernel: present, absent, and ranges that match no RAM size', () => {
  assert.equal(status(RHEL9, 'kdump.crashkernel'), 'ok');
  assert.match(check(RHEL9, 'kdump.crashkernel').summary, /256 MiB/);
  const t = copyFixture('rhel9');
  put(t, '/proc/cmdline', 'BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 root=/dev/mapper/rhel-root ro\n');
  assert.match(check(t, 'kdump.crashkernel').summary, /reboot pending/, 'the BLS entry already has it');
  del(t, '/boot/loader');
  const f = check(t, 'kdump.crashkernel');
  assert.equal(f.status, 'fail');
  assert.deepEqual(f.remedy!.commands, ['kdumpctl reset-crashkernel --kernel=ALL']);
  assert.equal(f.remedy!.safe, false);
  const t2 = copyFixture('debian12');
  put(t2, '/proc/meminfo', 'MemTotal:         262144 kB\n');
  assert.equal(status(t2, 'kdump.crashkernel'), 'fail', '384M-:128M reserves nothing on 256 MB');
});

test('kdump.reserved: sysfs size, iomem fallback (RHEL 6), auto too small (sosreport), none, not loaded', () => {
  const t = copyFixture('rhel9');
  put(t, '/sys/kernel/kexec_crash_size', '536870912\n');
  assert.equal(status(t, 'kdump.reserved'), 'ok');
  // 256 MiB on 31 GiB with mlx5_core loaded: below the 256 + 32 MiB estimate
  const w = check(RHEL9, 'kdump.reserved');
  assert.equal(w.status, 'warn');
  assert.match(w.summary, /mlx5_core/);
  const r6 = check(RHEL6, 'kdump.reserved');
  assert.equal(r6.status, 'warn');
  assert.ok(r6.evidence.some((e) => e.what === '/proc/iomem Crash kernel' && e.value === '129 MiB'));
  const sos = check(SOS, 'kdump.reserved');
  assert.equal(sos.status, 'warn');
  assert.match(sos.summary, /crashkernel=auto on RHEL 8 reserves 160 MiB/);
  put(t, '/sys/kernel/kexec_crash_size', '0\n');
  assert.equal(status(t, 'kdump.reserved'), 'fail');
  const t6 = copyFixture('rhel6');
  put(t6, '/proc/iomem', '00100000-bfedffff : System RAM\n');
  put(t6, '/var/log/dmesg', 'crashkernel=auto resulted in zero bytes of reserved memory.\n');
  const f6 = check(t6, 'kdump.reserved');
  assert.equal(f6.status, 'fail');
  assert.ok(f6.evidence.some((e) => /zero bytes/.test(e.value ?? '')));
  const t2 = copyFixture('rhel9');
  put(t2, '/sys/kernel/kexec_crash_size', '536870912\n');
  put(t2, '/sys/kernel/kexec_crash_loaded', '0\n');
  assert.match(check(t2, 'kdump.reserved').summary, /no crash kernel is loaded/);
  const t3 = copyFixture('rhel6');
  del(t3, '/proc/iomem');
  del(t3, '/var/log/dmesg');
  assert.equal(status(t3, 'kdump.reserved'), 'unknown');
});

test('kdump.target: local, nfs, Debian kdump-tools, cp collector, disabled, missing', () => {
  assert.match(check(RHEL9, 'kdump.target').summary, /local root file system, path \/var\/crash/);
  assert.match(check(SOS, 'kdump.target').summary, /nfs nfs\.example\.com:\/export\/crash/);
  assert.equal(status(DEB, 'kdump.target'), 'ok');
  const t = copyFixture('rhel9');
  put(t, '/etc/kdump.conf', 'path /var/crash\ncore_collector cp --sparse=always\n');
  assert.equal(status(t, 'kdump.target'), 'warn');
  del(t, '/etc/kdump.conf');
  del(t, '/etc/systemd/system/multi-user.target.wants/kdump.service');
  del(t, '/usr/lib/systemd/system/kdump.service');
  assert.equal(status(t, 'kdump.target'), 'fail');
  const d = copyFixture('debian12');
  put(d, '/etc/default/kdump-tools', 'USE_KDUMP=0\n');
  assert.equal(status(d, 'kdump.target'), 'fail');
  const s = copyFixture('sosreport');
  del(s, '/etc/kdump.conf');
  assert.equal(status(s, 'kdump.target'), 'unknown', 'kdump installed but its config not collected');
});

test('sysrq.mask: 16 and 0 and 438 warn with the Lynis trade-off; 1, 152 and sysrq_always_enabled pass', () => {
  for (const r of [RHEL9, RHEL6, DEB]) {
    const f = check(r, 'sysrq.mask');
    assert.equal(f.status, 'warn', r);
    assert.match(f.tradeoff!, /Lynis/);
    assert.deepEqual(f.remedy!.commands[1], 'sysctl -q -w kernel.sysrq=1');
  }
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/sysrq', '1\n');
  assert.equal(status(t, 'sysrq.mask'), 'ok');
  put(t, '/proc/sys/kernel/sysrq', '152\n');
  assert.match(check(t, 'sysrq.mask').summary, /dumps/);
  assert.equal(status(t, 'sysrq.mask'), 'ok');
  put(t, '/proc/sys/kernel/sysrq', '0\n');
  put(t, '/proc/cmdline', 'ro root=/dev/sda1 sysrq_always_enabled\n');
  assert.equal(status(t, 'sysrq.mask'), 'ok');
  // sosreport: from sysctl -a when proc/sys was not collected
  const s = check(SOS, 'sysrq.mask');
  assert.equal(s.status, 'warn');
  assert.match(s.evidence[0]!.path!, /sos_commands\/kernel\/sysctl_-a$/);
});

test('sysrq.persisted: agree (also 0x01b6 = 438), differ, not persisted', () => {
  assert.equal(status(RHEL9, 'sysrq.persisted'), 'ok');
  assert.equal(status(DEB, 'sysrq.persisted'), 'ok', 'hex in the file equals decimal at runtime');
  assert.equal(check(RHEL6, 'sysrq.persisted').evidence[1]!.value, '0 (/etc/sysctl.conf:16)');
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/sysrq', '1\n');
  const f = check(t, 'sysrq.persisted');
  assert.equal(f.status, 'warn');
  assert.match(f.summary, /next boot loses the dump functions/);
  del(t, '/usr/lib/sysctl.d/50-default.conf');
  assert.equal(status(t, 'sysrq.persisted'), 'info');
  // a later drop-in overrides the vendor file
  const t2 = copyFixture('rhel9');
  put(t2, '/etc/sysctl.d/90-sysrq.conf', 'kernel.sysrq = 1\n');
  assert.match(check(t2, 'sysrq.persisted').summary, /90-sysrq\.conf:1 sets 1/);
});

test('boot.quiet: quiet and rhgb flagged as exact tokens only', () => {
  assert.equal(status(RHEL9, 'boot.quiet'), 'ok');
  const f = check(RHEL6, 'boot.quiet');
  assert.equal(f.status, 'warn');
  assert.match(f.summary, /quiet and rhgb/);
  assert.deepEqual(f.remedy!.commands[0], 'grubby --update-kernel=ALL --remove-args="quiet rhgb"');
  const t = copyFixture('rhel9');
  put(t, '/proc/cmdline', 'ro quietly=1 rhgb_off\n');
  assert.equal(status(t, 'boot.quiet'), 'ok');
});

test('printk.logbuf: estimate from threads against config, cmdline and boot-message sizes, with room for twice the threads', () => {
  const ok = check(RHEL9, 'printk.logbuf');
  assert.equal(ok.status, 'ok');
  assert.match(
    ok.summary,
    /^320 threads \(the most of \/proc\/loadavg 320, Threads: in \/proc\/<pid>\/status \(8 processes\) 8\) × 1536 B ≈ 480 KiB per SysRq-T dump, 960 KiB with room for 2× the threads; buffer 1 MiB \(CONFIG_LOG_BUF_SHIFT=20\)$/,
  );
  assert.ok(ok.evidence.some((e) => e.what === 'threads (/proc/loadavg, 4th field)' && e.value === '320'));
  assert.ok(ok.evidence.some((e) => /sum of Threads: over 8 of 8 \/proc\/<pid>\/status/.test(e.what) && e.value === '8'));
  const w = check(DEB, 'printk.logbuf');
  assert.equal(w.status, 'warn');
  assert.match(w.remedy!.commands[0]!, /log_buf_len=1M/);
  const t = copyFixture('debian12');
  put(t, '/proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 ro log_buf_len=4M\n');
  assert.equal(status(t, 'printk.logbuf'), 'ok');
  const t2 = copyFixture('debian12');
  put(t2, '/var/log/dmesg', '[    0.000000] log_buf_len: 1048576 bytes\n');
  assert.equal(status(t2, 'printk.logbuf'), 'ok');
  del(t2, '/var/log/dmesg');
  del(t2, '/boot');
  assert.equal(status(t2, 'printk.logbuf'), 'unknown');
  assert.match(check(SOS, 'printk.logbuf').summary, /^480 threads \(the most of Threads: in \/proc\/<pid>\/status \(3 processes\) 3, ps -elfL 480\)/);
});

test('printk.logbuf: a copied root without /proc/loadavg counts Threads: over /proc/<pid>/status; the most of all sources wins', () => {
  const t = copyFixture('rhel9');
  del(t, '/proc/loadavg');
  // 8 processes in the fixture (1 thread each); one java with 300 threads makes 308.
  put(t, '/proc/4242/status', 'Name:\tjava\nState:\tS (sleeping)\nPid:\t4242\nPPid:\t1\nThreads:\t300\n');
  put(t, '/proc/4242/comm', 'java\n');
  const f = check(t, 'printk.logbuf');
  assert.equal(f.status, 'ok', '308 threads × 1536 B × 2 = 924 KiB fits 1 MiB');
  assert.match(f.summary, /^308 threads \(Threads: in \/proc\/<pid>\/status \(9 processes\)\)/);
  assert.ok(
    f.evidence.some((e) => e.what === 'threads (/proc/loadavg)' && e.value === null),
    'the missing loadavg is shown',
  );
  // The momentary count of loadavg (132) and the status sum (400) disagree: the larger is used.
  put(t, '/proc/loadavg', '0.00 0.01 0.05 1/132 4242\n');
  put(t, '/proc/4242/status', 'Name:\tjava\nPid:\t4242\nPPid:\t1\nThreads:\t392\n');
  const m = check(t, 'printk.logbuf');
  assert.equal(m.status, 'warn', '400 threads × 1536 B × 2 = 1.2 MiB > 1 MiB');
  assert.match(m.summary, /^400 threads \(the most of \/proc\/loadavg 132, Threads: in \/proc\/<pid>\/status \(9 processes\) 400\)/);
  assert.match(m.summary, /today's dump fits, with no room for more threads/);
  assert.match(m.remedy!.text, /log_buf_len=2M .*2× today's threads/);
});

test('printk.time: Y ok, N warn, not collected unknown', () => {
  assert.equal(status(RHEL9, 'printk.time'), 'ok');
  assert.equal(status(RHEL6, 'printk.time'), 'warn');
  const s = check(SOS, 'printk.time');
  assert.equal(s.status, 'unknown');
  assert.match(s.summary, /not collected/);
});

test('console.capture: serial from cmdline and /proc/consoles, netconsole configfs and cmdline, none', () => {
  assert.match(check(RHEL9, 'console.capture').summary, /serial ttyS0,115200n8/);
  assert.equal(status(DEB, 'console.capture'), 'warn');
  const t = copyFixture('debian12');
  for (const [k, v] of Object.entries({ enabled: '1', remote_ip: '192.0.2.10', remote_port: '6666', dev_name: 'eth0' })) put(t, `/sys/kernel/config/netconsole/target1/${k}`, v + '\n');
  const f = check(t, 'console.capture');
  assert.equal(f.status, 'ok');
  assert.match(f.summary, /netconsole 192\.0\.2\.10:6666 via eth0/);
  const t2 = copyFixture('debian12');
  put(t2, '/proc/cmdline', 'ro netconsole=6665@192.0.2.5/eth0,6666@192.0.2.10/\n');
  const f2 = check(t2, 'console.capture');
  assert.equal(f2.status, 'ok');
  assert.match(f2.summary, /broadcast/);
  const t3 = copyFixture('debian12');
  put(t3, '/etc/modprobe.d/netconsole.conf', 'options netconsole netconsole=6665@192.0.2.5/eth0,6666@192.0.2.10/00:16:3e:12:34:56\n');
  assert.match(check(t3, 'console.capture').summary, /netconsole 6666@192\.0\.2\.10\/00:16:3e:12:34:56 \(modprobe options\)/);
  // RHEL netconsole service configuration, service not enabled: still a warning, with the reason
  const t4 = copyFixture('rhel6');
  put(t4, '/etc/sysconfig/netconsole', '# This is the configuration file for the netconsole service.\nSYSLOGADDR=192.0.2.10\n# SYSLOGPORT=514\n');
  const f4 = check(t4, 'console.capture');
  assert.equal(f4.status, 'warn');
  assert.match(f4.summary, /names 192\.0\.2\.10 but the netconsole service is not enabled/);
});

test('oom.panic: 0 ok, 2 info with kdump, 2 warn without a crash kernel, oom_dump_tasks=0 warn', () => {
  assert.equal(status(RHEL9, 'oom.panic'), 'ok');
  assert.equal(status(RHEL6, 'oom.panic'), 'warn');
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/vm/panic_on_oom', '2\n');
  assert.equal(status(t, 'oom.panic'), 'info');
  put(t, '/sys/kernel/kexec_crash_loaded', '0\n');
  assert.equal(status(t, 'oom.panic'), 'warn');
});

test('oom.exempt: expected daemons ok; java, redis and inherited sshd sessions warn; no /proc data unknown', () => {
  assert.equal(status(RHEL9, 'oom.exempt'), 'ok');
  const j = check(RHEL6, 'oom.exempt');
  assert.equal(j.status, 'warn');
  assert.match(j.summary, /java/);
  assert.ok(j.evidence.some((e) => e.what === 'java ×2' && /oom_score_adj -1000: pid 3100, 3177/.test(e.value!)));
  assert.match(check(SOS, 'oom.exempt').summary, /redis-server/);
  const t = copyFixture('rhel9');
  put(t, '/proc/2201/oom_score_adj', '-1000\n');
  assert.match(check(t, 'oom.exempt').summary, /sshd \(sessions\)/);
  // legacy oom_adj only (pre-2.6.36)
  const t2 = copyFixture('rhel6');
  del(t2, '/proc/3100/oom_score_adj');
  assert.ok(check(t2, 'oom.exempt').evidence.some((e) => /oom_adj -17: pid 3100/.test(e.value ?? '')));
  const t3 = copyFixture('debian12');
  for (const p of ['1', '311', '802', '1210', '1400']) del(t3, `/proc/${p}`);
  assert.equal(status(t3, 'oom.exempt'), 'unknown');
});

test('hung.timeout: on, off, slower than the cluster token, missing; 120 s with nothing to compare is info with the short-timeout advice', () => {
  const r = check(RHEL9, 'hung.timeout');
  assert.equal(r.status, 'info', '120 s and no cluster or watchdog timeout found');
  assert.match(r.summary, /only after 120 s, and no cluster or watchdog timeout was found .* a few seconds \(e\.g\. 10\)/);
  assert.match(r.tradeoff!, /only slow .*hung_task_warnings.*hung_task_panic=1 they panic a healthy server/);
  assert.equal(r.remedy!.safe, false, 'a shorter timeout is a choice, not applied by the fix script');
  assert.equal(r.remedy!.commands[1], 'sysctl -q -w kernel.hung_task_timeout_secs=10');
  const short = copyFixture('rhel9');
  put(short, '/proc/sys/kernel/hung_task_timeout_secs', '10\n');
  assert.equal(status(short, 'hung.timeout'), 'ok');
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/hung_task_timeout_secs', '0\n');
  assert.equal(status(t, 'hung.timeout'), 'warn');
  const s = check(SOS, 'hung.timeout');
  assert.equal(s.status, 'warn');
  assert.match(s.summary, /corosync token \(10 s\)/);
  const t2 = copyFixture('rhel9');
  put(t2, '/etc/corosync/corosync.conf', 'totem {\n    version: 2\n    token: 300000\n}\n');
  assert.equal(status(t2, 'hung.timeout'), 'ok');
  const w = copyFixture('rhel9');
  put(w, '/etc/watchdog.conf', '#ping\t\t\t= 172.31.14.1\nwatchdog-device\t= /dev/watchdog\nwatchdog-timeout\t= 60\n');
  assert.equal(check(w, 'hung.timeout').status, 'info', 'configured but the watchdog daemon is not installed: nothing to compare with');
  put(w, '/usr/lib/systemd/system/watchdog.service', '[Unit]\nDescription=watchdog daemon\n\n[Install]\nWantedBy=default.target\n');
  link(w, '/etc/systemd/system/default.target.wants/watchdog.service', '/usr/lib/systemd/system/watchdog.service');
  assert.match(check(w, 'hung.timeout').summary, /watchdog daemon timeout \(60 s\)/);
  const w2 = copyFixture('rhel9');
  put(w2, '/etc/systemd/system.conf', '[Manager]\n#LogLevel=info\nRuntimeWatchdogSec=2min\n');
  assert.match(check(w2, 'hung.timeout').summary, /not shorter than the systemd RuntimeWatchdogSec \(120 s\)/);
  const s2 = copyFixture('sosreport');
  put(s2, '/sos_commands/kernel/sysctl_-a', 'kernel.sysrq = 16\n');
  assert.equal(status(s2, 'hung.timeout'), 'unknown');
});

test('hung.warnings: the default 10 warns with the remedy; -1 and large ok; used up 0 warn; partly used warn; -1 only from 3.14', () => {
  assert.equal(status(RHEL9, 'hung.warnings'), 'ok', 'the fixture runs with -1');
  const d = check(DEB, 'hung.warnings');
  assert.equal(d.status, 'warn', 'the kernel default 10');
  assert.match(d.summary, /only 10 hung-task report\(s\) left \(the kernel default\)/);
  assert.equal(d.remedy!.commands[1], 'sysctl -q -w kernel.hung_task_warnings=-1', 'Debian 12 runs 6.1: -1 is accepted');
  assert.match(d.remedy!.commands[0]!, /echo 'kernel\.hung_task_warnings = -1' >> \/etc\/sysctl\.conf/);
  assert.equal(d.remedy!.safe, true);
  assert.equal(status(SOS, 'hung.warnings'), 'ok', 'sosreport: -1 from sysctl -a');
  assert.equal(status(RHEL6, 'hung.warnings'), 'warn', 'RHEL 6 at the default 10');
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/hung_task_warnings', '0\n');
  assert.equal(status(t, 'hung.warnings'), 'warn');
  put(t, '/proc/sys/kernel/hung_task_warnings', '7\n');
  const used = check(t, 'hung.warnings');
  assert.equal(used.status, 'warn');
  assert.match(used.summary, /only 7 .* 3 of 10 already used since boot/);
  put(t, '/proc/sys/kernel/hung_task_warnings', '1000000\n');
  assert.equal(status(t, 'hung.warnings'), 'ok');
  put(t, '/etc/sysctl.d/90-hung.conf', 'kernel.hung_task_warnings = 1000000\n');
  put(t, '/proc/sys/kernel/hung_task_warnings', '999988\n');
  const counted = check(t, 'hung.warnings');
  assert.equal(counted.status, 'info', 'plenty left, but 12 hangs were reported since boot');
  assert.match(counted.summary, /999988 hung-task reports left; 12 of 1000000 already used since boot/);
  const t6 = copyFixture('rhel6');
  put(t6, '/proc/sys/kernel/hung_task_warnings', '0\n');
  assert.equal(check(t6, 'hung.warnings').remedy!.commands[1], 'sysctl -q -w kernel.hung_task_warnings=1000000', 'no -1 on 2.6.32');
  const t3 = copyFixture('debian12');
  put(t3, '/proc/sys/kernel/osrelease', '3.13.11-generic\n');
  assert.equal(check(t3, 'hung.warnings').remedy!.commands[1], 'sysctl -q -w kernel.hung_task_warnings=1000000', '3.13 refuses -1');
  put(t3, '/proc/sys/kernel/osrelease', '3.14.0-1-amd64\n');
  assert.equal(check(t3, 'hung.warnings').remedy!.commands[1], 'sysctl -q -w kernel.hung_task_warnings=-1');
});

test('hung.panic: 0 ok, 1 info, 1 with a short timeout warn', () => {
  assert.equal(status(RHEL9, 'hung.panic'), 'ok');
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/hung_task_panic', '1\n');
  assert.equal(status(t, 'hung.panic'), 'info');
  put(t, '/proc/sys/kernel/hung_task_timeout_secs', '10\n');
  assert.equal(status(t, 'hung.panic'), 'warn');
});

test('vfs.cache-pressure: 1-100 ok, 0 fail, >100 warn, overflow near/past on a 2.6.32 kernel fails', () => {
  assert.equal(status(RHEL9, 'vfs.cache-pressure'), 'ok');
  assert.equal(status(SOS, 'vfs.cache-pressure'), 'warn');
  const t = copyFixture('rhel6');
  put(t, '/proc/sys/vm/vfs_cache_pressure', '0\n');
  assert.equal(status(t, 'vfs.cache-pressure'), 'fail');
  put(t, '/proc/sys/vm/vfs_cache_pressure', '10000\n');
  const w = check(t, 'vfs.cache-pressure');
  assert.equal(w.status, 'warn');
  assert.match(w.summary, /floor\(1490021 unused \/ 100\) × 10000 = 149000000 vs INT_MAX 2147483647/);
  put(t, '/proc/sys/fs/dentry-state', '15500000\t15000000\t45\t0\t0\t0\n');
  assert.match(check(t, 'vfs.cache-pressure').summary, /within 2× of overflow/);
  put(t, '/proc/sys/fs/dentry-state', '30500000\t30000000\t45\t0\t0\t0\n');
  const f = check(t, 'vfs.cache-pressure');
  assert.equal(f.status, 'fail');
  assert.match(f.summary, /has overflowed/);
});

test('sysstat: cron (RHEL 6), timer (RHEL 9), Debian ENABLED=false, not installed (sosreport rpm list)', () => {
  assert.equal(status(RHEL6, 'sysstat'), 'ok');
  assert.equal(status(RHEL9, 'sysstat'), 'ok');
  const d = check(DEB, 'sysstat');
  assert.equal(d.status, 'warn');
  assert.match(d.summary, /ENABLED/);
  const s = check(SOS, 'sysstat');
  assert.equal(s.status, 'warn');
  assert.match(s.summary, /not installed/);
  const t = copyFixture('debian12');
  put(t, '/etc/default/sysstat', 'ENABLED="true"\n');
  assert.equal(status(t, 'sysstat'), 'ok');
});

test('sysstat on a Debian sosreport: an enabled timer without /etc/default/sysstat is unknown; data files or ENABLED decide', () => {
  const u = check(SOS_DEB, 'sysstat');
  assert.equal(u.status, 'unknown', 'debian-sa1 collects only with ENABLED="true", which the sosreport did not collect');
  assert.match(u.summary, /its schedule is enabled, but \/etc\/default\/sysstat \(ENABLED\) was not collected/);
  assert.ok(u.evidence.some((e) => e.what === '/etc/default/sysstat ENABLED' && e.value === null && /not collected/.test(e.reason!)));
  const off = copyFixture('sosreport-debian12');
  put(off, '/etc/default/sysstat', 'ENABLED="false"\n');
  assert.equal(status(off, 'sysstat'), 'warn', 'the same answer as the live host gives');
  const on = copyFixture('sosreport-debian12');
  put(on, '/etc/default/sysstat', 'ENABLED="true"\n');
  assert.equal(status(on, 'sysstat'), 'ok');
  const data = copyFixture('sosreport-debian12');
  put(data, '/var/log/sysstat/sa20261119', 'x');
  put(data, '/var/log/sysstat/sa20261120', 'x');
  const d = check(data, 'sysstat');
  assert.equal(d.status, 'ok');
  assert.match(d.summary, /sysstat has collected: 2 daily data files \(\/etc\/default\/sysstat not collected: the data files decide\)/);
  // Data files from an earlier collection do not outvote ENABLED="false".
  put(data, '/etc/default/sysstat', 'ENABLED="false"\n');
  assert.equal(status(data, 'sysstat'), 'warn');
  // A Debian tree (not a sosreport) without the file: not collected there either.
  const tree = copyFixture('debian12');
  del(tree, '/etc/default/sysstat');
  assert.equal(status(tree, 'sysstat'), 'unknown');
});

test('not collected never becomes ok: auditd running with its enablement unknown is info; oom.panic without oom_dump_tasks is unknown', () => {
  const t = copyFixture('rhel9');
  del(t, '/etc/systemd/system/multi-user.target.wants/auditd.service');
  del(t, '/usr/lib/systemd/system/auditd.service');
  const a = check(t, 'audit');
  assert.equal(a.status, 'info');
  assert.match(a.summary, /auditd is running; whether it starts at boot was not collected/);
  const o = copyFixture('rhel9');
  del(o, '/proc/sys/vm/oom_dump_tasks');
  const f = check(o, 'oom.panic');
  assert.equal(f.status, 'unknown');
  assert.match(f.summary, /vm\.oom_dump_tasks .*not collected/);
  const s = copyFixture('sosreport-debian12');
  put(s, '/sos_commands/kernel/sysctl_-a', 'vm.panic_on_oom = 0\n');
  assert.equal(status(s, 'oom.panic'), 'unknown');
});

test('not collected never becomes ok: crashkernel= and boot.quiet without a next-boot configuration are info; a partial sosreport process table is info', () => {
  const t = copyFixture('rhel9');
  del(t, '/boot/loader');
  del(t, '/boot/grub2');
  const k = check(t, 'kdump.crashkernel');
  assert.equal(k.status, 'info');
  assert.match(k.summary, /on the running command line; the next boot's configuration was not found/);
  const q = check(t, 'boot.quiet');
  assert.equal(q.status, 'info');
  assert.match(q.summary, /neither quiet nor rhgb on the running command line; the next boot's configuration was not found/);
  const s = copyFixture('sosreport');
  del(s, '/proc/2345');
  for (let pid = 5000; pid < 7048; pid++) put(s, `/proc/${pid}/oom_score_adj`, '0\n');
  const o = check(s, 'oom.exempt');
  assert.equal(o.status, 'info', 'sos collects only the first 2048 processes: the rest may be exempt');
  assert.match(o.summary, /sosreport holds only the first 2048 processes/);
});

test('service remedies follow PID 1: systemctl under systemd, chkconfig (RHEL 6) or update-rc.d (Debian with sysvinit) otherwise', () => {
  const sysv = copyFixture('debian12');
  put(sysv, '/proc/1/comm', 'init\n');
  const k = check(sysv, 'audit');
  assert.ok(k.remedy!.commands.includes('update-rc.d auditd defaults && update-rc.d auditd enable && service auditd start'), k.remedy!.commands.join(' | '));
  assert.ok(!k.remedy!.commands.some((c) => /systemctl/.test(c)));
  const sd = copyFixture('debian12');
  put(sd, '/run/systemd/system/.keep', '');
  put(sd, '/proc/1/comm', 'init\n');
  assert.ok(check(sd, 'audit').remedy!.commands.includes('systemctl enable --now auditd.service'), '/run/systemd/system wins (sd_booted)');
  const r6 = copyFixture('rhel6');
  put(r6, '/proc/sys/kernel/hung_task_warnings', '0\n');
  del(r6, '/proc/1450');
  put(r6, '/proc/4000/comm', 'java\n');
  put(r6, '/proc/4000/oom_score_adj', '-1000\n');
  const r = report(r6);
  const cmds = r.findings.flatMap((f) => f.remedy?.commands ?? []);
  assert.ok(!cmds.some((c) => /systemctl/.test(c)), cmds.join('\n'));
  assert.ok(cmds.includes('chkconfig auditd on && service auditd start'), cmds.join('\n'));
  assert.ok(
    cmds.some((c) => c.startsWith('grep -rnE "oom_(score_)?adj" /etc/init.d')),
    'OOM exemptions looked for in init scripts',
  );
  // A Debian sosreport whose ps shows /sbin/init is still systemd: sos ran its systemd plugin.
  assert.ok(check(SOS_DEB, 'audit').remedy!.commands.includes('systemctl enable --now auditd.service'));
  const sosSysv = copyFixture('sosreport-debian12');
  del(sosSysv, '/sos_commands/systemd');
  assert.ok(check(sosSysv, 'audit').remedy!.commands.some((c) => c.startsWith('update-rc.d auditd defaults')));
});

test('audit: running (process, auditctl -s), not running, not installed', () => {
  assert.equal(status(RHEL9, 'audit'), 'ok');
  assert.equal(status(RHEL6, 'audit'), 'ok');
  assert.equal(status(SOS, 'audit'), 'ok');
  assert.match(check(DEB, 'audit').summary, /not installed/);
  const t = copyFixture('rhel9');
  del(t, '/proc/902');
  assert.match(check(t, 'audit').summary, /installed but not running/);
});

test('uptime.bugs: RHEL 6 before 358.23.2 near 208.5 days fails, younger warns, fixed kernel ok', () => {
  const f = check(RHEL6, 'uptime.bugs');
  assert.equal(f.status, 'fail');
  assert.ok(f.evidence.some((e) => e.what === 'boot time' && e.value === '2013-03-23T00:53:20.000Z'));
  const t = copyFixture('rhel6');
  put(t, '/proc/uptime', '864000.00 1700000.00\n');
  assert.equal(status(t, 'uptime.bugs'), 'warn');
  put(t, '/proc/sys/kernel/osrelease', '2.6.32-358.23.2.el6.x86_64\n');
  assert.equal(status(t, 'uptime.bugs'), 'ok');
  const s = check(SOS, 'uptime.bugs');
  assert.equal(s.status, 'ok');
  assert.match(s.summary, /up 42\.1 days since 2023-10-10/);
});

test('a snapshot that collected nothing gives unknown (or a real fail/warn), never ok', () => {
  const t = copyFixture('sosreport');
  for (const d of ['proc', 'sys', 'etc', 'boot', 'sos_commands', 'installed-rpms', 'uname', 'uptime', 'hostname', 'date', 'ps']) del(t, '/' + d);
  put(t, '/sos_commands/.keep', '');
  const r = report(t);
  const oks = r.findings.filter((f) => f.status === 'ok');
  assert.deepEqual(
    oks.map((f) => f.id),
    [],
  );
  for (const f of r.findings) assert.equal(f.status, 'unknown', `${f.id}: ${f.summary}`);
});

test('malformed evidence gives unknown with a reason, never a crash', () => {
  const t = copyFixture('rhel9');
  put(t, '/proc/sys/kernel/sysrq', 'lots\n');
  put(t, '/proc/sys/kernel/hung_task_timeout_secs', 'x\n');
  put(t, '/proc/sys/vm/vfs_cache_pressure', '\u0000\u0001\n');
  put(t, '/proc/cmdline', '\u0000\u00ff"unterminated crashkernel=garbage\n');
  put(t, '/proc/meminfo', 'nonsense\n');
  put(t, '/proc/1/oom_score_adj', 'not a number\n');
  link(t, '/etc/kdump.conf', '/etc/kdump.conf');
  const r = report(t);
  assert.equal(r.findings.length, CHECKS.length);
  assert.equal(check(t, 'sysrq.mask').status, 'unknown');
  assert.equal(check(t, 'hung.timeout').status, 'unknown');
  assert.equal(check(t, 'vfs.cache-pressure').status, 'unknown');
  for (const f of r.findings) assert.ok(!/internal error/.test(f.summary), `${f.id}: ${f.summary}`);
});

test('next boot: BLS entry of the running kernel, $kernelopts from grubenv, grub.conf, /etc/default/grub + grub.d', () => {
  // RHEL 9: the running kernel's BLS entry is chosen, not the rescue entry (which has rhgb quiet)
  assert.equal(status(RHEL9, 'boot.quiet'), 'ok');
  const t = copyFixture('rhel9');
  const bls = '/boot/loader/entries/4c1e0d5a2b3f4e6a9d8c7b6a5f4e3d2c-5.14.0-362.8.1.el9_3.x86_64.conf';
  put(t, bls, 'title RHEL\nversion 5.14.0-362.8.1.el9_3.x86_64\nlinux /vmlinuz-5.14.0-362.8.1.el9_3.x86_64\noptions root=/dev/mapper/rhel-root ro quiet $tuned_params\n');
  const q = check(t, 'boot.quiet');
  assert.equal(q.status, 'warn');
  assert.match(q.summary, /come back at the next boot/);
  const k = check(t, 'kdump.crashkernel');
  assert.equal(k.status, 'warn');
  assert.match(k.summary, /missing from the next-boot configuration/);
  // RHEL 6: quiet/rhgb removed in grub.conf but not rebooted yet
  const t6 = copyFixture('rhel6');
  put(
    t6,
    '/boot/grub/grub.conf',
    'default=0\ntimeout=5\ntitle Red Hat Enterprise Linux Server (2.6.32-358.el6.x86_64)\n\troot (hd0,0)\n\tkernel /vmlinuz-2.6.32-358.el6.x86_64 ro root=/dev/mapper/vg_db01-lv_root crashkernel=auto\n',
  );
  const i = check(t6, 'boot.quiet');
  assert.equal(i.status, 'info');
  assert.match(i.summary, /reboot pending/);
  // Debian: crashkernel comes from /etc/default/grub.d/kdump-tools.cfg
  const d = copyFixture('debian12');
  put(d, '/proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=4b0c5a3e ro quiet\n');
  const dk = check(d, 'kdump.crashkernel');
  assert.equal(dk.status, 'fail');
  assert.match(dk.summary, /next boot has crashkernel=384M-:128M \(reboot pending\)/);
  // RHEL 8 sosreport: options "$kernelopts $tuned_params" expanded from boot/grub2/grubenv
  const s = check(SOS, 'boot.quiet');
  assert.ok(s.evidence.some((e) => e.what === 'next boot (BLS entry options)' && /crashkernel=auto .* rhgb quiet$/.test(e.value!)));
});

test('panic.settings: explained as info; suggests panic_on_oops=1 only when kdump is loaded', () => {
  const r6 = check(RHEL6, 'panic.settings');
  assert.equal(r6.status, 'info');
  assert.match(r6.summary, /a panic leaves the server stopped \(kernel\.panic=0\); an oops panics; soft lockups are reported only; soft lockup after 20 s/);
  assert.equal(r6.remedy, null);
  const r9 = check(RHEL9, 'panic.settings');
  assert.match(r9.summary, /panic_on_oops=1 would capture a vmcore/);
  assert.equal(r9.remedy!.safe, false);
  const t = copyFixture('rhel9');
  put(t, '/sys/kernel/kexec_crash_loaded', '0\n');
  assert.equal(check(t, 'panic.settings').remedy, null);
  const e = copyFixture('rhel9');
  for (const k of ['panic', 'panic_on_oops', 'softlockup_panic', 'watchdog_thresh', 'nmi_watchdog']) del(e, `/proc/sys/kernel/${k}`);
  assert.equal(check(e, 'panic.settings').status, 'unknown');
});

test("every finding carries its check's title, why and (when it has one) trade-off, from the CheckDef, on every fixture", () => {
  for (const name of ['rhel6', 'rhel9', 'debian12', 'sosreport', 'sosreport-debian12']) {
    for (const f of report(fixture(name)).findings) {
      const def = CHECKS.find((c) => c.id === f.id);
      assert.ok(def, `${name}: finding ${f.id} names no check`);
      assert.equal(f.why, def.why, `${name}: ${f.id}`);
      assert.ok(def.why.length > 0, `${f.id} has an empty why`);
      assert.equal(f.title, def.title, `${name}: ${f.id} title`);
      if (f.tradeoff !== undefined) assert.equal(f.tradeoff, def.tradeoff, `${name}: ${f.id} tradeoff`);
    }
  }
});

test('reporter: a body says status, summary, evidence and remedy; the CheckDef gives the rest', () => {
  const def: CheckDef = { id: 'x.y', title: 'T', why: 'W', tradeoff: 'TO', run: (r) => r.ok('s', []) };
  const r = reporter(def);
  assert.deepEqual(r.warn('s', [], null), { id: 'x.y', title: 'T', status: 'warn', summary: 's', evidence: [], why: 'W', remedy: null });
  assert.equal(r.withTradeoff.fail('s', []).tradeoff, 'TO');
  assert.equal(r.finding('info', 's', []).status, 'info');
  assert.equal('tradeoff' in r.ok('s', []), false);
});
