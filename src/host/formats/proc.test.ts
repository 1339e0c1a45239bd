import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBtime, parseLoadavgThreads, parseProcUptime, parseUptimeCommand } from './proc.js';

test('uptime (file and command), loadavg threads, btime', () => {
  assert.equal(parseUptimeCommand(' 10:15:01 up 42 days,  3:04,  2 users,  load average: 0.00'), 42 * 86400 + 3 * 3600 + 4 * 60);
  assert.equal(parseUptimeCommand(' 10:15:01 up 5 min,  1 user,  load average: 0.00'), 300);
  assert.equal(parseUptimeCommand('nonsense'), null);
  assert.equal(parseProcUptime('12345.67 890.12\n'), 12345.67);
  assert.equal(parseLoadavgThreads('0.10 0.20 0.30 5/200 1234\n'), 200);
  assert.equal(parseBtime('cpu 1 2\nbtime 1714700000\n'), 1714700000);
});
