/** The options every root-opening command shares: --max-unpacked reads sizes as every size option does. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { CliError } from '../common/exit.js';
import { maxUnpackedOption, unpackLimitsFrom } from './options.js';

const parse = (...args: string[]): { maxUnpacked?: number } => new Command().exitOverride().addOption(maxUnpackedOption()).parse(args, { from: 'user' }).opts();

test('--max-unpacked: the common size grammar; not a size or 0 is a usage error (64) on one line', () => {
  assert.equal(parse('--max-unpacked', '20G').maxUnpacked, 20 * 2 ** 30);
  assert.equal(parse('--max-unpacked', '1.5G').maxUnpacked, 1.5 * 2 ** 30);
  assert.equal(parse('--max-unpacked', '512MiB').maxUnpacked, 512 * 2 ** 20);
  assert.equal(parse('--max-unpacked', '1000000').maxUnpacked, 1_000_000);
  assert.deepEqual(unpackLimitsFrom(parse('--max-unpacked', '4G').maxUnpacked), { maxBytes: 4 * 2 ** 30, maxRatio: 0 });
  assert.deepEqual(unpackLimitsFrom(parse().maxUnpacked), {});
  for (const [v, message] of [
    ['lots', '--max-unpacked: not a size: "lots" (use e.g. 65536, 64k, 32M, 1G)'],
    ['0', '--max-unpacked: must be more than 0 (use e.g. 20G, 512M)'],
  ] as const) {
    assert.throws(
      () => parse('--max-unpacked', v),
      (e: unknown) => e instanceof CliError && e.exitCode === 64 && e.message === message,
    );
  }
});
