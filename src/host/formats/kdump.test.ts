import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKdumpConf, parseKdumpEstimate } from './kdump.js';

test('kdump.conf: options, the dump target, comments', () => {
  const k = parseKdumpConf('#raw /dev/sda5\nnfs nfs.example.com:/export/crash # remote\npath /var/crash\ncore_collector makedumpfile -l -d 31\n');
  assert.deepEqual(k.target, { type: 'nfs', value: 'nfs.example.com:/export/crash' });
  assert.equal(k.path, '/var/crash');
  assert.equal(k.options.get('core_collector'), 'makedumpfile -l -d 31');
});

test('kdumpctl estimate: reserved and recommended sizes', () => {
  assert.deepEqual(parseKdumpEstimate('Reserved crashkernel:    256M\nRecommended crashkernel: 192M\n'), { reserved: 256 * 2 ** 20, recommended: 192 * 2 ** 20 });
  assert.deepEqual(parseKdumpEstimate('nothing'), { reserved: null, recommended: null });
});
