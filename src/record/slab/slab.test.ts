/**
 * The slab detector on the real kernel: `echo 2 > /proc/sys/vm/drop_caches` runs every
 * shrinker, with the threshold at 0 every pass is recorded; the dentry sampler with a short
 * interval. Memory pressure in a small memory cgroup makes the task that charges the cgroup reclaim
 * itself, and its shrinker passes carry its pid. Needs root, tracefs and the vmscan tracepoints
 * (CI has them).
 */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facilitySkip, skipUnlessCI } from '../../common/testenv.js';
import { DEFAULT_OPTIONS, Recorder } from '../recorder.js';
import { Store } from '../store/store.js';
import { exited, liveSkipReason, sleep, smallMemcg, tempDir, tracefsRoot, uniqueName, waitFor } from '../live.testutil.js';
import { DENTRY_META, DEFAULT_SLAB } from './detector.js';
import type { DentrySample } from './core.js';

const skip = liveSkipReason() ?? facilitySkip(existsSync(join(tracefsRoot(), 'events/vmscan/mm_shrink_slab_start')) ? undefined : 'the kernel has no vmscan:mm_shrink_slab_start tracepoint');
if (skip) console.log(`# skipping live slab tests: ${skip}`);

test('drop_caches: every shrinker pass recorded with a symbol name and numeric counts; dentry samples stored', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('slab'), pollMs: 50, slab: { ...DEFAULT_SLAB, slowNs: 0, dentryIntervalMs: 200, maxSamples: 5 } });
  const instance = rec.instance.dir;
  let stopped = false;
  try {
    rec.run();
    assert.equal(rec.slab!.status.tracepoints, 'attached');
    // Something for the dentry and inode shrinkers to free.
    for (let i = 0; i < 300; i++) writeFileSync(join(dir, `f${i}`), 'x');
    writeFileSync('/proc/sys/vm/drop_caches', '2');
    await waitFor(() => rec.slab!.status.passes > 0 && rec.slab!.status.dentry.samples >= 5, 10_000, 'shrinker passes and dentry samples');
    await sleep(300);
    const st = rec.stop();
    stopped = true;
    assert.ok(st.slab!.slow >= 1 && st.slab!.slow <= st.slab!.passes, `slow ${st.slab!.slow} of ${st.slab!.passes}`);
    assert.equal(st.slab!.symbols, 'kallsyms');
    assert.equal(existsSync(instance), false, 'instance removed');
  } finally {
    if (!stopped) rec.abort();
  }
  const store = Store.open(storePath, { readonly: true });
  try {
    const slab = store.query({ types: ['slab'] });
    assert.ok(slab.length >= 1);
    const names = new Set<string>();
    for (const e of slab) {
      const m =
        /^slow shrink_slab pass (\d+\.\d{3}) ms: (\S+) nid (-?\d+) nr_objects_to_shrink (-?\d+) cache_items (\d+) delta (\d+) total_scan (-?\d+) priority (-?\d+) gfp_flags 0x[0-9a-f]+ -> unused_scan (-?\d+) new_scan (-?\d+) retval (-?\d+) total_scan (-?\d+)$/.exec(
          e.detail ?? '',
        );
      assert.ok(m, `record line: ${e.detail}`);
      names.add(m[2]!);
    }
    assert.ok(
      [...names].every((n) => n === 'unknown' || /^[A-Za-z_][A-Za-z0-9_.]*$/.test(n)),
      [...names].join(' '),
    );
    assert.ok(
      [...names].some((n) => /super_cache_scan|_scan|_count/.test(n)),
      `shrinker names look like symbols: ${[...names].join(' ')}`,
    );
    const samples = store.getMeta<DentrySample[]>(DENTRY_META)!;
    assert.equal(samples.length, 5, 'bounded to maxSamples');
    for (const s of samples) assert.ok(Number.isInteger(s.nrUnused) && Number.isInteger(s.nrDentry) && s.pressure >= 0);
    const st = store.getMeta<{ slab: { dentry: { overflow: { affected: boolean; product: number; distance: number } } } }>('status')!;
    const ov = st.slab.dentry.overflow;
    assert.equal(ov.affected, false, 'this kernel is after 3.12');
    assert.equal(ov.distance, 2147483647 - ov.product);
    assert.equal(ov.product, Math.floor(samples.at(-1)!.nrUnused / 100) * samples.at(-1)!.pressure);
    assert.equal(store.query({ types: ['dentry'] }).length, 0, 'no warning on a new kernel');
  } finally {
    store.close();
    cleanup();
  }
});

test("memory pressure in a small memory cgroup: the reclaiming task's own shrinker passes, with its pid", { skip, timeout: 60_000 }, async (t) => {
  const cg = smallMemcg(uniqueName('slabcg'), 48 * 1024 * 1024);
  if ('reason' in cg) {
    skipUnlessCI(t, cg.reason);
    return;
  }
  const { dir, cleanup } = tempDir();
  const storePath = join(dir, 'record.db');
  const rec = Recorder.start({ ...DEFAULT_OPTIONS, storePath, name: uniqueName('slabcg'), pollMs: 50, slab: { ...DEFAULT_SLAB, slowNs: 0 } });
  let stopped = false;
  let pid = 0;
  try {
    rec.run();
    // The shell moves itself into the cgroup and becomes a python that looks up 600,000 names that
    // do not exist: each leaves a negative dentry charged to the cgroup (about 190 bytes each, more
    // than its 48 MiB), so the cgroup reclaims, in the python's own context, through the shrinkers.
    const neg = join(dir, 'neg');
    const hog = spawn(
      'sh',
      [
        '-c',
        `echo $$ > "${cg.procs}" && exec python3 -c "
import os
os.mkdir('${neg}')
for i in range(600000):
    try: os.stat('${neg}/n%d' % i)
    except FileNotFoundError: pass
"`,
      ],
      { stdio: 'ignore' },
    );
    pid = hog.pid!;
    assert.deepEqual(await exited(hog), { code: 0, signal: null });
    await waitFor(() => rec.slab!.status.passes > 0, 10_000, 'shrinker passes');
    await sleep(300);
    rec.stop();
    stopped = true;
  } finally {
    if (!stopped) rec.abort();
    cg.remove();
  }
  const store = Store.open(storePath, { readonly: true });
  try {
    const mine = store.query({ types: ['slab'] }).filter((e) => e.pid === pid);
    assert.ok(mine.length >= 1, 'passes of the reclaiming task itself');
    assert.ok(
      mine.some((e) => /: super_cache_scan nid /.test(e.detail ?? '')),
      `the dentry and inode caches' shrinker among them: ${mine.map((e) => e.detail).join('\n')}`,
    );
    assert.ok(
      mine.every((e) => e.comm === 'python3'),
      mine.map((e) => e.comm).join(' '),
    );
  } finally {
    store.close();
    cleanup();
  }
});
