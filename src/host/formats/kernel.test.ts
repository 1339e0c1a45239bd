import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKernelConfig, parseKernelRelease, versionBefore } from './kernel.js';

test('kernel releases and config', () => {
  const k = parseKernelRelease('2.6.32-358.23.2.el6.x86_64')!;
  assert.deepEqual([k.version, k.rhelMajor], [[2, 6, 32], 6]);
  assert.equal(parseKernelRelease('5.14.0-362.8.1.el9_3.x86_64')!.rhelMajor, 9);
  assert.equal(parseKernelRelease('garbage'), null);
  assert.ok(versionBefore([4, 18, 0], [5, 0, 0]));
  const c = parseKernelConfig('CONFIG_MAGIC_SYSRQ=y\nCONFIG_LOG_BUF_SHIFT=17\n# CONFIG_KASAN is not set\nCONFIG_X="a"\n');
  assert.deepEqual(
    [...c],
    [
      ['CONFIG_MAGIC_SYSRQ', 'y'],
      ['CONFIG_LOG_BUF_SHIFT', '17'],
      ['CONFIG_KASAN', 'n'],
      ['CONFIG_X', 'a'],
    ],
  );
});
