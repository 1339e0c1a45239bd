/** The one duration grammar: every spelling the docs and config samples write, the bare number's unit per reader, what is refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationIn, durationMs, parseDuration } from './duration.js';
import { CliError, EXIT } from './exit.js';

test('duration: every accepted spelling, in ms', () => {
  const cases: Array<[string | number, number]> = [
    ['0', 0],
    ['10', 10_000],
    ['1.5', 1500],
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['0.5h', 1_800_000],
    [' 30 s ', 30_000],
    ['2000us', 2],
    ['2000µs', 2],
    ['3000000ns', 3],
    ['0.4ms', 0],
    [30, 30_000],
    [0.25, 250],
    [0, 0],
  ];
  for (const [v, ms] of cases) {
    assert.equal(durationMs(v), ms, String(JSON.stringify(v)));
    assert.equal(parseDuration(v, '--x'), ms, String(JSON.stringify(v)));
  }
});

test("duration: the bare number is the reader's unit (seconds for intervals, ms for [slab] slow), in ns or any unit", () => {
  const ns = (v: unknown) => durationIn(v, 'ms', 'ns');
  assert.equal(ns('100ms'), 100e6);
  assert.equal(ns('1us'), 1000);
  assert.equal(ns('250µs'), 250_000);
  assert.equal(ns('7ns'), 7);
  assert.equal(ns('2s'), 2e9);
  assert.equal(ns('1m'), 60e9);
  assert.equal(ns('1h'), 3600e9);
  assert.equal(ns('0'), 0);
  assert.equal(ns('250'), 250e6);
  assert.equal(ns(250), 250e6);
  assert.equal(durationIn('1.5', 'ms', 'us'), 1500);
  assert.equal(durationIn(2, 'h', 's'), 7200);
  assert.equal(durationIn('90s', 's', 'm'), 2, 'rounded in the unit asked for');
});

test('duration: a reader whose bare number has no unit takes only spellings with one', () => {
  assert.equal(durationIn('500ms', null, 'ns'), 5e8);
  assert.equal(durationIn(' 1h ', null, 'ms'), 3_600_000);
  for (const v of ['500', '0', ' 2.5 ', 500, 0]) assert.equal(durationIn(v, null, 'ns'), null, String(JSON.stringify(v)));
});

test('duration: refused spellings, with one message naming the setting', () => {
  for (const v of ['', 'soon', 'fast', '-1', '-5s', '1.', '.5s', '5 m s', '5min', '10sec', '1d', '5S', '5M', '1H', '10s5', '1e3', 'ms', '0x10']) {
    assert.equal(durationMs(v), null, v);
    assert.equal(durationIn(v, 'ms', 'ns'), null, v);
    assert.throws(
      () => parseDuration(v, '--frag-timeout'),
      (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE && e.message === `--frag-timeout: not a duration: ${JSON.stringify(v)} (use e.g. 10s, 500ms, 5m)`,
      v,
    );
  }
  for (const v of [-1, Number.NaN, Infinity, true, null, undefined, ['5s'], { s: 5 }]) {
    assert.equal(durationMs(v), null, String(JSON.stringify(v)));
    assert.equal(durationIn(v, 'ms', 'ns'), null, String(JSON.stringify(v)));
    assert.throws(
      () => parseDuration(v, 'source tty: poll'),
      (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE && e.message === `source tty: poll: not a duration: ${JSON.stringify(v)} (use e.g. 10s, 500ms, 5m)`,
      String(JSON.stringify(v)),
    );
  }
});
