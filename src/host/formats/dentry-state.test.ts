import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { INT_MAX, parseDentryState, shrinkerProduct } from './dentry-state.js';

test('dentry-state and the old shrinker overflow arithmetic', () => {
  const d = parseDentryState('1534253\t1490021\t45\t0\t0\t0\n')!;
  assert.equal(d.nrUnused, 1490021);
  assert.equal(parseDentryState('garbage'), null);
  assert.equal(shrinkerProduct(1490021, 100), 1490000);
  // pressure <= 100 can never overflow: floor(n/100)*100 <= n <= INT_MAX
  fc.assert(fc.property(fc.integer({ min: 0, max: INT_MAX }), fc.integer({ min: 1, max: 100 }), (n, p) => shrinkerProduct(n, p) <= INT_MAX));
  assert.ok(shrinkerProduct(21_474_900, 10000) > INT_MAX);
});
