import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSysctlAll, parseSysctlConf, sysctlApplyOrder, sysctlKey, sysctlValuesEqual } from './sysctl.js';

test('sysctl files: comments, "-" prefix, slashes, bad lines counted; systemd application order', () => {
  const p = parseSysctlConf('# c\n; c\nkernel.sysrq = 16\n-net.ipv4.conf.all.rp_filter\n-kernel/hung_task_warnings=5\ngarbage line\n', '/etc/sysctl.d/x.conf');
  assert.deepEqual(
    p.settings.map((s) => [s.key, s.value, s.line]),
    [
      ['kernel.sysrq', '16', 3],
      ['kernel.hung_task_warnings', '5', 5],
    ],
  );
  assert.equal(p.bad, 1);
  const order = sysctlApplyOrder([
    { dir: '/usr/lib/sysctl.d', name: '50-default.conf' },
    { dir: '/etc/sysctl.d', name: '50-default.conf' },
    { dir: '/etc/sysctl.d', name: '10-a.conf' },
    { dir: '/run/sysctl.d', name: '99-z.conf' },
    { dir: '/etc/sysctl.d', name: 'README.sysctl' },
  ]);
  assert.deepEqual(order, ['/etc/sysctl.d/10-a.conf', '/etc/sysctl.d/50-default.conf', '/run/sysctl.d/99-z.conf']);
  assert.equal(sysctlKey(' kernel/sysrq '), 'kernel.sysrq');
  assert.ok(sysctlValuesEqual('0x01b6', '438'));
  assert.ok(sysctlValuesEqual('4 4 1 7', '4\t4\t1\t7'));
  assert.ok(!sysctlValuesEqual('16', '1'));
});

test('sysctl -a: multi-line values joined (as the /proc/sys file reads), empty values kept, tabs kept, slashes normalised', () => {
  const m = parseSysctlAll(
    'dev.cdrom.info = CD-ROM information\ndev.cdrom.info = \ndev.cdrom.info = drive name:\tsr0\nkernel.domainname = \nkernel/sysrq = 16\nnet.ipv4.conf.all.forwarding =\nfs.dentry-state = 1\t2\t3\n',
  );
  assert.equal(m.get('dev.cdrom.info'), 'CD-ROM information\n\ndrive name:\tsr0');
  assert.equal(m.get('kernel.domainname'), '');
  assert.equal(m.get('kernel.sysrq'), '16');
  assert.equal(m.get('net.ipv4.conf.all.forwarding'), '');
  assert.equal(m.get('fs.dentry-state'), '1\t2\t3');
});
