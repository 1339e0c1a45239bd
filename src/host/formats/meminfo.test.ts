import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meminfoKiB, memTotalBytes } from './meminfo.js';

test('meminfo fields in KiB, MemTotal in bytes, absent fields null', () => {
  assert.equal(meminfoKiB('MemTotal:  1024 kB\nSwapTotal: 0 kB\n', 'SwapTotal'), 0);
  assert.equal(meminfoKiB('MemTotal:  1024 kB\n', 'SwapTotal'), null);
  assert.equal(memTotalBytes('MemTotal:       16303428 kB\nMemFree: 1 kB\n'), 16303428 * 1024);
  assert.equal(memTotalBytes('garbage'), null);
});
