import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDomains } from '../process/domains.js';
import { ProcessModel, type ProcessRecord, type TraceEvent } from '../process/model.js';
import {
  decodeEntries,
  didDiskIo,
  encodeEntries,
  ENTRY_BYTES,
  ExitMatcher,
  formatBytes,
  ioDetail,
  rankIo,
  RecentExits,
  renderTopIo,
  resolveProcess,
  topIoJson,
  totalBytes,
  type IoExit,
  type IoTotal,
} from './core.js';

const exitOf = (over: Partial<IoExit> = {}): IoExit => ({
  tid: 200,
  tgid: 200,
  ppid: 1,
  exitCode: 0,
  uid: 0,
  version: 16,
  shortStats: false,
  comm: 'app',
  readBytes: 4096,
  writeBytes: 8192,
  cancelledWriteBytes: 0,
  readChars: 10,
  writeChars: 20,
  elapsedUs: 1000,
  beginSec: 1_700_000_000,
  recvMonoNs: 5e9,
  ...over,
});

test('entries: the addon layout reads back field by field; a partial tail is not read; comm stops at NUL or 32 bytes', () => {
  const list = [exitOf(), exitOf({ tid: 4_194_304, tgid: 7, comm: 'kworker/u8:1', readBytes: 2 ** 40, cancelledWriteBytes: 12288, shortStats: true }), exitOf({ comm: 'x'.repeat(31) })];
  const buf = encodeEntries(list);
  assert.equal(buf.length, 3 * ENTRY_BYTES);
  assert.deepEqual(decodeEntries(buf), list);
  assert.deepEqual(decodeEntries(buf.subarray(0, 2 * ENTRY_BYTES - 1)), list.slice(0, 1));
  assert.deepEqual(decodeEntries(Buffer.alloc(0)), []);
  // Read through typed views: a buffer that does not start on an 8-byte boundary reads the same.
  const shifted = Buffer.alloc(buf.length + 1);
  buf.copy(shifted, 1);
  assert.deepEqual(decodeEntries(shifted.subarray(1)), list);
});

test('disk I/O is any of read_bytes, write_bytes, cancelled_write_bytes; detail names the kernel fields', () => {
  assert.equal(didDiskIo(exitOf({ readBytes: 0, writeBytes: 0, cancelledWriteBytes: 0 })), false);
  assert.equal(didDiskIo(exitOf({ readBytes: 0, writeBytes: 0, cancelledWriteBytes: 4096 })), true);
  assert.equal(didDiskIo(exitOf({ readBytes: 0, writeBytes: 1, cancelledWriteBytes: 0 })), true);
  assert.equal(ioDetail(exitOf()), 'read_bytes=4096 write_bytes=8192 cancelled_write_bytes=0 rchar=10 wchar=20');
});

test('resolveProcess: the live process first, else the one that just exited; a later process with the pid is never taken', () => {
  const view = (startUs: number, program: string) => ({ pid: 200, startUs, ppid: 1, program, comm: 'app', domainId: 5 });
  const e = exitOf({ elapsedUs: 2_000_000 });
  const exitUs = 10_000_000;
  assert.deepEqual(resolveProcess(e, exitUs, view(8_000_000, '/a'), null), { view: view(8_000_000, '/a'), via: 'live' });
  assert.deepEqual(resolveProcess(e, exitUs, null, view(7_000_000, '/a')), { view: view(7_000_000, '/a'), via: 'exited' });
  // The pid was reused by a process that started after this thread: the exited one is ours.
  assert.deepEqual(resolveProcess(e, exitUs, view(9_500_000, '/new'), view(7_000_000, '/old')).via, 'exited');
  assert.deepEqual(resolveProcess(e, exitUs, view(9_500_000, '/new'), null), { view: null, via: 'unknown' });
  // Within the clock slop (process start read in 10 ms ticks, thread start from elapsed µs).
  assert.equal(resolveProcess(e, exitUs, view(8_500_000, '/a'), null).via, 'live');
});

test('RecentExits: the last process of a pid, bounded in count and age', () => {
  const r = new RecentExits(2, 1e9);
  const v = (pid: number, startUs = 0) => ({ pid, startUs, ppid: 1, program: null, comm: 'c', domainId: 1 });
  r.add(v(1), 0);
  r.add(v(2), 1);
  r.add(v(1, 5), 2); // pid 1 again: replaces, and becomes the newest
  r.add(v(3), 3); // over the bound: the oldest (2) goes
  assert.equal(r.get(2), null);
  assert.equal(r.get(1)!.startUs, 5);
  r.prune(2 + 1e9 + 1); // 1 (at 2) is older than keep: gone; 3 (at 3) stays
  assert.equal(r.get(1), null);
  assert.ok(r.get(3));
  assert.equal(r.size, 1);
});

/** A real process model fed kernel-shaped events, with the matcher beside it as the recorder drives it. */
function stream() {
  const domains = new MemoryDomains();
  let id = 1;
  const toWallUs = (ts: number) => 1_700_000_000_000_000 + ts / 1000;
  const model = new ProcessModel({ domains, nextId: () => id++, toWallUs, normalizeProgram: (_p, f) => f, uidOf: () => 0 });
  model.seed([{ pid: 1, ppid: 0, startTs: 0, startUs: toWallUs(0), comm: 'init', exe: '/sbin/init', cmdline: '', uid: 0, tids: [1], scannedTs: 0 }]);
  const matcher = new ExitMatcher();
  const records: ProcessRecord[] = [];
  const ev = (ts: number, name: string, commonPid: number, fields: Record<string, number | string>) => {
    const made = model.handle({ ts, name, commonPid, fields } as TraceEvent);
    records.push(...made);
    matcher.noteRecords(made, ts);
  };
  const io = (ts: number, e: IoExit) => matcher.match(e, toWallUs(ts), model.procs);
  return { model, domains, matcher, records, ev, io, toWallUs };
}

for (const order of ['taskstats record first', 'sched_process_exit first'] as const) {
  test(`domain of an exiting process and its threads: ${order}`, () => {
    const s = stream();
    s.ev(1e9, 'task_newtask', 1, { pid: 300, comm: 'sh', clone_flags: 0x1200011 });
    s.ev(2e9, 'sched_process_exec', 300, { pid: 300, old_pid: 300, filename: '/usr/bin/backup' });
    s.ev(3e9, 'task_newtask', 300, { pid: 301, comm: 'backup', clone_flags: 0x3d0f00 }); // a thread
    // The thread exits (the process lives on): its record finds the live process in either order.
    const threadExit = exitOf({ tid: 301, tgid: 300, elapsedUs: 1e6, comm: 'backup' });
    let t: ReturnType<typeof s.io>;
    if (order === 'taskstats record first') {
      t = s.io(4e9, threadExit);
      s.ev(4.001e9, 'sched_process_exit', 301, { pid: 301, comm: 'backup', group_dead: 0 });
    } else {
      s.ev(4e9, 'sched_process_exit', 301, { pid: 301, comm: 'backup', group_dead: 0 });
      t = s.io(4.001e9, threadExit);
    }
    assert.equal(t.via, 'live');
    // Then the main thread, the last one.
    const mainExit = exitOf({ tid: 300, tgid: 300, elapsedUs: 3e6, comm: 'backup' });
    let m: ReturnType<typeof s.io>;
    if (order === 'taskstats record first') {
      m = s.io(5e9, mainExit);
      s.ev(5.001e9, 'sched_process_exit', 300, { pid: 300, comm: 'backup', group_dead: 1 });
    } else {
      s.ev(5e9, 'sched_process_exit', 300, { pid: 300, comm: 'backup', group_dead: 1 });
      m = s.io(5.001e9, mainExit);
    }
    assert.equal(m.via, order === 'taskstats record first' ? 'live' : 'exited');
    const execDomain = s.records.find((r) => r.type === 'exec' && r.pid === 300)!.domainId;
    for (const r of [t, m]) {
      assert.equal(r.view!.domainId, execDomain);
      assert.equal(s.domains.name(r.view!.domainId), '<kernel> /sbin/init /usr/bin/backup');
      assert.equal(r.view!.program, '/usr/bin/backup');
    }
    // The pid is reused at once by a new process: a late record of the old one still finds the old one.
    s.ev(5.002e9, 'task_newtask', 1, { pid: 300, comm: 'sh', clone_flags: 0x1200011 });
    s.ev(5.003e9, 'sched_process_exec', 300, { pid: 300, old_pid: 300, filename: '/usr/bin/other' });
    if (order === 'sched_process_exit first') assert.equal(s.io(5.004e9, mainExit).view!.program, '/usr/bin/backup');
  });
}

test('a thread of a process the model never saw is unknown, not guessed', () => {
  const s = stream();
  assert.deepEqual(s.io(1e9, exitOf({ tid: 999, tgid: 999 })), { view: null, via: 'unknown' });
});

const tot = (key: string, r: number, w: number, c = 0): IoTotal => ({ key, processes: 1, threads: 2, readBytes: r, writeBytes: w, cancelledWriteBytes: c });

test('top-io: ranked by read + write bytes, ties by name, limited; text table and JSON', () => {
  const rows = [tot('/usr/bin/b', 10, 10), tot('/usr/bin/a', 0, 20), tot('/usr/bin/big', 1 << 20, 1 << 21, 4096), tot('[kworker]', 1, 0)];
  assert.deepEqual(
    rankIo(rows).map((r) => r.key),
    ['/usr/bin/big', '/usr/bin/a', '/usr/bin/b', '[kworker]'],
  );
  assert.deepEqual(
    rankIo(rows, 2).map((r) => r.key),
    ['/usr/bin/big', '/usr/bin/a'],
  );
  assert.equal(totalBytes(rows[2]!), 3 << 20);
  assert.deepEqual(renderTopIo(rankIo(rows, 2), 'program'), [
    '  TOTAL     READ    WRITE  CANCELLED  PROCS  THREADS  PROGRAM',
    '3.0 MiB  1.0 MiB  2.0 MiB    4.0 KiB      1        2  /usr/bin/big',
    '   20 B      0 B     20 B        0 B      1        2  /usr/bin/a',
  ]);
  assert.deepEqual(topIoJson(rows[0]!, 'domain'), { domain: '/usr/bin/b', total_bytes: 20, read_bytes: 10, write_bytes: 10, cancelled_write_bytes: 0, processes: 1, threads: 2 });
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
});
