import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareVersions, newestVersion, rpmvercmp } from './versions.js';

test('rpmvercmp: segments, numeric beats alpha, tilde sorts first; antisymmetric', () => {
  assert.equal(rpmvercmp('358.el6', '358.23.2.el6'), -1);
  assert.equal(rpmvercmp('358.23.2.el6', '358.23.2.el6'), 0);
  assert.equal(rpmvercmp('431.el6', '358.23.2.el6'), 1);
  assert.equal(rpmvercmp('1.0~rc1', '1.0'), -1);
  fc.assert(fc.property(fc.string(), fc.string(), (a, b) => rpmvercmp(a, b) === -rpmvercmp(b, a) || (rpmvercmp(a, b) === 0 && rpmvercmp(b, a) === 0)));
});

test('version compare: epoch first, then rpm segments; the newest of a list', () => {
  assert.equal(compareVersions('1:1.0', '2.0', rpmvercmp), 1);
  assert.equal(compareVersions('5.2-1', '5.2-2'), -1);
  assert.equal(compareVersions('4.18.0-513.el8', '4.18.0-513.el8'), 0);
  // A sorted list is sorted as text; the newest is by version (-80 is older than -513).
  assert.equal(newestVersion(['4.18.0-513.el8', '4.18.0-80.el8']), '4.18.0-513.el8');
  assert.equal(newestVersion([]), null);
});
