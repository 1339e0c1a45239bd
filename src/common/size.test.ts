/** The one size grammar: every spelling the docs, config samples and the kernel write, and what is refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize, parseSizeOption } from './size.js';
import { CliError, EXIT } from './exit.js';

const K = 1024;
const M = K * K;
const G = K * M;

test('size: every accepted spelling, in either reader', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['131072', 131072],
    ['512B', 512],
    ['512b', 512],
    ['64k', 64 * K],
    ['64K', 64 * K],
    ['64kb', 64 * K],
    ['64KB', 64 * K],
    ['64Ki', 64 * K],
    ['64KiB', 64 * K],
    ['64kib', 64 * K],
    ['256M', 256 * M],
    ['32MiB', 32 * M],
    ['100m', 100 * M],
    ['1G', G],
    ['4GB', 4 * G],
    ['2T', 2 * K * G],
    ['1P', 2 ** 50],
    ['1E', 2 ** 60],
    [' 32 M ', 32 * M],
    ['20 GiB', 20 * G],
  ];
  for (const [text, bytes] of cases) {
    assert.equal(parseSize(text), bytes, text);
    assert.equal(parseSizeOption(text, '--x'), bytes, text);
  }
});

test('size: an operator may write a fraction and a TOML integer; the kernel-text reader takes neither a fraction nor a number', () => {
  assert.equal(parseSizeOption('1.5G', '--x'), 1.5 * G);
  assert.equal(parseSizeOption('0.5k', '--x'), 512);
  assert.equal(parseSizeOption('1.0001k', '--x'), 1024, 'rounded to a byte');
  assert.equal(parseSizeOption(4096, '--x'), 4096);
  assert.equal(parseSizeOption(0, '--x'), 0);
  // crashkernel=1.5G is refused by the kernel's memparse: reading it as 1.5 GiB would report a reservation that is not there.
  assert.equal(parseSize('1.5G'), null);
});

test('size: refused spellings, with one message naming the setting', () => {
  for (const text of ['', 'lots', '-1', '1.', '.5M', '1X', '1KK', '1iB', '1i', '1 K B', '0x100', '1e3', 'M', '1,5G', '10MB/s']) {
    assert.equal(parseSize(text), null, text);
    assert.throws(
      () => parseSizeOption(text, '--max-file-size'),
      (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE && e.message === `--max-file-size: not a size: ${JSON.stringify(text)} (use e.g. 65536, 64k, 32M, 1G)`,
      text,
    );
  }
  for (const v of [-1, 1.5, Number.NaN, Infinity, true, null, ['1M'], { size: 1 }]) {
    assert.throws(
      () => parseSizeOption(v, 'max_buffer'),
      (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE && e.message === `max_buffer: not a size: ${JSON.stringify(v)} (use e.g. 65536, 64k, 32M, 1G)`,
      String(JSON.stringify(v)),
    );
  }
});
