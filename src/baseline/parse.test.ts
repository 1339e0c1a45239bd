/** The parsers of the files only baseline reads (modules, mounts, CPU counts); the shared formats are tested in src/host/formats/. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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

test('cpu counts from cpuinfo, cpu list, lscpu', () => {
  assert.equal(cpuinfoCount('processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n'), 2);
  assert.equal(cpuinfoCount('nothing'), null);
  assert.equal(cpuListCount('0-3,8,10-11\n'), 7);
  assert.equal(cpuListCount('x'), null);
  assert.equal(lscpuCount('Architecture: x86_64\nCPU(s):   8\n'), 8);
});
