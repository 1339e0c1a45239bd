import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseEventFormat } from '../tracefs/format.js';
import { compileDecoder } from '../tracefs/decode.js';
import { join } from 'node:path';
import { INT_MAX } from '../../host/formats/dentry-state.js';
import { absurdCounts, decodeEnd, decodeStart, dentryOverflow, dentryTrend, Kallsyms, parseDurationNs, passDetail, pushBounded, ShrinkPairer, type DentrySample } from './core.js';
import { dentryStatusText, overflowDetail } from './detector.js';

const data = new URL('../../../test/data/record/', import.meta.url);
const fmt = (name: string) => parseEventFormat(readFileSync(new URL(`${name}.format`, data), 'utf8'));

/** A raw record laid out as the real format file says (what the ring buffer holds). */
function rawStart(v: { shr: bigint; shrink: bigint; nid: number; nr: bigint; gfp: bigint; cache: bigint; delta: bigint; total: bigint; prio: number }): Buffer {
  const b = Buffer.alloc(76);
  b.writeUInt16LE(631, 0);
  b.writeInt32LE(4242, 4);
  b.writeBigUInt64LE(v.shr, 8);
  b.writeBigUInt64LE(v.shrink, 16);
  b.writeInt32LE(v.nid, 24);
  b.writeBigInt64LE(v.nr, 32);
  b.writeBigUInt64LE(v.gfp, 40);
  b.writeBigUInt64LE(v.cache, 48);
  b.writeBigUInt64LE(v.delta, 56);
  b.writeBigUInt64LE(BigInt.asUintN(64, v.total), 64);
  b.writeInt32LE(v.prio, 72);
  return b;
}

function rawEnd(v: { shr: bigint; shrink: bigint; nid: number; unused: bigint; fresh: bigint; ret: number; total: bigint }): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt16LE(630, 0);
  b.writeInt32LE(4242, 4);
  b.writeBigUInt64LE(v.shr, 8);
  b.writeInt32LE(v.nid, 16);
  b.writeBigUInt64LE(v.shrink, 24);
  b.writeBigInt64LE(v.unused, 32);
  b.writeBigInt64LE(v.fresh, 40);
  b.writeInt32LE(v.ret, 48);
  b.writeBigInt64LE(v.total, 56);
  return b;
}

const SHR = 0xffff8880_0a1b2c00n;
const SCAN = 0xffffffff_816dd3a0n;

test('decoded shrink_slab records: exact kernel pointers, a wrapped total_scan reads negative', () => {
  const ds = compileDecoder(fmt('mm_shrink_slab_start'));
  const de = compileDecoder(fmt('mm_shrink_slab_end'));
  const sb = rawStart({ shr: SHR, shrink: SCAN, nid: 0, nr: 12n, gfp: 0xcc0n, cache: 1000n, delta: 40n, total: -5n, prio: 12 });
  const s = decodeStart(100, 4242, ds(sb, 0, sb.length));
  assert.equal(s.shrink, 'ffffffff816dd3a0');
  assert.equal(s.shr, 'ffff88800a1b2c00');
  assert.deepEqual([s.nid, s.nrObjectsToShrink, s.gfpFlags, s.cacheItems, s.delta, s.totalScan, s.priority], [0, 12, 0xcc0, 1000, 40, -5, 12]);
  const eb = rawEnd({ shr: SHR, shrink: SCAN, nid: 0, unused: 0n, fresh: 3n, ret: 7, total: 0n });
  const e = decodeEnd(900, 4242, de(eb, 0, eb.length));
  assert.deepEqual([e.shr, e.unusedScan, e.newScan, e.retval, e.totalScan], ['ffff88800a1b2c00', 0, 3, 7, 0]);
  assert.match(absurdCounts(s, e)!, /total_scan=-5 is negative/);
});

test('absurd-count rule: negatives anywhere, or a scan above twice the cache; sane passes pass', () => {
  const ds = compileDecoder(fmt('mm_shrink_slab_start'));
  const start = (nr: bigint, cache: bigint, total: bigint) => {
    const b = rawStart({ shr: SHR, shrink: SCAN, nid: 0, nr, gfp: 0xcc0n, cache, delta: 0n, total, prio: 0 });
    return decodeStart(0, 1, ds(b, 0, b.length));
  };
  const end = { ts: 1, pid: 1, shr: '', shrink: null, nid: 0, unusedScan: 0, newScan: 0, retval: 0, totalScan: 0 };
  assert.equal(absurdCounts(start(0n, 118560n, 237120n), end), null, 'exactly twice the cache: the kernel cap, seen live');
  assert.match(absurdCounts(start(-2147483648n, 10n, 0n), end)!, /nr_objects_to_shrink=-2147483648 is negative/);
  assert.match(absurdCounts(start(0n, 100n, 201n), end)!, /above twice the cache size \(100 items\)/);
  assert.match(absurdCounts(start(0n, 100n, 0n), { ...end, newScan: -9 })!, /new_scan=-9/);
});

test("pairing per task: the end closes its own task's start; orphans are counted", () => {
  const p = new ShrinkPairer(2);
  const s = (pid: number, ts: number, shr = 'a') => ({ ts, pid, shr, shrink: 'f', nid: 0, nrObjectsToShrink: 0, gfpFlags: 0, cacheItems: 1, delta: 0, totalScan: 0, priority: 0 });
  const e = (pid: number, ts: number, shr = 'a') => ({ ts, pid, shr, shrink: 'f', nid: 0, unusedScan: 0, newScan: 0, retval: 0, totalScan: 0 });
  p.onStart(s(1, 10));
  p.onStart(s(2, 20));
  assert.equal(p.onEnd(e(2, 25))!.durationNs, 5);
  assert.equal(p.onEnd(e(1, 40))!.durationNs, 30);
  assert.equal(p.onEnd(e(3, 50)), null, 'no start: the recorder began mid-pass');
  p.onStart(s(4, 60));
  assert.equal(p.onEnd(e(4, 70, 'b')), null, 'another shrinker');
  p.onStart(s(5, 1));
  p.onStart(s(6, 2)); // bound 2: the oldest (pid 4) goes
  assert.equal(p.unpaired, 3);
  assert.equal(p.openCount, 2);
});

test('kallsyms: nearest text symbol at or below; zeroed addresses say so', () => {
  const k = Kallsyms.parse('ffffffff816dd390 t __pfx_super_cache_scan\nffffffff816dd3a0 t super_cache_scan\nffffffff816dd500 T other_fn\nffffffff82000000 D some_data\n');
  assert.equal(k.lookup('ffffffff816dd3a0'), 'super_cache_scan');
  assert.equal(k.lookup('ffffffff816dd3b7'), 'super_cache_scan');
  assert.equal(k.lookup('ffffffff816dd600'), 'other_fn');
  assert.equal(k.lookup('0000000000000001'), null);
  assert.equal(k.zeroed, false);
  assert.equal(Kallsyms.parse('0000000000000000 t super_cache_scan\n0000000000000000 T other_fn\n').zeroed, true);
});

test("dentry arithmetic is check's: distance to INT_MAX, warned only before 3.12", () => {
  const old = dentryOverflow(20_000_000, 10_000, [2, 6, 32]);
  assert.equal(old.product, 200_000 * 10_000);
  assert.equal(old.distance, INT_MAX - 2_000_000_000);
  assert.equal(old.affected, true);
  assert.equal(old.close, true, '93% of INT_MAX is within the 20% margin');
  const passed = dentryOverflow(30_000_000, 10_000, [3, 10, 0]);
  assert.ok(passed.distance < 0);
  const now = dentryOverflow(20_000_000, 10_000, [6, 18, 44]);
  assert.equal(now.affected, false);
  assert.equal(now.close, true);
  assert.equal(dentryOverflow(1_000_000, 100, [2, 6, 32]).close, false);
  assert.equal(dentryOverflow(1_000_000, 100, null).affected, true, 'unknown release: treated as affected');
  const s: DentrySample = { timeUs: 0, nrDentry: 25_000_000, nrUnused: 20_000_000, nrNegative: 0, pressure: 10_000 };
  assert.match(overflowDetail(s, old, '2.6.32-358.el6.x86_64'), /= 2000000000, 93\.1% of INT_MAX 2147483647 \(147483647 to go\); kernel 2\.6\.32-358\.el6\.x86_64 is before 3\.12/);
});

test('dentry trend over a bounded series, and its status line', () => {
  const list: DentrySample[] = [];
  for (let i = 0; i < 5; i++) pushBounded(list, { timeUs: i * 1800e6, nrDentry: 0, nrUnused: 1000 + i * 500, nrNegative: null, pressure: 100 }, 3);
  assert.deepEqual(
    list.map((s) => s.nrUnused),
    [2000, 2500, 3000],
  );
  const t = dentryTrend(list)!;
  assert.deepEqual([t.samples, t.firstUnused, t.lastUnused, t.perHour], [3, 2000, 3000, 1000]);
  assert.equal(dentryTrend([list[0]!])!.perHour, null);
  assert.equal(dentryTrend([]), null);
  const line = dentryStatusText({
    intervalMs: 60_000,
    samples: 3,
    readErrors: 0,
    lastError: null,
    last: list[2]!,
    trend: t,
    overflow: dentryOverflow(3000, 100, [6, 18, 44]),
    kernel: '6.18.44',
    warnings: 0,
  });
  assert.match(
    line,
    /every 60 s, 3 samples; nr_dentry 0 nr_unused 3000; unused 2000 -> 3000 \(\+1000\/h\); old-shrinker product 3000 = 0\.00% of INT_MAX \(2147480647 to go\); only kernels before 3\.12 overflow, this is 6\.18\.44: shown, not warned/,
  );
});

test('[slab] slow durations, and the record line', () => {
  assert.equal(parseDurationNs('100ms'), 100e6);
  assert.equal(parseDurationNs('1us'), 1000);
  assert.equal(parseDurationNs('0'), 0);
  assert.equal(parseDurationNs('2s'), 2e9);
  assert.equal(parseDurationNs(250), 250e6);
  assert.equal(parseDurationNs('250µs'), 250_000);
  assert.equal(parseDurationNs('250'), 250e6, 'a bare number is ms here');
  assert.equal(parseDurationNs('1m'), 60e9, "common/duration's grammar: minutes too");
  assert.equal(parseDurationNs('fast'), null);
  assert.equal(parseDurationNs('5M'), null);
  assert.equal(parseDurationNs(-1), null);
  const start = { ts: 0, pid: 1, shr: 'a', shrink: 'f', nid: 0, nrObjectsToShrink: 0, gfpFlags: 0xcc0, cacheItems: 1063, delta: 2126, totalScan: 2126, priority: 0 };
  const end = { ts: 330_000, pid: 1, shr: 'a', shrink: 'f', nid: 0, unusedScan: 0, newScan: 78, retval: 1063, totalScan: 78 };
  assert.equal(
    passDetail('slow', { pid: 1, start, end, durationNs: 330_000 }, 'super_cache_scan'),
    'slow shrink_slab pass 0.330 ms: super_cache_scan nid 0 nr_objects_to_shrink 0 cache_items 1063 delta 2126 total_scan 2126 priority 0 gfp_flags 0xcc0 -> unused_scan 0 new_scan 78 retval 1063 total_scan 78',
  );
});

test('the detector records an absurd pass even when fast, a slow one only above the threshold; missing tracepoints say so', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { Store } = await import('../store/store.js');
  const { Host } = await import('../../host/host.js');
  const { SlabDetector, DEFAULT_SLAB, slabStatusText } = await import('./detector.js');
  const dir = mkdtempSync(join(tmpdir(), 'lantern-slab-'));
  const store = Store.open(join(dir, 'r.db'));
  try {
    const env = { store, host: new Host(), toWallUs: (ts: number) => ts / 1000, commOf: () => 'kswapd0' };
    const det = new SlabDetector({ ...DEFAULT_SLAB, dentryIntervalMs: 0 }, env, true);
    const ds = compileDecoder(fmt('mm_shrink_slab_start'));
    const de = compileDecoder(fmt('mm_shrink_slab_end'));
    const feed = (t0: number, total: bigint, durNs: number) => {
      const sb = rawStart({ shr: SHR, shrink: SCAN, nid: 0, nr: 0n, gfp: 0xcc0n, cache: 100n, delta: 0n, total, prio: 0 });
      const eb = rawEnd({ shr: SHR, shrink: SCAN, nid: 0, unused: 0n, fresh: 0n, ret: 0, total: 0n });
      det.onEvent({ ts: t0, cpu: 0, name: 'mm_shrink_slab_start', commonPid: 77, fields: ds(sb, 0, sb.length) });
      det.onEvent({ ts: t0 + durNs, cpu: 1, name: 'mm_shrink_slab_end', commonPid: 77, fields: de(eb, 0, eb.length) });
    };
    feed(1e9, -3n, 1000); // fast, negative
    feed(2e9, 10n, 1000); // fast, sane: nothing
    feed(3e9, 10n, 200e6); // slow, sane
    const recs = det.poll();
    assert.deepEqual(
      recs.map((r) => r.detail!.split(':')[0]),
      ['absurd shrink_slab counts (total_scan=-3 is negative), 0.001 ms', 'slow shrink_slab pass 200.000 ms'],
    );
    assert.ok(recs.every((r) => r.type === 'slab' && r.tid === 77 && r.comm === 'kswapd0'));
    assert.deepEqual([det.status.passes, det.status.slow, det.status.absurd, det.status.unpaired], [3, 1, 1, 0]);
    const missing = new SlabDetector({ ...DEFAULT_SLAB, dentryIntervalMs: 0 }, env, false);
    assert.match(slabStatusText(missing.status), /^tracepoints missing: vmscan:mm_shrink_slab_start\/_end do not exist on this kernel/);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
