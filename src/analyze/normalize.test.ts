/** The line normaliser on each envelope, and per-file format detection. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Normalizer, detectFormat } from './normalize.js';
import { parseTimeArg, parseTimeBound } from './cli.js';
import { parseFrame, parseRip, normalizeSyscall } from './frames.js';
import { sanitizeTitle } from './detect.js';

const norm = () => new Normalizer({ file: 'f', refYear: 2024, refMonth: 4 });

test('raw dmesg with stamp, printk caller and level', () => {
  const l = norm().normalize('<4>[ 1959.698473][ T6611] general protection fault', 1);
  assert.equal(l.level, 4);
  assert.equal(l.kernelTimeText, '1959.698473');
  assert.equal(l.caller, 'T6611');
  assert.equal(l.text, 'general protection fault');
  assert.equal(l.wall, undefined);
});

test('classic syslog: space-padded day, year from the reference, month after it is last year', () => {
  const n = norm();
  const a = n.normalize('May  3 06:00:39 web01 kernel: [ 12.5] BUG: x', 1);
  assert.equal(a.wall?.iso, '2024-05-03T06:00:39');
  assert.equal(a.wall?.zoned, false);
  assert.equal(a.host, 'web01');
  assert.equal(a.kernelTimeText, '12.5');
  assert.equal(a.text, 'BUG: x');
  const b = n.normalize('Dec 31 23:59:59 web01 kernel: x', 2);
  assert.equal(b.wall?.iso, '2023-12-31T23:59:59');
  const c = n.normalize('May  3 06:00:39 web01 sshd[12]: Accepted', 3);
  assert.equal(c.kernel, false);
});

test('journalctl short-precise and short-iso', () => {
  const a = norm().normalize('May 03 06:00:39.123456 web01 kernel: hello', 1);
  assert.equal(a.wall?.iso, '2024-05-03T06:00:39.123456');
  const b = norm().normalize('2024-05-03T08:00:39+0200 web01 kernel: hello', 1);
  assert.equal(b.wall?.iso, '2024-05-03T08:00:39+02:00');
  assert.equal(new Date(b.wall!.ms).toISOString(), '2024-05-03T06:00:39.000Z');
});

test('RFC 3339 with PRI', () => {
  const l = norm().normalize('<6>2024-04-17T00:26:33.540821+05:30 host-name kernel: [   29.751657] i40e eth5: up', 1);
  assert.equal(l.level, 6);
  assert.equal(l.host, 'host-name');
  assert.equal(l.kernelTimeText, '29.751657');
  assert.equal(l.text, 'i40e eth5: up');
  assert.equal(new Date(l.wall!.ms).toISOString(), '2024-04-16T18:56:33.541Z');
});

test('dmesg -T', () => {
  const l = norm().normalize('[Tue May  3 06:00:39 2022] Kernel panic - not syncing: x', 1);
  assert.equal(l.wall?.iso, '2022-05-03T06:00:39');
  assert.equal(l.wallText, 'Tue May  3 06:00:39 2022');
  assert.equal(l.text, 'Kernel panic - not syncing: x');
});

test('Lantern netconsole, udplogger, extended netconsole records, IPv6 senders', () => {
  const a = norm().normalize('2024-05-03T06:00:39.123456Z 10.1.2.3:6666 [  12.000000] BUG: x', 1);
  assert.equal(a.host, '10.1.2.3');
  assert.equal(a.kernelTimeText, '12.000000');
  assert.equal(a.text, 'BUG: x');
  const b = norm().normalize('2024-05-03 06:00:39 10.1.2.3:6666 BUG: y', 1);
  assert.equal(b.host, '10.1.2.3');
  assert.equal(b.text, 'BUG: y');
  const c = norm().normalize('2024-05-03T06:00:39Z [::1]:6666 6,1234,5000000,-;hello', 1);
  assert.equal(c.host, '::1');
  assert.equal(c.level, 6);
  assert.equal(c.kernelTimeText, '5.000000');
  assert.equal(c.text, 'hello');
});

test('journal JSON: realtime, monotonic, host, byte-array MESSAGE, boot id change; bad JSON counted', () => {
  const n = norm();
  const rec = { __REALTIME_TIMESTAMP: '1714716039000000', _SOURCE_MONOTONIC_TIMESTAMP: '12000000', _TRANSPORT: 'kernel', _HOSTNAME: 'h', PRIORITY: '3', _BOOT_ID: 'a', MESSAGE: [66, 85, 71, 58] };
  const a = n.normalize(JSON.stringify(rec), 1);
  assert.equal(a.text, 'BUG:');
  assert.equal(a.wall?.iso, '2024-05-03T06:00:39.000Z');
  assert.equal(a.kernelTimeText, '12.000000');
  assert.equal(a.level, 3);
  assert.equal(a.bootMarker, undefined);
  const b = n.normalize(JSON.stringify({ ...rec, _BOOT_ID: 'b', MESSAGE: 'Linux version 6.1' }), 2);
  assert.equal(b.bootMarker, true);
  n.normalize('{"MESSAGE": broken', 3);
  assert.equal(n.malformed, 1);
});

test('serial console: CR, ANSI escapes, glued login prompt, pdsh host prefix, journal boot separators', () => {
  assert.equal(norm().normalize('\x1b[0;32m[  1.000000] hello\x1b[0m\r', 1).text, 'hello');
  assert.equal(norm().normalize('web01 login: [  35.440000] BUG: x', 1).text, 'BUG: x');
  const p = norm().normalize('db02: [  35.440000] BUG: x', 1);
  assert.equal(p.host, 'db02');
  assert.equal(p.text, 'BUG: x');
  assert.equal(norm().normalize('-- Boot 3a5f0c1e2d --', 1).bootMarker, true);
  assert.equal(norm().normalize('-- Reboot --', 1).bootMarker, true);
  assert.equal(norm().normalize('-- Logs begin at Mon 2024-05-03 --', 1).kernel, false);
});

test('format detection names each format from its first lines', () => {
  assert.equal(detectFormat(['[    0.000000] Linux version 6.1', '[    0.1] x'], 'dmesg.txt'), 'dmesg');
  assert.equal(detectFormat(['Linux version 6.1', 'Command line: x'], 'vmcore-dmesg.txt'), 'dmesg-raw');
  assert.equal(detectFormat(['May  3 06:00:39 h kernel: x', 'May  3 06:00:39 h sshd[1]: y'], 'messages'), 'syslog');
  assert.equal(detectFormat(['May 03 06:00:39 h kernel: x'], 'j'), 'journal-short');
  assert.equal(detectFormat(['Fri 2024-05-03 06:00:39 CEST h kernel: x'], 'j'), 'journal-short');
  assert.equal(detectFormat(['[ 1234.567890] h kernel: x'], 'j'), 'journal-short');
  assert.equal(detectFormat(['2024-05-03T06:00:39+0200 h kernel: x'], 'j'), 'syslog-rfc3339');
  assert.equal(detectFormat(['{"MESSAGE":"x"}'], 'j'), 'journal-json');
  assert.equal(detectFormat(['[Tue May  3 06:00:39 2022] x'], 'd'), 'dmesg-T');
  assert.equal(detectFormat(['2024-05-03T06:00:39Z 10.0.0.1:6666 x'], 'n'), 'netconsole');
  assert.equal(detectFormat(['2024-05-03 06:00:39 10.0.0.1:6666 x'], 'u'), 'udplogger');
  assert.equal(detectFormat(['[    1.0] x\r', 'Booting'], 's'), 'serial');
  assert.equal(detectFormat(['web01: [    1.0] x', 'db02: [    1.0] y'], 's'), 'serial');
});

test('frames: x86 with address, symbolised, ARM, 2.6 module prefix, unreliable, RIP forms', () => {
  assert.deepEqual(parseFrame(' [<ffffffff8185cb45>] ? fsnotify+0x5/0x4b0'), { func: 'fsnotify', reliable: false });
  assert.deepEqual(parseFrame('  nv50_dac_sense+0x60/0x140 [nouveau]'), { func: 'nv50_dac_sense', reliable: true, module: 'nouveau' });
  assert.deepEqual(parseFrame(' __dump_stack lib/dump_stack.c:77 [inline]'), { func: '__dump_stack', reliable: true });
  assert.deepEqual(parseFrame('[<c0012345>] (dump_backtrace) from [<c0012399>] (show_stack+0x18/0x1c)'), { func: 'dump_backtrace', reliable: true });
  assert.deepEqual(parseFrame(' [<ffffffff880331ad>] :jbd:journal_commit_transaction+0x553/0x10aa'), { func: 'journal_commit_transaction', reliable: true, module: 'jbd' });
  assert.deepEqual(parseFrame(' check_cpu_stall.isra.61+0x6e6/0x15b0'), { func: 'check_cpu_stall', reliable: true });
  assert.equal(parseFrame('Hardware name: Google Compute Engine'), null);
  assert.equal(parseRip('RIP: 0010:__rb_insert_augmented+0x99/0x8b0')?.func, '__rb_insert_augmented');
  assert.equal(parseRip('RIP: 0010:[<ffffffff8115f8a2>]  [<ffffffff8115f8a2>] find_get_entry+0x42/0xc0')?.func, 'find_get_entry');
  assert.deepEqual(parseRip('EIP is at radeon_audio_detect+0x54/0x140 [radeon]'), { func: 'radeon_audio_detect', module: 'radeon' });
  assert.equal(parseRip('RIP: 0033:0x7f7004c274ba'), null);
  assert.equal(normalizeSyscall('__x64_sys_rmdir'), 'sys_rmdir');
  assert.equal(normalizeSyscall('SyS_ioctl'), 'sys_ioctl');
});

test('titles lose addresses, numbers, CPU ids and offsets', () => {
  assert.equal(
    sanitizeTitle('bad page state in process foo pfn:1a2b3c4d at mm/page_alloc.c:1234 CPU#3 free_pages+0x1/0x2'),
    'bad page state in process foo pfn:ADDR at mm/page_alloc.c:LINE CPU free_pages',
  );
});

test('--since/--until values', () => {
  const now = new Date('2024-05-03T12:00:00Z');
  assert.equal(parseTimeArg('2024-05-03T06:00:00', now), Date.UTC(2024, 4, 3, 6));
  assert.equal(parseTimeArg('2024-05-03 08:00+02:00', now), Date.UTC(2024, 4, 3, 6));
  assert.equal(parseTimeArg('2h', now), Date.UTC(2024, 4, 3, 10));
  assert.equal(parseTimeArg('30m ago', now), Date.UTC(2024, 4, 3, 11, 30));
  assert.throws(() => parseTimeArg('last tuesday', now), /bad time/);
  assert.deepEqual(parseTimeBound('boot+600', now), { bootSec: 600 });
  assert.deepEqual(parseTimeBound('boot+600s', now), { bootSec: 600 });
  assert.deepEqual(parseTimeBound('boot + 10m', now), { bootSec: 600 });
  assert.deepEqual(parseTimeBound('boot+1.5h', now), { bootSec: 5400 });
  assert.deepEqual(parseTimeBound('2h', now), { wallMs: Date.UTC(2024, 4, 3, 10) });
  assert.throws(() => parseTimeBound('600', now), /boot\+600/);
  assert.throws(() => parseTimeBound('boot-5', now), /bad time/);
});

test('syslog without a host field: the tag follows the stamp, no host is made up', () => {
  const n = norm();
  const a = n.normalize('Feb 23 03:28:16 kernel: mce: [Hardware Error]: Machine check events logged', 1);
  assert.equal(a.host, undefined);
  assert.equal(a.kernel, true);
  assert.equal(a.text, 'mce: [Hardware Error]: Machine check events logged');
  assert.equal(a.wall?.iso, '2024-02-23T03:28:16');
  const b = n.normalize('Feb 23 03:28:16 kernel: [ 1205.112255]  [<ffffffff8163ae49>] schedule+0x29/0x70', 2);
  assert.equal(b.host, undefined);
  assert.equal(b.kernelTimeText, '1205.112255');
  assert.equal(b.text, ' [<ffffffff8163ae49>] schedule+0x29/0x70');
  assert.equal(n.normalize('Feb 23 03:28:17 mcelog: Hardware event. This is not a software error.', 3).kernel, false);
  assert.equal(n.normalize("Feb 23 03:28:17 dropbear[2211]: Password auth succeeded for 'root'", 4).kernel, false);
});

test('a kernel tag after a prefix of no known envelope: collectors, logread, busybox syslogd', () => {
  const a = norm().normalize('2024-05-01T10:00:00.123456+0000 UTC kern.warn kernel: general protection fault: 0000 [#1] SMP PTI', 1);
  assert.equal(a.text, 'general protection fault: 0000 [#1] SMP PTI');
  assert.equal(a.kernel, true);
  assert.equal(a.host, undefined);
  assert.equal(new Date(a.wall!.ms).toISOString(), '2024-05-01T10:00:00.123Z');
  assert.equal(a.wallText, '2024-05-01T10:00:00.123456+0000');
  const b = norm().normalize('Sat Aug 30 12:16:47 2025 kern.alert kernel: [ 1120.994098] Unable to handle kernel NULL pointer dereference at virtual address 000000f0', 1);
  assert.equal(b.kernelTimeText, '1120.994098');
  assert.equal(b.wall?.iso, '2025-08-30T12:16:47');
  assert.equal(b.text, 'Unable to handle kernel NULL pointer dereference at virtual address 000000f0');
  const c = norm().normalize('May  2 10:02:12 nas kern.err kernel: INFO: task kworker/u8:2:97 blocked for more than 120 seconds.', 1);
  assert.equal(c.host, 'nas');
  assert.equal(c.text, 'INFO: task kworker/u8:2:97 blocked for more than 120 seconds.');
  assert.equal(norm().normalize('2024-05-01T10:00:00.101223+0000 UTC daemon.info containerd[811]: shim disconnected', 1).kernel, false);
  // Kernel text that merely contains ` kernel: ` after a tag of its own stays whole.
  const d = norm().normalize('audit: type=1400 kernel: apparmor="DENIED"', 1);
  assert.equal(d.text, 'audit: type=1400 kernel: apparmor="DENIED"');
  // `kubectl logs --timestamps` is no RFC 3339 syslog line (a host never starts with `[`).
  const e = norm().normalize('2024-05-01T10:00:00.123456789Z [12345.678901] BUG: x', 1);
  assert.equal(e.kernel, true);
  assert.equal(e.text, '2024-05-01T10:00:00.123456789Z [12345.678901] BUG: x');
});

test('formats of the new envelopes are named as syslog kinds', () => {
  assert.equal(detectFormat(['Feb 23 03:28:16 kernel: Call Trace:', 'Feb 23 03:28:16 kernel: mce: x'], 'f'), 'syslog');
  assert.equal(detectFormat(['Sat Aug 30 12:16:47 2025 kern.alert kernel: [ 1120.994098] x'], 'f'), 'syslog');
  assert.equal(detectFormat(['2024-05-01T10:00:00.123456+0000 UTC kern.warn kernel: x'], 'f'), 'syslog-rfc3339');
});
