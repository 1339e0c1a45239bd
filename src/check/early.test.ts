/** check/early: when `lantern check` starts its scan of the live process table before its modules load. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEarly } from './early.js';

test('check/early: only a full check of this host starts the scan early', () => {
  for (const args of [
    ['check', '--root', '/x'],
    ['check', '--root=/x'],
    ['check', '--sosreport', 'f'],
    ['check', '--only', 'oom'],
    ['check', '--help'],
    ['check', '-h'],
    ['help', 'check'],
    ['check', 'help'],
    ['analyze', 'x'],
    [],
  ]) {
    assert.equal(startEarly(['node', 'lantern', ...args]), false, args.join(' '));
  }
});
