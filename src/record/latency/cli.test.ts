/** `[slow_stat]` / `[slow_io]` config and `--slow-stat` / `--slow-io` through the parser and the real CLI (bad input: one line, stable exit code). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EXIT } from '../../common/exit.js';
import { tempDir } from '../live.testutil.js';
import { latencyOptions } from '../cli.js';

const bin = new URL('../../../bin/lantern.js', import.meta.url).pathname;
const lantern = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });

test('latency options: off unless asked; flags win; defaults; 0s only for slow_io; clear errors with exit 64 (flag) or 65 (file)', () => {
  assert.equal(latencyOptions({}, {}), null);
  assert.equal(latencyOptions({ slow_stat: { enabled: false, threshold: '2s' } }, {}), null);
  assert.deepEqual(latencyOptions({ slow_stat: { enabled: true } }, {}), { stat: { thresholdNs: 1e9 }, io: null });
  assert.deepEqual(latencyOptions({ slow_stat: { enabled: true, threshold: '2s' } }, { slowStat: '250ms' }), { stat: { thresholdNs: 250e6 }, io: null });
  assert.deepEqual(latencyOptions({ slow_io: { threshold: '3s', histogram_interval: '1s' } }, { slowIo: '0s' }), { stat: null, io: { thresholdNs: 0, histIntervalMs: 1000 } });
  const code = (f: () => unknown, re: RegExp, exit: number) => assert.throws(f, (e: Error & { exitCode?: number }) => re.test(e.message) && e.exitCode === exit);
  code(() => latencyOptions({}, { slowStat: '0s' }), /^bad --slow-stat "0s": a duration like "500ms", "1s", "2.5s" from 1 ms to 1 h$/, EXIT.USAGE);
  code(() => latencyOptions({}, { slowStat: '500' }), /bad --slow-stat "500"/, EXIT.USAGE);
  code(() => latencyOptions({ slow_stat: { enabled: true, threshold: 5 } }, {}), /^config: \[slow_stat\] threshold 5/, EXIT.DATAERR);
  code(() => latencyOptions({ slow_io: { enabled: 'yes' } }, {}), /\[slow_io\] enabled must be true or false/, EXIT.DATAERR);
  code(() => latencyOptions({ slow_io: { treshold: '1s' } }, {}), /unknown key \[slow_io\] treshold \(expected one of enabled, threshold, histogram_interval\)/, EXIT.DATAERR);
  code(() => latencyOptions({ slow_io: { enabled: true, histogram_interval: '10ms' } }, {}), /histogram_interval/, EXIT.DATAERR);
});

test('the real CLI: a bad --slow-stat or LANTERN_SLOW_STAT_BACKEND is exit 64, a bad [slow_io] section exit 65, one line each, before anything is started', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = lantern(['record', '--store', join(dir, 'r.db'), '--slow-stat', '100us']);
    assert.equal(r.status, EXIT.USAGE, r.stderr);
    assert.equal(r.stderr, 'lantern: bad --slow-stat "100us": a duration like "500ms", "1s", "2.5s" from 1 ms to 1 h\n');
    const cfg = join(dir, 'c.toml');
    writeFileSync(cfg, `slow_io = 3\n`);
    const r2 = lantern(['record', '--config', cfg, '--store', join(dir, 'r.db')]);
    assert.equal(r2.status, EXIT.DATAERR, r2.stderr);
    assert.equal(r2.stderr, `lantern: config ${cfg}: [slow_io] must be a table\n`);
    writeFileSync(cfg, `[slow_io]\nenabled = true\nthreshold = "fast"\n`);
    const r3 = lantern(['record', '--config', cfg, '--store', join(dir, 'r.db')]);
    assert.equal(r3.status, EXIT.DATAERR, r3.stderr);
    assert.equal(r3.stderr, 'lantern: config: [slow_io] threshold "fast": a duration like "500ms", "1s", "2.5s" from 0 ms to 1 h\n');
    const r4 = spawnSync(process.execPath, [bin, 'record', '--store', join(dir, 'r.db'), '--slow-stat', '1s'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, LANTERN_SLOW_STAT_BACKEND: 'fast' },
    });
    assert.equal(r4.status, EXIT.USAGE, r4.stderr);
    assert.equal(r4.stderr, 'lantern: LANTERN_SLOW_STAT_BACKEND="fast": expected auto, raw_tp or bpftrace\n');
  } finally {
    cleanup();
  }
});
