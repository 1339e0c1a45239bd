/** The latency core: program generation from numbers only, printf parsing, percentiles, paths, details read back, rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { staleBpftrace } from '../../common/bpftrace.js';
import { tempDir } from '../../common/testenv.js';
import { matches, parseTrigger, type Trigger } from '../rules/core.js';
import {
  detailDurationNs,
  deviceLatencies,
  hexBytes,
  inProgressDetail,
  log2PercentileNs,
  parseRawInFlight,
  parseRawStat,
  RAW_INFLIGHT_BYTES,
  RAW_PATH_BYTES,
  RAW_REC_BYTES,
  ioDetail,
  ioFields,
  latencyProgram,
  markerPrefix,
  parseIoLine,
  parseStatLine,
  parseThreshold,
  percentileUs,
  programMarker,
  resolvedPath,
  STAT_CALLS,
  statDetail,
  statFields,
} from './core.js';

test('program: thresholds are checked numbers; only the parts asked for; one END; the marker first', () => {
  const p = latencyProgram({ marker: programMarker('default', 42), stat: { thresholdNs: 5e8 }, statCalls: STAT_CALLS, io: { thresholdNs: 0, histIntervalMs: 5000 }, blockStart: true });
  assert.equal(p.split('\n')[0], '// lantern record default pid 42 latency');
  assert.equal(p.match(/sys_exit_/g)!.length, 5);
  assert.equal(p.match(/\$d >= 500000000\)/g)!.length, 5);
  assert.match(p, /block_io_start/);
  assert.equal(p.match(/^END /gm)!.length, 1);
  const statOnly = latencyProgram({ marker: '//', stat: { thresholdNs: 1e6 }, statCalls: STAT_CALLS.slice(3), io: null, blockStart: false });
  assert.doesNotMatch(statOnly, /block|newstat/);
  assert.match(statOnly, /^interval:ms:1000 \{ print\(@s\); print\(@full\); \}$/m, 'calls in flight are printed, and the enters the full map refused');
  const both = latencyProgram({ marker: '//', stat: { thresholdNs: 1e6 }, statCalls: STAT_CALLS, io: { thresholdNs: 0, histIntervalMs: 1000 }, blockStart: false });
  assert.equal(both.match(/^interval:ms:1000 /gm)!.length, 1, 'one probe per interval');
  assert.throws(() => latencyProgram({ marker: '//', stat: { thresholdNs: 1e5 }, statCalls: STAT_CALLS, io: null, blockStart: false }), /slow_stat threshold must be/);
  assert.throws(() => latencyProgram({ marker: '//', stat: { thresholdNs: 1.5e6 + 0.5 }, statCalls: STAT_CALLS, io: null, blockStart: false }), /whole number/);
  assert.throws(() => latencyProgram({ marker: '//', stat: null, statCalls: [], io: { thresholdNs: 0, histIntervalMs: 10 }, blockStart: false }), /interval/);
  assert.throws(() => markerPrefix('a\nBEGIN { }'), /not letters/);
});

test('stat lines: comm from %rx, a path with spaces, quotes and a newline stays whole; bad lines are null', () => {
  const comm = '\\x73\\x74\\x61\\x74\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00';
  const s = parseStatLine(`S 4 1000 12 13 2000000000 0 -100 ${comm} a "b"\nc d`, STAT_CALLS)!;
  assert.deepEqual(s, { call: 'statx', endNs: 1000, pid: 12, tid: 13, durationNs: 2e9, ret: 0, dfd: -100, comm: 'stat', path: 'a "b"\nc d' });
  assert.equal(parseStatLine(`S 9 1 1 1 1 0 -100 ${comm} x`, STAT_CALLS), null, 'unknown call index');
  assert.equal(parseStatLine('S 0 1 1 1 1 0 -100 zz x', STAT_CALLS), null);
  assert.equal(hexBytes('\\x41\\x42'), 'AB');
  assert.equal(hexBytes('AB'), null);
  const detail = statDetail(s, '/mnt/a "b"\nc d');
  assert.equal(detail.includes('\n'), false, 'one line');
  assert.equal(detailDurationNs(detail), 2e9);
  assert.deepEqual(statFields(detail), { duration_ms: 2000, call: 'statx', path: 'a "b"\nc d', fd: null, resolved: '/mnt/a "b"\nc d', ret: 0 });
  assert.deepEqual(statFields(inProgressDetail(1.5e9)), { duration_ms: 1500, in_progress: true });
  assert.equal(detailDurationNs(inProgressDetail(1.5e9)), 1.5e9, 'rules see a call in flight');
  const fstat = statDetail({ ...s, call: 'fstat', path: '', dfd: 3, ret: -9 }, null);
  assert.deepEqual(statFields(fstat), { duration_ms: 2000, call: 'fstat', path: '', fd: 3, resolved: null, ret: -9 });
});

test('paths: absolute as is, relative against the cwd or the dirfd, AT_EMPTY_PATH is the fd itself, unknown base null', () => {
  const dirOf = (w: 'cwd' | number) => (w === 'cwd' ? '/srv' : w === 5 ? '/data' : w === 7 ? '/' : null);
  assert.equal(resolvedPath('/etc/x', -100, dirOf), '/etc/x');
  assert.equal(resolvedPath('a/b', -100, dirOf), '/srv/a/b');
  assert.equal(resolvedPath('a', 5, dirOf), '/data/a');
  assert.equal(resolvedPath('a', 7, dirOf), '/a');
  assert.equal(resolvedPath('', 5, dirOf), '/data');
  assert.equal(resolvedPath('a', 9, dirOf), null);
});

test('block lines, rwbs, device numbers; the detail read back for --json', () => {
  const r = parseIoLine('B 99 7340033 2048 128 2500000000 0 4242 WS my dd')!;
  assert.deepEqual(r, { endNs: 99, dev: 7340033, major: 7, minor: 1, sector: 2048, bytes: 65536, latencyNs: 2.5e9, error: 0, pid: 4242, rwbs: 'WS', comm: 'my dd' });
  const d = ioDetail(r, 'loop1');
  assert.equal(d, '2500.000 ms write (WS) 65536 bytes at sector 2048 on 7:1 (loop1)');
  assert.deepEqual(ioFields(d), { latency_ms: 2500, op: 'write', rwbs: 'WS', bytes: 65536, sector: 2048, device: '7:1', device_name: 'loop1', error: 0, submitter_seen: true });
  const e = ioDetail({ ...r, pid: 0, error: -5, rwbs: 'RA' }, null);
  assert.deepEqual(ioFields(e), { latency_ms: 2500, op: 'read', rwbs: 'RA', bytes: 65536, sector: 2048, device: '7:1', device_name: null, error: -5, submitter_seen: false });
  assert.equal(parseIoLine('B x'), null);
});

test('percentiles of a log2 histogram: the bucket bound holding the rank; exact max; devices named', () => {
  const b = [
    { min: 0, max: 1, count: 0 },
    { min: 32, max: 63, count: 98 },
    { min: 1024, max: 2047, count: 1 },
    { min: 65536, max: 131071, count: 1 },
  ];
  assert.equal(percentileUs(b, 0.5), 64);
  assert.equal(percentileUs(b, 0.99), 2048);
  assert.equal(percentileUs(b, 1), 131072);
  assert.equal(percentileUs([], 0.5), null);
  const devs = deviceLatencies({ [String(254 * 2 ** 20)]: b }, { [String(254 * 2 ** 20)]: 70_000_123 }, (ma, mi) => (ma === 254 && mi === 0 ? 'vda' : null));
  assert.deepEqual(devs, [{ dev: '254:0', name: 'vda', requests: 100, p50Us: 64, p99Us: 2048, maxUs: 70000 }]);
  const capped = deviceLatencies({ '1': b }, { '1': 1_500_000 }, () => null);
  assert.equal(capped[0]!.p99Us, 1500, 'the p99 bucket bound (2048) is above the exact max');
});

test('thresholds: units required, 1 ms floor for stats (0 allowed where asked), 1 h ceiling', () => {
  assert.equal(parseThreshold('500ms'), 5e8);
  assert.equal(parseThreshold('1.5s'), 1.5e9);
  assert.equal(parseThreshold('999us'), null);
  assert.equal(parseThreshold('0s', 0), 0);
  assert.equal(parseThreshold('2h'), null);
  assert.equal(parseThreshold('1h'), 3600e9, 'the documented top ("from 1ms to 1h")');
  assert.equal(parseThreshold('10m'), 600e9);
  assert.equal(parseThreshold('1ms'), 1e6);
  assert.equal(parseThreshold(' 250 µs ', 0), 250e3);
  assert.equal(parseThreshold('500'), null);
  assert.equal(parseThreshold(5), null);
});

test('rules: slow_stat / slow_io compare the recorded duration; other types never match', () => {
  const rec = (type: string, detail: string | null) => ({ type, signal: null, program: null, detail });
  const st = parseTrigger('slow_stat > 500ms') as Trigger;
  assert.deepEqual(st, { kind: 'slow_stat', op: '>', thresholdNs: 5e8 });
  const s = parseStatLine('S 3 1 2 2 600000000 0 -100 \\x78 /x', STAT_CALLS)!;
  assert.equal(matches(st, rec('slow_stat', statDetail(s, '/x'))), true);
  assert.equal(matches(st, rec('slow_stat', statDetail({ ...s, durationNs: 5e8 }, '/x'))), false);
  assert.equal(matches(parseTrigger('slow_stat >= 500ms') as Trigger, rec('slow_stat', statDetail({ ...s, durationNs: 5e8 }, '/x'))), true);
  assert.equal(matches(st, rec('slow_io', statDetail(s, '/x'))), false);
  const io = parseTrigger('slow_io > 2s') as Trigger;
  const r = parseIoLine('B 1 7340033 0 8 2500000000 0 1 W dd')!;
  assert.equal(matches(io, rec('slow_io', ioDetail(r, null))), true);
  assert.equal(matches(io, rec('slow_io', ioDetail({ ...r, latencyNs: 1e9 }, null))), false);
  assert.equal(matches(io, rec('slab', '3000.000 ms')), false);
});

test("stale bpftrace: a marked program whose owner is dead is found; a live owner's, another name's, or a non-bpftrace process is not", () => {
  const proc = tempDir('lantern-lat-');
  const put = (pid: number, argv: string[]) => {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'cmdline'), argv.join('\0') + '\0');
  };
  put(100, ['/usr/bin/bpftrace', '-f', 'json', '-B', 'line', '-e', `${programMarker('default', 7)}\nBEGIN {}`]);
  put(101, ['/usr/bin/bpftrace', '-f', 'json', '-e', `${programMarker('default', 8)}\nBEGIN {}`]);
  put(102, ['/usr/bin/bpftrace', '-e', `${programMarker('other', 7)}\n`]);
  put(103, ['/usr/bin/vim', '-e', `${programMarker('default', 7)}\n`]);
  writeFileSync(join(proc, 'self'), '');
  assert.deepEqual(
    staleBpftrace(markerPrefix('default'), (pid) => pid === 8, proc),
    [100],
  );
});

test('raw_tp ring records: pid/tid from pid_tgid, the dfd by call, the path up to its NUL, unread and cut paths flagged; unknown ids refused', () => {
  const byId = new Map([
    [262, STAT_CALLS.find((c) => c.name === 'newfstatat')!],
    [4, STAT_CALLS.find((c) => c.name === 'newstat')!],
    [5, STAT_CALLS.find((c) => c.name === 'newfstat')!],
  ]);
  const rec = (o: { id: number; di: bigint; got: number; path: string; comm?: string; ret?: bigint }) => {
    const b = Buffer.alloc(RAW_REC_BYTES, 0x55); // garbage after the NULs, as a reused ring slot holds
    b.writeBigUInt64LE((1234n << 32n) | 1240n, 0);
    b.writeBigUInt64LE(5_000_000_000n, 8);
    b.writeBigUInt64LE(1_500_000_000n, 16);
    b.writeBigInt64LE(o.ret ?? 0n, 24);
    b.writeBigUInt64LE(o.di, 32);
    b.writeUInt32LE(o.id, 48);
    b.writeInt32LE(o.got, 52);
    b.fill(0, 56, 72).write(o.comm ?? 'stat', 56);
    b.write(o.path + '\0', 72);
    return b;
  };
  const at = parseRawStat(rec({ id: 262, di: 0xffffff9cn, got: 5, path: 'slow' }), 0, byId)!;
  assert.deepEqual(at, { call: 'newfstatat', endNs: 6.5e9, pid: 1234, tid: 1240, durationNs: 1.5e9, ret: 0, dfd: -100, comm: 'stat', path: 'slow' });
  assert.equal(statDetail(at, '/mnt/slow'), '1500.000 ms newfstatat("slow") -> "/mnt/slow" = 0');
  assert.equal(parseRawStat(rec({ id: 4, di: 0x7ffc0000n, got: 4, path: '/ab' }), 0, byId)!.dfd, -100, 'stat(2): relative to the cwd');
  const fstat = parseRawStat(rec({ id: 5, di: 3n, got: 0, path: '', ret: -9n }), 0, byId)!;
  assert.equal(statDetail(fstat, null), '1500.000 ms fstat(fd 3) = -9');
  const unread = parseRawStat(rec({ id: 262, di: 3n, got: -14, path: '' }), 0, byId)!;
  assert.equal(unread.pathUnread, true);
  assert.equal(statDetail(unread, null), '1500.000 ms newfstatat("") = 0', 'never `fd 3`: the call took a path');
  const long = 'x'.repeat(RAW_PATH_BYTES - 1);
  const cut = parseRawStat(rec({ id: 262, di: 3n, got: RAW_PATH_BYTES, path: long }), 0, byId)!;
  assert.equal(cut.path, long);
  assert.equal(cut.pathCut, true);
  assert.equal(parseRawStat(rec({ id: 999, di: 0n, got: 0, path: '' }), 0, byId), null);
  assert.equal(parseRawStat(Buffer.alloc(RAW_REC_BYTES - 1), 0, byId), null, 'a short buffer');
  const fl = Buffer.alloc(RAW_INFLIGHT_BYTES);
  fl.writeBigUInt64LE((7n << 32n) | 9n, 0);
  fl.writeBigUInt64LE(42n, 8);
  fl.writeBigUInt64LE(262n, 32);
  assert.deepEqual(parseRawInFlight(fl, 0, byId), { pid: 7, tid: 9, startNs: 42, call: byId.get(262) });
});

test('log2 histogram percentiles: the upper bound of the bucket holding the rank', () => {
  const h = new Array<number>(64).fill(0);
  assert.equal(log2PercentileNs(h, 0.5), null);
  h[10] = 98; // [1024, 2048) ns
  h[20] = 2; // [~1 ms, ~2 ms)
  assert.equal(log2PercentileNs(h, 0.5), 2048);
  assert.equal(log2PercentileNs(h, 0.99), 2 ** 21);
});
