/** [io] configuration and the io line of `record status` (pure: no recorder runs). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError } from '../../common/exit.js';
import { exitLine, ioOptions } from '../cli.js';
import type { RecorderStatus } from '../recorder.js';
import { DEFAULT_IO, ioStatusText, type IoStatus } from './detector.js';
import { parseGroupBy } from './cli.js';

test('[io]: on by default, off by enabled = false or --no-io; source, ring_kb, rcvbuf_kb and max_queued checked', () => {
  assert.deepEqual(ioOptions(undefined, {}), DEFAULT_IO);
  assert.equal(ioOptions({ enabled: false }, {}), null);
  assert.equal(ioOptions({}, { io: false }), null);
  assert.deepEqual(ioOptions({ rcvbuf_kb: 1, max_queued: 10 }, {}), { rcvbufBytes: 1024, maxQueued: 10 });
  assert.deepEqual(ioOptions({ source: 'taskstats', ring_kb: 64 }, {}), { ...DEFAULT_IO, source: 'taskstats', ringBytes: 65536 });
  const bad = (cfg: Record<string, unknown>, re: RegExp) =>
    assert.throws(
      () => ioOptions(cfg, {}),
      (e: unknown) => e instanceof CliError && e.exitCode === 65 && re.test(e.message),
    );
  bad({ rcvbuf: 4 }, /unknown key \[io\] rcvbuf \(expected one of enabled, source, ring_kb, rcvbuf_kb, max_queued\)/);
  bad({ source: 'ebpf' }, /\[io\] source must be one of auto, bpf, taskstats/);
  bad({ ring_kb: 100 }, /\[io\] ring_kb must be a power of two/);
  bad({ ring_kb: 2 }, /\[io\] ring_kb must be an integer from 4/);
  bad({ enabled: 'yes' }, /\[io\] enabled must be true or false/);
  bad({ rcvbuf_kb: 0 }, /\[io\] rcvbuf_kb must be an integer from 1 to 1048576/);
  bad({ max_queued: 1.5 }, /\[io\] max_queued must be an integer/);
});

test('top-io --by: program or domain', () => {
  assert.equal(parseGroupBy('domain'), 'domain');
  assert.throws(
    () => parseGroupBy('user'),
    (e: unknown) => e instanceof CliError && e.exitCode === 64,
  );
});

test('record status io line: the counters, losses first-class; unavailable says why', () => {
  const s: IoStatus = {
    source: 'taskstats',
    note: null,
    bpfNote: null,
    progId: 0,
    ringBytes: 0,
    rcvbufBytes: 1152,
    forced: true,
    cpumask: '0-1',
    exits: 3001,
    received: 900,
    records: 450,
    skippedNoIo: 450,
    lostKernel: 2101,
    lostQueue: 0,
    enobufs: 40,
    waiting: 0,
    parseErrors: 0,
    unknownProcess: 1,
    afterExit: 300,
    groupRecords: 0,
  };
  assert.equal(
    ioStatusText(s),
    "taskstats exit records (cpus 0-1, receive buffer 1 KiB); 3001 thread exits: 450 with disk I/O recorded, 450 without I/O skipped, 2101 lost (2101 dropped by the kernel, 40 ENOBUFS; 0 over the queue bound), 0 waiting; 1 of unknown process, 300 matched after their process's exit",
  );
  assert.equal(ioStatusText({ ...s, source: 'unavailable', note: 'native/taskstats is not built' }), 'unavailable: native/taskstats is not built');
  assert.match(
    ioStatusText({ ...s, bpfNote: 'no kernel BTF at /x (ENOENT)' }),
    /0 waiting; 1 of unknown process, 300 matched after their process's exit; in-kernel source unavailable: no kernel BTF at \/x \(ENOENT\)$/,
  );
  assert.equal(
    ioStatusText({ ...s, source: 'bpf', progId: 42, ringBytes: 4 << 20, exits: 3001, records: 450, skippedNoIo: 2550, lostKernel: 1 }),
    "in-kernel BPF program (raw_tp sched_process_exit, prog id 42, ring buffer 4096 KiB); 3001 thread exits: 450 with disk I/O recorded, 2550 without I/O skipped in the kernel, 1 lost (ring buffer full), 0 waiting; 1 of unknown process, 300 matched after their process's exit",
  );
});

test("the recorder's exit line names lost I/O exit records when there are any", () => {
  const io = { lostKernel: 0, lostQueue: 0 } as IoStatus;
  const st = { events: 10, records: 5, recordsSeen: 5, duplicateRecords: 0, lost: { stats: 0 }, droppedRecords: 0, storeErrors: 0, logLinesLost: 0, io } as unknown as RecorderStatus;
  assert.equal(exitLine('SIGTERM', st, null), 'lantern record: SIGTERM; 10 events, 5 records, lost 0 events, 0 records; instance removed');
  io.lostKernel = 7;
  io.lostQueue = 1;
  assert.equal(exitLine('SIGTERM', st, null), 'lantern record: SIGTERM; 10 events, 5 records, lost 0 events, 0 records, 8 I/O exit records; instance removed');
});
