/**
 * The addon's parser on taskstats messages built here the way the kernel builds them
 * (nlmsghdr, genlmsghdr, AGGR_PID { PID, NULL padding, STATS }, AGGR_TGID), longer (newer kernel)
 * and shorter (older kernel) structures, and damaged ones: it reads only what it was given,
 * counts what it cannot use, and never throws. Needs the built addon (CI builds it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { facilitySkip } from '../../common/testenv.js';
import { decodeEntries } from './core.js';
import { loadTaskstats, type TaskstatsAddon } from './native.js';

const loaded = loadTaskstats();
const mod: TaskstatsAddon | null = 'mod' in loaded ? loaded.mod : null;
const skip = facilitySkip('error' in loaded ? loaded.error : undefined);
const FAMILY = 31;

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

interface Fields {
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  read: number;
  write: number;
  cancelled: number;
  rchar: number;
  wchar: number;
  etime: number;
  btime: number;
  exitcode: number;
  uid: number;
}

function stats(m: TaskstatsAddon, f: Fields, size = m.STATS_LAYOUT.size): Buffer {
  const L = m.STATS_LAYOUT;
  const b = Buffer.alloc(Math.max(size, L.size));
  b.writeUInt16LE(16, L.version);
  b.writeUInt32LE(f.exitcode, L.ac_exitcode);
  b.write(f.comm, L.ac_comm, 31, 'utf8');
  b.writeUInt32LE(f.uid, L.ac_uid);
  b.writeUInt32LE(f.pid, L.ac_pid);
  b.writeUInt32LE(f.ppid, L.ac_ppid);
  b.writeBigUInt64LE(BigInt(f.etime), L.ac_etime);
  b.writeBigUInt64LE(BigInt(f.rchar), L.read_char);
  b.writeBigUInt64LE(BigInt(f.wchar), L.write_char);
  b.writeBigUInt64LE(BigInt(f.read), L.read_bytes);
  b.writeBigUInt64LE(BigInt(f.write), L.write_bytes);
  b.writeBigUInt64LE(BigInt(f.cancelled), L.cancelled_write_bytes);
  b.writeBigUInt64LE(BigInt(f.btime), L.ac_btime64);
  b.writeUInt32LE(f.tgid, L.ac_tgid);
  return b.subarray(0, size);
}

/** One TASKSTATS_CMD_NEW message: AGGR_PID, and AGGR_TGID (zero I/O) when `group`. */
function message(m: TaskstatsAddon, f: Fields, opts: { size?: number; group?: boolean; family?: number } = {}): Buffer {
  const pid = Buffer.alloc(4);
  pid.writeUInt32LE(f.pid);
  const aggr = attr(4, Buffer.concat([attr(1, pid), attr(6, Buffer.alloc(0)), attr(3, stats(m, f, opts.size))]));
  const tg = Buffer.alloc(4);
  tg.writeUInt32LE(f.tgid);
  const group = opts.group ? attr(5, Buffer.concat([attr(2, tg), attr(3, stats(m, { ...f, read: 0, write: 0, cancelled: 0 }))])) : Buffer.alloc(0);
  const genl = Buffer.from([2, 1, 0, 0]); // TASKSTATS_CMD_NEW, version 1
  const body = Buffer.concat([genl, aggr, group]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(opts.family ?? FAMILY, 4);
  return Buffer.concat([h, body]);
}

const F: Fields = {
  pid: 4214,
  tgid: 4213,
  ppid: 4164,
  comm: 'io-child',
  read: 4194304,
  write: 4222976,
  cancelled: 262144,
  rchar: 4198400,
  wchar: 4194304,
  etime: 2400,
  btime: 1796298062,
  exitcode: 0,
  uid: 1000,
};

test("parser: a kernel-shaped record reads back; a newer kernel's longer structure too", { skip }, () => {
  const m = mod!;
  for (const size of [m.STATS_LAYOUT.size, m.STATS_LAYOUT.size + 64]) {
    const r = m.parse(message(m, F, { size }), FAMILY, 1);
    assert.deepEqual([r.messages, r.records, r.skippedNoIo, r.parseErrors], [1, 1, 0, 0]);
    const [e] = decodeEntries(r.entries);
    assert.deepEqual(
      [e!.tid, e!.tgid, e!.ppid, e!.comm, e!.uid, e!.version, e!.readBytes, e!.writeBytes, e!.cancelledWriteBytes, e!.readChars, e!.writeChars, e!.elapsedUs, e!.beginSec, e!.shortStats],
      [F.pid, F.tgid, F.ppid, F.comm, F.uid, 16, F.read, F.write, F.cancelled, F.rchar, F.wchar, F.etime, F.btime, false],
    );
  }
});

test('parser: group summaries counted, no-I/O threads skipped, two messages in one datagram, other families ignored', { skip }, () => {
  const m = mod!;
  const both = Buffer.concat([message(m, F, { group: true }), message(m, { ...F, pid: 9, read: 0, write: 0, cancelled: 0 })]);
  const r = m.parse(both, FAMILY, 1);
  assert.deepEqual([r.messages, r.records, r.groupRecords, r.skippedNoIo, r.parseErrors, r.entries.length / 120], [2, 2, 1, 1, 0, 1]);
  assert.equal(m.parse(both, FAMILY, 0).entries.length / 120, 2, 'skipNoIo 0 keeps them');
  assert.deepEqual(m.parse(message(m, F, { family: 30 }), FAMILY, 1).messages, 0);
});

test("parser: an older kernel's structure without the I/O fields is flagged; one without the identity is an error", { skip }, () => {
  const m = mod!;
  const short = m.parse(message(m, F, { size: m.STATS_LAYOUT.read_bytes }), FAMILY, 1);
  assert.deepEqual([short.records, short.parseErrors], [1, 0]);
  const [e] = decodeEntries(short.entries);
  assert.equal(e!.shortStats, true);
  assert.equal(e!.tid, F.pid);
  assert.equal(e!.tgid, 0, 'no ac_tgid in so short a structure');
  const tiny = m.parse(message(m, F, { size: 100 }), FAMILY, 1);
  assert.deepEqual([tiny.records, tiny.parseErrors, tiny.entries.length], [1, 1, 0]);
});

test('parser: cut or damaged datagrams never throw, never yield more than they hold, and count their damage', { skip }, () => {
  const m = mod!;
  const good = Buffer.concat([message(m, F, { group: true }), message(m, { ...F, pid: 77 })]);
  fc.assert(
    fc.property(fc.nat({ max: good.length }), fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (cut, flips) => {
      const b = Buffer.from(good.subarray(0, cut));
      for (const [at, v] of flips) if (at < b.length) b[at] = v;
      const r = m.parse(b, FAMILY, 0);
      const n = r.entries.length / 120;
      assert.ok(Number.isInteger(n) && n <= r.records && r.records <= 4, JSON.stringify(r));
      for (const e of decodeEntries(r.entries)) assert.ok(e.comm.length <= 32);
      if (cut < good.length && flips.length === 0 && cut > 0) assert.ok(r.parseErrors > 0 || n < 2, 'a cut datagram is counted or yields less');
    }),
    { numRuns: 3000 },
  );
});
