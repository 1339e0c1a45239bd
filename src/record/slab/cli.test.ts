/** `[slab]` config, `lantern record status` slab/dentry lines and `lantern events --type slab` through the real CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EXIT } from '../../common/exit.js';
import { exited, liveSkipReason, sleep, tempDir, uniqueName, waitFor } from '../live.testutil.js';
import { slabOptions } from '../cli.js';
import { DEFAULT_SLAB } from './detector.js';

const skip = liveSkipReason();
const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;
const lantern = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });

test('[slab] keys: defaults, durations, off, and clear errors', () => {
  assert.deepEqual(slabOptions(undefined, {}), DEFAULT_SLAB);
  assert.deepEqual(slabOptions({ slow: '1us', dentry_interval: '10s', dentry_samples: 100, tracepoints: false }, {}), { slowNs: 1000, dentryIntervalMs: 10_000, maxSamples: 100, tracepoints: false });
  assert.equal(slabOptions({ enabled: false }, {}), null);
  assert.equal(slabOptions({}, { slab: false }), null);
  assert.throws(
    () => slabOptions({ slow: 'soon' }, {}),
    (e: Error & { exitCode?: number }) => /\[slab\] slow must be a duration/.test(e.message) && e.exitCode === EXIT.DATAERR,
  );
  assert.throws(() => slabOptions({ slowness: 1 }, {}), /unknown key \[slab\] slowness/);
  assert.throws(() => slabOptions({ dentry_samples: 1 }, {}), /dentry_samples must be an integer from 2/);
});

test('record with [slab] slow = "0": status shows passes and the dentry trend; events --type slab lists them', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = join(dir, 'r.db');
    const cfg = join(dir, 'c.toml');
    writeFileSync(cfg, '[slab]\nslow = "0"\ndentry_interval = "300ms"\n');
    const child = spawn(process.execPath, [bin, 'record', '--store', store, '--config', cfg, '--name', uniqueName('slabcli'), '--no-hung', '--poll-ms', '50'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    // Shrinker passes are made only once the tracepoints are attached (a fixed wait missed them on a busy machine).
    await waitFor(() => /recording into/.test(err) || child.exitCode !== null, 20_000, 'the recorder to start');
    writeFileSync('/proc/sys/vm/drop_caches', '2');
    await sleep(1000); // two dentry samples (every 0.3 s) after the passes
    child.kill('SIGINT');
    assert.equal((await exited(child)).code, 0, err);
    const st = lantern(['record', 'status', '--store', store]);
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /^slab {7}vmscan:mm_shrink_slab_start\/_end attached; [1-9]\d* passes, [1-9]\d* slower than 0 ms, \d+ with absurd counts, \d+ unpaired; names from kallsyms$/m);
    assert.match(
      st.stdout,
      /^dentry {5}every 0\.3 s, \d+ samples; nr_dentry \d+ nr_unused \d+; unused \d+ -> \d+ \([+-]\d+\/h\); old-shrinker product \d+ = [\d.]+% of INT_MAX \(\d+ to go\); only kernels before 3\.12 overflow/m,
    );
    const ev = lantern(['events', '--store', store, '--type', 'slab', '--limit', '3']);
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /^\[\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\] slab pid=\d+ comm=\S+: slow shrink_slab pass [\d.]+ ms: \w+ nid \d+/m);
    const js = lantern(['events', '--store', store, '--type', 'slab', '--limit', '1', '--json']);
    const one = JSON.parse(js.stdout.trim().split('\n')[0]!);
    assert.equal(one.type, 'slab');
    assert.match(one.detail, /nr_objects_to_shrink -?\d+/);
  } finally {
    cleanup();
  }
});
