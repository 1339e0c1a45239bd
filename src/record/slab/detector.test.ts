/** The detector's edges over a host tree (an old RHEL 6 kernel's /proc written as real files): dentry warnings, zeroed kallsyms, unreadable samples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host } from '../../host/host.js';
import { Store } from '../store/store.js';
import { DEFAULT_SLAB, DENTRY_META, dentryStatusText, SlabDetector } from './detector.js';
import type { DentrySample } from './core.js';

test('old kernel: a dentry record when the product nears INT_MAX, once per approach; samples bounded and kept across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-slab-'));
  const root = join(dir, 'host');
  for (const d of ['proc/sys/kernel', 'proc/sys/vm', 'proc/sys/fs']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'proc/sys/kernel/osrelease'), '2.6.32-358.el6.x86_64\n');
  writeFileSync(join(root, 'proc/sys/vm/vfs_cache_pressure'), '10000\n');
  writeFileSync(join(root, 'proc/kallsyms'), '0000000000000000 t super_cache_scan\n0000000000000000 T prune_dcache\n');
  const state = (unused: number) => writeFileSync(join(root, 'proc/sys/fs/dentry-state'), `${unused + 5000}\t${unused}\t45\t0\t0\t0\n`);
  const store = Store.open(join(dir, 'r.db'));
  try {
    const host = new Host({ root });
    const env = { store, host, toWallUs: (ts: number) => ts / 1000, commOf: () => '' };
    const det = new SlabDetector({ ...DEFAULT_SLAB, dentryIntervalMs: 1000, maxSamples: 4 }, env, true);
    const seen: string[] = [];
    let t = 1_000_000;
    for (const unused of [1_000_000, 20_000_000, 21_000_000, 22_000_000, 30_000_000, 1_000_000, 20_500_000, 30_000_000]) {
      state(unused);
      for (const r of det.poll((t += 1000))) seen.push(`${r.type}: ${r.detail}`);
    }
    assert.equal(seen.length, 4, seen.join('\n'));
    assert.match(
      seen[0]!,
      /^dentry: dcache shrinker overflow close: floor\(nr_unused 20000000 \/ 100\) \* vfs_cache_pressure 10000 = 2000000000, 93\.1% of INT_MAX 2147483647 \(147483647 to go\); kernel 2\.6\.32-358\.el6\.x86_64 is before 3\.12/,
    );
    assert.match(seen[1]!, /overflow passed: floor\(nr_unused 22000000 \/ 100\) \* vfs_cache_pressure 10000 = 2200000000, 102\.4% of INT_MAX 2147483647 \(-52516353 to go\)/);
    assert.match(seen[2]!, /overflow close: floor\(nr_unused 20500000/, 'again after it fell back below the margin');
    assert.match(seen[3]!, /overflow passed: floor\(nr_unused 30000000/);
    const d = det.status.dentry;
    assert.equal(d.samples, 4);
    assert.equal(d.overflow!.distance, 2147483647 - 3_000_000_000);
    assert.match(dentryStatusText(d), /old-shrinker product 3000000000 = 139\.70% of INT_MAX \(-852516353 to go\) WARNING: past INT_MAX, the old shrinker overflows; 4 warnings$/);
    // Not due yet: no sample.
    assert.deepEqual(det.poll(t + 10), []);
    assert.equal(det.status.dentry.samples, 4);
    // A restart continues the stored series.
    const again = new SlabDetector({ ...DEFAULT_SLAB, maxSamples: 4 }, env, true);
    assert.deepEqual(again.status.dentry.trend!.firstUnused, store.getMeta<DentrySample[]>(DENTRY_META)![0]!.nrUnused);
    // An unreadable sample is counted with its reason.
    rmSync(join(root, 'proc/sys/fs/dentry-state'));
    again.poll(t + 5000);
    assert.equal(again.status.dentry.readErrors, 1);
    assert.match(again.status.dentry.lastError!, /^\/proc\/sys\/fs\/dentry-state: /);
    // kallsyms with zeroed addresses: names are "unknown", and the status says why.
    const start = { shr: 'ab', shrink: 'ffffffff816dd3a0', nid: 0, nr_objects_to_shrink: 0, gfp_flags: 0, cache_items: 10, delta: 0, total_scan: 5, priority: 0 };
    const end = { shr: 'ab', nid: 0, shrink: 'ffffffff816dd3a0', unused_scan: 0, new_scan: 0, retval: 5, total_scan: 0 };
    const slow = new SlabDetector({ ...DEFAULT_SLAB, slowNs: 0, dentryIntervalMs: 0 }, env, true);
    slow.onEvent({ ts: 10, cpu: 0, name: 'mm_shrink_slab_start', commonPid: 9, fields: start });
    slow.onEvent({ ts: 20, cpu: 0, name: 'mm_shrink_slab_end', commonPid: 9, fields: end });
    const [rec] = slow.poll();
    assert.match(rec!.detail!, /^slow shrink_slab pass 0\.000 ms: unknown nid 0/);
    assert.equal(slow.status.symbols, 'zeroed');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
