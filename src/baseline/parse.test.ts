import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rpmvercmp } from '../host/formats/versions.js';
import { parseDpkgL, parseDpkgStatus } from '../host/formats/dpkg.js';
import { meminfoKiB } from '../host/formats/meminfo.js';
import { parseRpmList, parseRpmQf, splitNvra } from '../host/formats/rpm.js';
import { parseSysctlAll } from '../host/formats/sysctl.js';
import { enabledFromUnitFiles } from '../host/formats/systemd-units.js';
import { compareVersions } from '../host/formats/versions.js';
import { cpuinfoCount, cpuListCount, lscpuCount, parseModules, parseMountL, parseMounts } from './parse.js';

test('modules: /proc/modules and lsmod, bad lines counted', () => {
  const p = parseModules('xfs 2015232 2 - Live 0xffffffffc0700000\nvirtio_net 65536 0 - Live 0x0\ngarbage\n');
  assert.deepEqual(p.value, ['virtio_net', 'xfs']);
  assert.equal(p.bad, 1);
  assert.deepEqual(parseModules('Module                  Size  Used by\ndm_mod   184320  9\n').value, ['dm_mod']);
});

test('mounts: octal escapes undone, short lines counted', () => {
  const p = parseMounts('/dev/sda1 /mnt/my\\040disk ext4 rw,relatime 0 0\nbroken\n');
  assert.deepEqual(p.value, [{ device: '/dev/sda1', mountpoint: '/mnt/my disk', fstype: 'ext4', options: 'rw,relatime' }]);
  assert.equal(p.bad, 1);
  const l = parseMountL('/dev/vda1 on / type ext4 (rw,relatime) [root]\nnonsense\n');
  assert.deepEqual(l.value, [{ device: '/dev/vda1', mountpoint: '/', fstype: 'ext4', options: 'rw,relatime' }]);
  assert.equal(l.bad, 1);
});

test('dpkg status: only installed stanzas; config-files left out; stanza without Package counted', () => {
  const text = 'Package: a\nStatus: install ok installed\nVersion: 1.0\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n\nPackage: c\nStatus: hold ok installed\nVersion: 1:3-1\n\nVersion: 9\n';
  const p = parseDpkgStatus(text);
  assert.deepEqual([...p.value], [['a', ['1.0']], ['c', ['1:3-1']]]);
  assert.equal(p.bad, 1);
});

test('dpkg -l: ii and hi rows, arch suffix dropped', () => {
  const p = parseDpkgL('||/ Name Version Arch Desc\n+++-===\nii  libc6:amd64  2.36-9  amd64  C\nrc  gone  1  amd64  x\nhi  held  3  all  y\n');
  assert.deepEqual([...p.value], [['libc6', ['2.36-9']], ['held', ['3']]]);
});

test('rpm: NVRA split, several kernels kept, bad line counted', () => {
  assert.deepEqual(splitNvra('kernel-4.18.0-513.5.1.el8_9.x86_64'), { name: 'kernel', version: '4.18.0-513.5.1.el8_9' });
  assert.deepEqual(splitNvra('python3-libs-3.6.8-56.el8_9.noarch'), { name: 'python3-libs', version: '3.6.8-56.el8_9' });
  assert.deepEqual(splitNvra('gpg-pubkey-fd431d51-4ae0493b'), { name: 'gpg-pubkey', version: 'fd431d51-4ae0493b' });
  assert.equal(splitNvra('nodash'), null);
  const p = parseRpmList('kernel-4.18.0-513.5.1.el8_9.x86_64   Tue Oct 10 09:00:00 2023\nkernel-4.18.0-477.10.1.el8_8.x86_64  Mon\nweird\n');
  assert.deepEqual(p.value.get('kernel'), ['4.18.0-477.10.1.el8_8', '4.18.0-513.5.1.el8_9']);
  assert.equal(p.bad, 1);
  const q = parseRpmQf('bash\t0:5.1.8-6.el9\nshadow-utils\t2:4.9-8.el9\nbad line\n');
  assert.deepEqual([...q.value], [['bash', ['5.1.8-6.el9']], ['shadow-utils', ['2:4.9-8.el9']]]);
  assert.equal(q.bad, 1);
});

test('unit files: enabled and enabled-runtime only', () => {
  const t = 'UNIT FILE STATE PRESET\nkdump.service enabled enabled\nfoo.timer enabled-runtime -\nbar.service disabled enabled\nbaz.socket static -\n\n4 unit files listed.\n';
  assert.deepEqual(enabledFromUnitFiles(t), ['foo.timer', 'kdump.service']);
});

test('cpu counts from cpuinfo, cpu list, lscpu; meminfo fields', () => {
  assert.equal(cpuinfoCount('processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n'), 2);
  assert.equal(cpuinfoCount('nothing'), null);
  assert.equal(cpuListCount('0-3,8,10-11\n'), 7);
  assert.equal(cpuListCount('x'), null);
  assert.equal(lscpuCount('Architecture: x86_64\nCPU(s):   8\n'), 8);
  assert.equal(meminfoKiB('MemTotal:  1024 kB\nSwapTotal: 0 kB\n', 'SwapTotal'), 0);
  assert.equal(meminfoKiB('MemTotal:  1024 kB\n', 'SwapTotal'), null);
});

test('version compare: epoch first, then rpm segments', () => {
  assert.equal(compareVersions('1:1.0', '2.0', rpmvercmp), 1);
  assert.equal(compareVersions('5.2-1', '5.2-2', rpmvercmp), -1);
  assert.equal(compareVersions('4.18.0-513.el8', '4.18.0-513.el8', rpmvercmp), 0);
});

test('sysctl -a: multi-line values joined, empty values kept, slashes normalised', () => {
  const m = parseSysctlAll('dev.cdrom.info = CD-ROM information\ndev.cdrom.info = \ndev.cdrom.info = drive name:\tsr0\nkernel.domainname = \nkernel/sysrq = 16\nnet.ipv4.conf.all.forwarding =\n');
  assert.equal(m.get('dev.cdrom.info'), 'CD-ROM information\n\ndrive name:\tsr0');
  assert.equal(m.get('kernel.domainname'), '');
  assert.equal(m.get('kernel.sysrq'), '16');
  assert.equal(m.get('net.ipv4.conf.all.forwarding'), '');
});
