import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../../host/host.js';
import { isAlive, liveClocks, parseStat, parseStatusUid, ProgramNamer, scanProc, uidOf } from './procfs.js';

test('/proc/<pid>/stat: comm with spaces and parentheses', () => {
  const s = parseStat('4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0');
  assert.deepEqual(s, { pid: 4242, comm: 'my (odd) prog', ppid: 1, startTicks: 98765 });
  assert.equal(parseStat('garbage'), null);
  assert.equal(parseStatusUid('Name:\tx\nUid:\t1000\t1000\t1000\t1000\n'), 1000);
  assert.equal(parseStatusUid('Name:\tx\n'), null);
});

test('program names the TOMOYO way: directories resolved, last symlink kept, relative and fd paths', () => {
  const live = new Host();
  const namer = new ProgramNamer(live);
  assert.equal(namer.name(process.pid, '/bin/sh'), join(realpathSync('/bin'), 'sh'));
  assert.equal(namer.name(process.pid, '/usr/bin/../bin//env'), '/usr/bin/env');
  assert.equal(namer.name(process.pid, './run.sh'), join(realpathSync(process.cwd()), 'run.sh'));
  assert.equal(namer.name(process.pid, '/dev/fd/3'), realpathSync(process.execPath));
  assert.equal(namer.name(2 ** 22 + 5, 'rel/x'), 'rel/x', 'a vanished process keeps its relative name');
  assert.equal(namer.name(1, ''), '<empty>');
});

test('live /proc scan, uid and liveness', { skip: process.platform !== 'linux' ? 'needs Linux /proc' : undefined }, () => {
  const host = new Host();
  const clocks = liveClocks(host);
  const scan = scanProc(host, clocks);
  const me = scan.find((p) => p.pid === process.pid);
  assert.ok(me, 'this process is in the scan');
  assert.equal(me.exe, realpathSync(process.execPath));
  assert.ok(me.tids.includes(process.pid));
  assert.equal(uidOf(host, process.pid), process.getuid!());
  assert.equal(uidOf(host, 2 ** 22 + 5), null);
  assert.equal(isAlive(host, clocks, process.pid, me.startTs), true);
  assert.equal(isAlive(host, clocks, process.pid, me.startTs - 3_600e9), false, 'the pid now belongs to a newer process');
  assert.equal(isAlive(host, clocks, process.pid, me.startTs + 3_600e9), true, 'first met mid-life: kept');
  assert.equal(isAlive(host, clocks, 2 ** 22 + 5, me.startTs), false);
  // The scanned start, in wall time, is when this process started (to a few ticks).
  const expectedUs = (Date.now() - process.uptime() * 1000) * 1000;
  assert.ok(Math.abs(me.startUs - expectedUs) < 1_000_000, `${me.startUs} vs ${expectedUs}`);
  // The trace clock (boot) runs ahead of or with CLOCK_MONOTONIC, never behind.
  assert.ok(clocks.nowTs() >= Number(process.hrtime.bigint()) - 20e6);
});
